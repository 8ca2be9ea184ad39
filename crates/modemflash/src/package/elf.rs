//! ELF32 programmers as a boot ROM loads them over Sahara (docs/facts/sahara.md): the
//! 52-byte ELF header, then `e_phnum` program headers of 32 bytes, then every loadable
//! segment — `PT_LOAD`, and the Qualcomm hash segment — from the file offsets the
//! headers give. A programmer whose headers the ROM cannot follow ends the transfer with
//! a Sahara error, so `inspect` checks the same things first, and the virtual EC25's boot
//! ROM uses this parser too.
//!
//! The hash segment is a `PT_NULL` header whose `p_flags` carry the Qualcomm segment type
//! `2` in bits 24..26 (mask `0x0700_0000`, value `0x0200_0000`); every 9x07 programmer on
//! record has one, between a NULL header segment and one `PT_LOAD` [confirmed for three
//! EG25-G programmers]. That the ROM refuses an image without it ("hash table not found")
//! is inferred [I].

use serde::Serialize;

/// ELF32 header length: the ROM's first read.
pub const EHDR_LEN: usize = 52;
/// ELF32 program header length; anything else is refused.
pub const PHDR_LEN: usize = 32;
/// Most program headers accepted (the real 9x07 programmers have 3) [I: the ROM's limit
/// is not known].
pub const MAX_PHNUM: u16 = 64;
/// Most bytes loaded from one image (the real programmers are ~130 KiB) [I].
pub const MAX_LOAD_BYTES: u64 = 8 << 20;
/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// Mask and value of the Qualcomm segment type in `p_flags`.
pub const QC_TYPE_MASK: u32 = 0x0700_0000;
pub const QC_TYPE_HASH: u32 = 0x0200_0000;

/// What is wrong with an ELF image, in the order a boot ROM meets it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF32 little-endian image (magic, class, byte order or version)")]
    NotElf32,
    #[error("e_phentsize is {0}, not 32: the boot ROM reads program headers of 32 bytes")]
    PhentSize(u16),
    #[error("e_phnum is {0}: a loadable image has 1 to {MAX_PHNUM} program headers")]
    PhNum(u16),
    #[error(
        "the program headers (offset {phoff:#x}, {len} bytes) lie outside the file ({file_size} bytes) or inside the ELF header"
    )]
    PhdrsOutside { phoff: u32, len: u64, file_size: u64 },
    #[error(
        "segment {index} (offset {offset:#x}, {filesz:#x} bytes) lies outside the file ({file_size} bytes)"
    )]
    SegmentOutside { index: usize, offset: u32, filesz: u32, file_size: u64 },
    #[error("the loadable segments add up to {0} bytes, over the {MAX_LOAD_BYTES}-byte limit")]
    TooLarge(u64),
    #[error("no PT_LOAD segment with data: nothing to run")]
    NoLoad,
    #[error(
        "no hash segment (PT_NULL with Qualcomm segment type 2 in p_flags): the boot ROM would report 'hash table not found'"
    )]
    NoHash,
}

/// The ELF32 header fields the ROM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Elf32Header {
    pub machine: u16,
    pub entry: u32,
    pub phoff: u32,
    pub phnum: u16,
}

/// One program header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProgramHeader {
    pub p_type: u32,
    pub offset: u32,
    pub vaddr: u32,
    pub filesz: u32,
    pub memsz: u32,
    pub flags: u32,
}

impl ProgramHeader {
    /// The Qualcomm hash segment.
    pub fn is_hash(&self) -> bool {
        self.p_type == 0 && self.flags & QC_TYPE_MASK == QC_TYPE_HASH
    }

