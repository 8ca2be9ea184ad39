//! Header checks for the binary images in a package: Qualcomm MBN (40-byte v3 header and
//! the 80-byte SBL header), ELF programmers, Android boot images and yaffs2 file systems.
//!
//! Layouts: MBN v3 per `quectel-flows.md` §2.6 (`sbl2_tmp` facts) [C]; the 80-byte SBL
//! header (codeword 0x844BDCD1, magic 0x73D71034) and the yaffs2 object-header check of
//! `quectel-flows.md` §2.10 are [I] and only ever produce notes, never errors.

use serde::Serialize;

/// Size of the classic MBN header.
pub const MBN_HEADER: usize = 40;
/// Size of the SBL-style header.
pub const SBL_HEADER: usize = 80;
const SBL_CODEWORD: u32 = 0x844B_DCD1;
const SBL_MAGIC: u32 = 0x73D7_1034;

fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// A parsed MBN header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MbnHeader {
    /// `mbn40` or `sbl80`.
    pub format: &'static str,
    pub image_id: u32,
    pub load_address: u32,
    /// code + signature + certificate chain.
    pub image_size: u32,
    pub code_size: u32,
    pub signature_size: u32,
    pub cert_chain_size: u32,
    pub header_size: usize,
}

impl MbnHeader {
    /// Check the declared sizes against the file size; `Err` explains the mismatch.
    pub fn check_size(&self, file_size: u64) -> Result<(), String> {
        let want = self.header_size as u64 + u64::from(self.image_size);
        let parts =
            u64::from(self.code_size) + u64::from(self.signature_size) + u64::from(self.cert_chain_size);
        if parts > u64::from(self.image_size) {
            return Err(format!(
                "code+signature+certificates ({parts} bytes) exceed the declared image size ({})",
                self.image_size
            ));
        }
        if want > file_size {
            return Err(format!("header declares {want} bytes but the file holds {file_size}: truncated"));
        }
        Ok(())
    }
}

/// Name of a Qualcomm image id as used in 9x15/9x07 MBN headers ([I] beyond the ids
/// named in `quectel-flows.md` §2.6 and §3.5).
pub fn image_id_name(id: u32) -> &'static str {
    match id {
        5 => "APPSBL",
        7 => "HOSTDL",
        13 => "EHOSTDL",
        21 => "SBL1",
        22 => "SBL2",
        23 => "RPM",
        _ => "unknown",
    }
}

/// Parse an MBN header from the first bytes of a file.
pub fn parse_mbn(head: &[u8]) -> Option<MbnHeader> {
    if le32(head, 0)? == SBL_CODEWORD && le32(head, 4)? == SBL_MAGIC {
        return Some(MbnHeader {
            format: "sbl80",
            image_id: le32(head, 8)?,
            load_address: le32(head, 20)?,
            image_size: le32(head, 24)?,
            code_size: le32(head, 28)?,
            signature_size: le32(head, 36)?,
            cert_chain_size: le32(head, 44)?,
            header_size: SBL_HEADER,
        });
    }
    let h = MbnHeader {
        format: "mbn40",
        image_id: le32(head, 0)?,
        load_address: le32(head, 12)?,
        image_size: le32(head, 16)?,
        code_size: le32(head, 20)?,
        signature_size: le32(head, 28)?,
        cert_chain_size: le32(head, 36)?,
        header_size: MBN_HEADER,
    };
    // header_vsn (offset 4) is 3 in every image of interest; a zero image size or an
    // absurd id means this is not an MBN header.
    if le32(head, 4)? != 3 || h.image_size == 0 || h.image_id > 0x100 {
        return None;
    }
    Some(h)
}

/// Facts about an ELF file (Firehose programmers are ELF on 9x07).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfInfo {
    pub class_bits: u8,
    pub machine: u16,
    pub entry: u64,
    /// Program headers, when the image was checked as a programmer (`package::elf`).
    pub segments: Vec<super::elf::ProgramHeader>,
}

/// Parse the ELF identification and header.
pub fn parse_elf(head: &[u8]) -> Option<ElfInfo> {
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    let class = *head.get(4)?;
    let machine = u16::from_le_bytes(head.get(18..20)?.try_into().ok()?);
    let entry = match class {
        1 => u64::from(le32(head, 24)?),
        2 => u64::from_le_bytes(head.get(24..32)?.try_into().ok()?),
        _ => return None,
    };
    Some(ElfInfo { class_bits: if class == 1 { 32 } else { 64 }, machine, entry, segments: Vec::new() })
}

/// An Android boot image header (v0 layout, which Quectel's LK uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootImage {
    pub kernel_size: u32,
    pub ramdisk_size: u32,
    pub second_size: u32,
    pub page_size: u32,
    pub name: String,
}

impl BootImage {
    /// Bytes the header says the image occupies.
    pub fn declared_len(&self) -> u64 {
        let p = u64::from(self.page_size.max(1));
        let pages = |n: u32| u64::from(n).div_ceil(p);
        p * (1 + pages(self.kernel_size) + pages(self.ramdisk_size) + pages(self.second_size))
    }
}

