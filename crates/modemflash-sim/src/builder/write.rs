//! Streaming file writers for the builder: deterministic pseudo-random payloads behind a
//! header, never held whole in memory.

// Indexing below is into fixed-size header buffers built right here, never into input.
#![allow(clippy::indexing_slicing)]

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

/// xorshift64* — fast, deterministic, good enough to defeat compression.
#[derive(Debug, Clone)]
pub(crate) struct Prng(u64);

impl Prng {
    pub(crate) fn new(seed: u64) -> Self {
        Prng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(v) {
                *d = s;
            }
        }
    }
}

/// Seed derived from a name, so each file differs but runs repeat.
pub(crate) fn seed_of(name: &str, seed: u64) -> u64 {
    name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Write `header` then pseudo-random bytes up to `size` in total.
pub(crate) fn write_file(path: &Path, header: &[u8], size: u64, seed: u64) -> io::Result<u64> {
    write_file_with(path, header, size, seed, None)
}

/// [`write_file`], with `insert.1` written over the bytes at offset `insert.0`.
pub(crate) fn write_file_with(
    path: &Path,
    header: &[u8],
    size: u64,
    seed: u64,
    insert: Option<(u64, &[u8])>,
) -> io::Result<u64> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let head_len = (header.len() as u64).min(size);
    out.write_all(header.get(..head_len as usize).unwrap_or_default())?;
    let mut rng = Prng::new(seed);
    let mut left = size - head_len;
    let mut pos = head_len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        let chunk = buf.get_mut(..n).unwrap_or_default();
        rng.fill(chunk);
        if let Some((at, bytes)) = insert {
            for (i, b) in bytes.iter().enumerate() {
                let abs = at + i as u64;
                if abs >= pos && abs < pos + n as u64 {
                    chunk[(abs - pos) as usize] = *b;
                }
            }
        }
        out.write_all(chunk)?;
        left -= n as u64;
        pos += n as u64;
    }
    out.flush()?;
    Ok(size)
}

/// Write text.
pub(crate) fn write_text(path: &Path, text: &str) -> io::Result<u64> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, text)?;
    Ok(text.len() as u64)
}

/// Zip a directory tree (deflate), with paths relative to `dir`.
pub fn zip_dir(dir: &Path, zip_path: &Path) -> io::Result<()> {
    let file = File::create(zip_path)?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut stack = vec![dir.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut buf = vec![0u8; 1 << 20];
    for p in files {
        let rel = p.strip_prefix(dir).map_err(io::Error::other)?;
        let name = rel.to_string_lossy().replace('\\', "/");
        zip.start_file(name, opts).map_err(io::Error::other)?;
        let mut f = File::open(&p)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            zip.write_all(buf.get(..n).unwrap_or_default())?;
        }
    }
    zip.finish().map_err(io::Error::other)?.flush()
}

/// A 40-byte MBN v3 header for `code` bytes of body.
pub(crate) fn mbn_header(image_id: u32, load: u32, code: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(40);
    for v in [image_id, 3, 0, load, code, code, load.wrapping_add(code), 0, load.wrapping_add(code), 0] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h
}

/// An Android boot image header (v0), page size 2048, with `cmdline`.
pub(crate) fn boot_header(kernel: u32, ramdisk: u32, name: &str, cmdline: &str) -> Vec<u8> {
    let mut h = vec![0u8; 2048];
    let mut put = |off: usize, v: u32| {
        if let Some(s) = h.get_mut(off..off + 4) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    };
    put(8, kernel);
    put(12, 0x4020_8000);
    put(16, ramdisk);
    put(20, 0x4140_0000);
    put(24, 0);
    put(32, 0x4020_0100);
    put(36, 2048);
    if let Some(s) = h.get_mut(..8) {
        s.copy_from_slice(b"ANDROID!");
    }
    for (d, s) in h.iter_mut().skip(48).take(15).zip(name.bytes()) {
        *d = s;
    }
    for (d, s) in h.iter_mut().skip(64).take(511).zip(cmdline.bytes()) {
        *d = s;
    }
    h
}