    /// Loaded by the ROM: `PT_LOAD` or the hash segment, with data.
    pub fn is_loaded(&self) -> bool {
        (self.p_type == PT_LOAD || self.is_hash()) && self.filesz > 0
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Check the ELF32 header (the first 52 bytes).
pub fn parse_header(h: &[u8]) -> Result<Elf32Header, ElfError> {
    if h.len() < EHDR_LEN || h.get(..7) != Some(b"\x7fELF\x01\x01\x01".as_slice()) {
        return Err(ElfError::NotElf32);
    }
    let field = |v: Option<u32>| v.ok_or(ElfError::NotElf32);
    let phentsize = le16(h, 42).ok_or(ElfError::NotElf32)?;
    let phnum = le16(h, 44).ok_or(ElfError::NotElf32)?;
    if usize::from(phentsize) != PHDR_LEN {
        return Err(ElfError::PhentSize(phentsize));
    }
    if phnum == 0 || phnum > MAX_PHNUM {
        return Err(ElfError::PhNum(phnum));
    }
    let phoff = field(le32(h, 28))?;
    let len = u64::from(phnum) * PHDR_LEN as u64;
    if (phoff as usize) < EHDR_LEN || u64::from(phoff) + len > MAX_LOAD_BYTES {
        return Err(ElfError::PhdrsOutside { phoff, len, file_size: MAX_LOAD_BYTES });
    }
    Ok(Elf32Header { machine: le16(h, 18).unwrap_or(0), entry: field(le32(h, 24))?, phoff, phnum })
}

/// The program headers in `bytes` (whole 32-byte entries only).
pub fn parse_phdrs(bytes: &[u8]) -> Vec<ProgramHeader> {
    bytes
        .chunks_exact(PHDR_LEN)
        .map(|p| ProgramHeader {
            p_type: le32(p, 0).unwrap_or(0),
            offset: le32(p, 4).unwrap_or(0),
            vaddr: le32(p, 8).unwrap_or(0),
            filesz: le32(p, 16).unwrap_or(0),
            memsz: le32(p, 20).unwrap_or(0),
            flags: le32(p, 24).unwrap_or(0),
        })
        .collect()
}

/// The reads that load `phdrs`' segments: every loaded segment in header order, in pieces
/// of at most `chunk` bytes that never cross a segment's end (docs/facts/sahara.md).
pub fn load_plan(phdrs: &[ProgramHeader], chunk: u32) -> Result<Vec<(u32, u32)>, ElfError> {
    let chunk = chunk.max(1);
    let mut plan = Vec::new();
    let mut total = 0u64;
    for (index, ph) in phdrs.iter().enumerate().filter(|(_, p)| p.is_loaded()) {
        let end = ph.offset.checked_add(ph.filesz).ok_or(ElfError::SegmentOutside {
            index,
            offset: ph.offset,
            filesz: ph.filesz,
            file_size: u64::from(u32::MAX),
        })?;
        total += u64::from(ph.filesz);
        if total > MAX_LOAD_BYTES {
            return Err(ElfError::TooLarge(total));
        }
        let mut at = ph.offset;
        while at < end {
            let n = chunk.min(end - at);
            plan.push((at, n));
            at += n;
        }
    }
    if plan.is_empty() {
        return Err(ElfError::NoLoad);
    }
    Ok(plan)
}

/// What `inspect` learns from a programmer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfProgram {
    pub header: Elf32Header,
    pub segments: Vec<ProgramHeader>,
    /// Bytes the ROM loads.
    pub load_bytes: u64,
}

/// The whole check, as the ROM would meet it: header, program headers inside the file,
/// every loaded segment inside the file, a `PT_LOAD` and a hash segment. `read_at` reads
/// `len` bytes at an offset of the file (`file_size` bytes long).
pub fn check(
    head: &[u8],
    file_size: u64,
    read_at: &mut dyn FnMut(u64, usize) -> std::io::Result<Vec<u8>>,
) -> Result<ElfProgram, ElfError> {
    let header = parse_header(head)?;
    let len = u64::from(header.phnum) * PHDR_LEN as u64;
    if u64::from(header.phoff) + len > file_size {
        return Err(ElfError::PhdrsOutside { phoff: header.phoff, len, file_size });
    }
    let bytes = read_at(u64::from(header.phoff), len as usize).map_err(|_| ElfError::PhdrsOutside {
        phoff: header.phoff,
        len,
        file_size,
    })?;
    let segments = parse_phdrs(&bytes);
    for (index, ph) in segments.iter().enumerate().filter(|(_, p)| p.is_loaded()) {
        if u64::from(ph.offset) + u64::from(ph.filesz) > file_size {
            return Err(ElfError::SegmentOutside { index, offset: ph.offset, filesz: ph.filesz, file_size });
        }
    }
    let plan = load_plan(&segments, u32::MAX)?;
    if !segments.iter().any(|p| p.p_type == PT_LOAD && p.filesz > 0) {
        return Err(ElfError::NoLoad);
    }
    if !segments.iter().any(ProgramHeader::is_hash) {
        return Err(ElfError::NoHash);
    }
    let load_bytes = plan.iter().map(|(_, n)| u64::from(*n)).sum();
    Ok(ElfProgram { header, segments, load_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like the 2021 EG25-G programmer: NULL(0,0x94), hash(0x1000,0x88),
    /// LOAD(0x2000,0x1d578), 128,376 bytes.
    fn eg25_2021() -> Vec<u8> {
        let mut f = vec![0u8; 128_376];
        f[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
        f[18] = 40;
        f[24..28].copy_from_slice(&0x0800_5800u32.to_le_bytes());
        f[28..32].copy_from_slice(&52u32.to_le_bytes());
        f[42..44].copy_from_slice(&32u16.to_le_bytes());
        f[44..46].copy_from_slice(&3u16.to_le_bytes());
        let phdrs: [[u32; 8]; 3] = [
            [0, 0, 0, 0, 0x94, 0, 0x0700_0000, 0],
            [0, 0x1000, 0, 0, 0x88, 0x1000, 0x0220_0000, 0x1000],
            [1, 0x2000, 0x0800_5800, 0x0800_5800, 0x1d578, 0x1d578, 5, 0x1000],
        ];
        for (i, ph) in phdrs.iter().enumerate() {
            for (j, v) in ph.iter().enumerate() {
                let at = 52 + 32 * i + 4 * j;
                f[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        f
    }

    fn run(f: &[u8]) -> Result<ElfProgram, ElfError> {
        let size = f.len() as u64;
        check(&f[..52.min(f.len())], size, &mut |at, n| {
            let at = usize::try_from(at).unwrap();
            Ok(f.get(at..at + n).map(<[u8]>::to_vec).unwrap_or_default())
        })
    }

    #[test]
    fn real_shape_passes() {
        let p = run(&eg25_2021()).unwrap();
        assert_eq!((p.header.entry, p.header.phnum, p.segments.len()), (0x0800_5800, 3, 3));
        assert_eq!(p.load_bytes, 0x88 + 0x1d578);
        assert!(p.segments[1].is_hash() && !p.segments[0].is_hash());
    }

    #[test]
    fn junk_program_headers_are_refused_with_a_reason() {
        let good = eg25_2021();
        let mut f = good.clone();
        f[42] = 56;
        assert_eq!(run(&f).unwrap_err(), ElfError::PhentSize(56));
        let mut f = good.clone();
        f[44..46].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(run(&f).unwrap_err(), ElfError::PhNum(0));
        f[44..46].copy_from_slice(&500u16.to_le_bytes());
        assert_eq!(run(&f).unwrap_err(), ElfError::PhNum(500));
        let mut f = good.clone();
        f[28..32].copy_from_slice(&200_000u32.to_le_bytes());
        assert!(matches!(run(&f).unwrap_err(), ElfError::PhdrsOutside { .. }));
        let mut f = good.clone();
        // LOAD's p_filesz past the end of the file.
        f[52 + 64 + 16..52 + 64 + 20].copy_from_slice(&0x0010_0000u32.to_le_bytes());
        assert!(matches!(run(&f).unwrap_err(), ElfError::SegmentOutside { index: 2, .. }));
        let mut f = good.clone();
        // The hash segment's type bits cleared.
        f[52 + 32 + 24..52 + 32 + 28].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(run(&f).unwrap_err(), ElfError::NoHash);
        let mut f = good.clone();
        f[52 + 64..52 + 68].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(run(&f).unwrap_err(), ElfError::NoLoad);
        let mut f = good;
        f[4] = 2;
        assert_eq!(run(&f).unwrap_err(), ElfError::NotElf32);
        assert_eq!(run(&[0x7f, b'E']).unwrap_err(), ElfError::NotElf32);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = run(&data);
            let _ = load_plan(&parse_phdrs(&data), 7);
        }
    }
}