/// Parse an `ANDROID!` header.
pub fn parse_boot(head: &[u8]) -> Option<BootImage> {
    if head.get(..8)? != b"ANDROID!" {
        return None;
    }
    let name = head.get(48..64)?;
    let name_end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Some(BootImage {
        kernel_size: le32(head, 8)?,
        ramdisk_size: le32(head, 16)?,
        second_size: le32(head, 24)?,
        page_size: le32(head, 36)?,
        name: String::from_utf8_lossy(name.get(..name_end).unwrap_or_default()).into_owned(),
    })
}

/// What a yaffs2 structure check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Yaffs2Info {
    /// Chunk (page) data size guessed from the file length, with its spare size.
    pub chunk: u32,
    pub spare: u32,
    pub first_object_type: u32,
}

/// Recognise a yaffs2 image: the first chunk is an object header with a known object
/// type (1 file, 2 symlink, 3 directory, 4 hardlink, 5 special), parent id 1 (root) and
/// `FF FF` at bytes 8–9, and the file is a whole number of chunk+spare units. [I]
pub fn parse_yaffs2(head: &[u8], file_size: u64) -> Option<Yaffs2Info> {
    let obj_type = le32(head, 0)?;
    let parent = le32(head, 4)?;
    if !(1..=5).contains(&obj_type) || parent != 1 || head.get(8..10)? != [0xff, 0xff] {
        return None;
    }
    let (chunk, spare) =
        [(2048u32, 64u32), (4096, 128), (4096, 256), (512, 16)].into_iter().find(|(c, s)| {
            let unit = u64::from(c + s);
            file_size >= unit && file_size.is_multiple_of(unit)
        })?;
    Some(Yaffs2Info { chunk, spare, first_object_type: obj_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbn(id: u32, load: u32, code: u32) -> Vec<u8> {
        let mut h = Vec::new();
        for v in [id, 3, 0, load, code, code, load + code, 0, load + code, 0] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h
    }

    #[test]
    fn mbn40_like_sbl2_tmp() {
        // quectel-flows.md §2.6: sbl2_tmp image_id 0x16, load 0x40100000, code 0x57678.
        let h = parse_mbn(&mbn(0x16, 0x4010_0000, 0x57678)).unwrap();
        assert_eq!((h.image_id, h.load_address, h.code_size), (0x16, 0x4010_0000, 0x57678));
        assert_eq!(image_id_name(h.image_id), "SBL2");
        assert!(h.check_size(40 + 0x57678).is_ok());
        assert!(h.check_size(1000).unwrap_err().contains("truncated"));
        assert!(parse_mbn(&[0u8; 10]).is_none());
        assert!(parse_mbn(&[0xffu8; 40]).is_none());
    }

    #[test]
    fn sbl80() {
        let mut h = vec![0u8; 80];
        h[0..4].copy_from_slice(&SBL_CODEWORD.to_le_bytes());
        h[4..8].copy_from_slice(&SBL_MAGIC.to_le_bytes());
        h[8..12].copy_from_slice(&21u32.to_le_bytes());
        h[24..28].copy_from_slice(&100u32.to_le_bytes());
        h[28..32].copy_from_slice(&100u32.to_le_bytes());
        let m = parse_mbn(&h).unwrap();
        assert_eq!((m.format, m.image_id, m.header_size), ("sbl80", 21, 80));
        assert!(m.check_size(180).is_ok());
    }

    #[test]
    fn boot_elf_yaffs() {
        let mut b = vec![0u8; 2048];
        b[..8].copy_from_slice(b"ANDROID!");
        b[8..12].copy_from_slice(&5000u32.to_le_bytes());
        b[16..20].copy_from_slice(&100u32.to_le_bytes());
        b[36..40].copy_from_slice(&2048u32.to_le_bytes());
        b[48..52].copy_from_slice(b"test");
        let img = parse_boot(&b).unwrap();
        assert_eq!(img.declared_len(), 2048 * (1 + 3 + 1));
        assert_eq!(img.name, "test");
        assert!(parse_boot(b"ANDROID").is_none());

        let mut e = vec![0u8; 64];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 1;
        e[18] = 40;
        e[24..28].copy_from_slice(&0x8000u32.to_le_bytes());
        assert_eq!(
            parse_elf(&e).unwrap(),
            ElfInfo { class_bits: 32, machine: 40, entry: 0x8000, segments: vec![] }
        );

        let mut y = vec![0u8; 64];
        y[0] = 3;
        y[4] = 1;
        y[8] = 0xff;
        y[9] = 0xff;
        assert_eq!(parse_yaffs2(&y, 2112 * 10).unwrap().chunk, 2048);
        assert!(parse_yaffs2(&y, 2112 * 10 + 1).is_none());
        y[4] = 2;
        assert!(parse_yaffs2(&y, 2112 * 10).is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..128), size in 0u64..1_000_000) {
            let _ = parse_mbn(&data).map(|h| h.check_size(size));
            let _ = parse_elf(&data);
            let _ = parse_boot(&data).map(|b| b.declared_len());
            let _ = parse_yaffs2(&data, size);
        }
    }
}