/// Bytes a boot image with these sizes occupies (page 2048).
pub(crate) fn boot_len(kernel: u32, ramdisk: u32) -> u64 {
    2048 * (1 + u64::from(kernel).div_ceil(2048) + u64::from(ramdisk).div_ceil(2048))
}

/// First object header of a yaffs2 image: a directory whose parent is the root.
pub(crate) fn yaffs2_header() -> Vec<u8> {
    let mut h = vec![0xffu8; 2048 + 64];
    h[..4].copy_from_slice(&3u32.to_le_bytes());
    h[4..8].copy_from_slice(&1u32.to_le_bytes());
    h[8] = 0xff;
    h[9] = 0xff;
    for (d, s) in h.iter_mut().skip(10).take(255).zip(b"lost+found\0".iter()) {
        *d = *s;
    }
    h
}

/// ELF32 header size.
pub(crate) const ELF32_EHDR: usize = modemflash::package::elf::EHDR_LEN;
/// ELF32 program header size.
pub(crate) const ELF32_PHDR: usize = modemflash::package::elf::PHDR_LEN;
/// Where the builder's programmer keeps its hash segment and its code, and the hash
/// segment's size: the layout of the 2021 EG25-G programmer (docs/facts/sahara.md:
/// NULL(0,0x94) · hash(0x1000,0x88) · LOAD(0x2000,…)) [C for that programmer].
pub(crate) const ELF_HASH_AT: u32 = 0x1000;
pub(crate) const ELF_HASH_LEN: u32 = 0x88;
pub(crate) const ELF_LOAD_AT: u32 = 0x2000;

/// An ELF32 header for an ARM programmer of `file_size` bytes (at least 8 KiB) with the
/// three program headers real 9x07 programmers have: a NULL segment over the headers
/// (Qualcomm type 7), the hash segment (Qualcomm type 2) and one `PT_LOAD` over the rest
/// of the file from 0x2000, loaded at `entry`.
pub(crate) fn elf32_arm_header(entry: u32, file_size: u64) -> Vec<u8> {
    let headers = (ELF32_EHDR + 3 * ELF32_PHDR) as u32;
    let load = u32::try_from(file_size).unwrap_or(u32::MAX).saturating_sub(ELF_LOAD_AT);
    let mut h = vec![0u8; ELF32_EHDR + 3 * ELF32_PHDR];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 1; // 32-bit
    h[5] = 1; // little-endian
    h[6] = 1; // version
    h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h[18..20].copy_from_slice(&40u16.to_le_bytes()); // EM_ARM
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[24..28].copy_from_slice(&entry.to_le_bytes());
    h[28..32].copy_from_slice(&(ELF32_EHDR as u32).to_le_bytes()); // e_phoff
    h[40..42].copy_from_slice(&(ELF32_EHDR as u16).to_le_bytes()); // e_ehsize
    h[42..44].copy_from_slice(&(ELF32_PHDR as u16).to_le_bytes()); // e_phentsize
    h[44..46].copy_from_slice(&3u16.to_le_bytes()); // e_phnum
    // p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
    let phdrs: [[u32; 8]; 3] = [
        [0, 0, 0, 0, headers, 0, 0x0700_0000, 0],
        [0, ELF_HASH_AT, 0, 0, ELF_HASH_LEN, 0x1000, 0x0220_0000, 0x1000],
        [1, ELF_LOAD_AT, entry, entry, load, load, 5, 0x1000],
    ];
    for (i, ph) in phdrs.iter().enumerate() {
        for (j, v) in ph.iter().enumerate() {
            let at = ELF32_EHDR + ELF32_PHDR * i + 4 * j;
            h[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_header_has_the_real_programmer_shape() {
        let mut f = elf32_arm_header(0x0800_0000, 300 * 1024);
        assert_eq!(f.len(), 148);
        f.resize(300 * 1024, 0);
        let p = modemflash::package::elf::check(&f[..52], f.len() as u64, &mut |at, n| {
            Ok(f[at as usize..at as usize + n].to_vec())
        })
        .unwrap();
        assert_eq!(p.segments.len(), 3);
        assert!(p.segments[1].is_hash());
        assert_eq!(p.load_bytes, 0x88 + 300 * 1024 - 0x2000);
    }
}
