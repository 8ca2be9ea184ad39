//! The bytes the virtual NAND holds, so that reads return what was written (backup,
//! restore). [`crate::nand::Nand`] keeps each partition's length, hash and head; this
//! store keeps the contents: in memory while a partition stays small
//! ([`MEMORY_LIMIT`]), in a sparse file in a private temporary folder past that, so a
//! 512 MiB NAND with a few images costs the bytes written, not 512 MiB.
//!
//! Bytes never written since the last erase read as `0xFF`, as erased NAND does
//! [confirmed: NAND semantics, docs/facts/firehose.md]. Writing again without an erase
//! overwrites (a real NAND would AND the bits); every flow here erases first.
//! [inferred] the simulator does not model bad blocks or spare areas: a read returns the
//! bytes of the page asked for.
//!
//! Not persisted across processes: the state file keeps hashes and heads; a restarted
//! virtual module reads the heads it kept and `0xFF` past them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Canonical partition name: no `0:` prefix, lower-case (`crate::nand` uses it too).
pub fn canonical(name: &str) -> String {
    name.strip_prefix("0:").unwrap_or(name).to_ascii_lowercase()
}

/// Partitions whose writes stay below this many bytes are kept in memory. [inferred] a
/// choice of the simulator, not a device property.
pub const MEMORY_LIMIT: u64 = 1 << 20;

/// The store shared by a module's endpoints and its partition writers.
pub type SharedData = Arc<Mutex<NandData>>;

#[derive(Debug)]
enum Backing {
    Memory(Vec<u8>),
    File(File),
}

/// One partition's bytes and which ranges of it were written.
#[derive(Debug)]
struct Region {
    backing: Backing,
    /// Sorted, disjoint, non-adjacent `[start, end)` byte ranges.
    written: Vec<(u64, u64)>,
}

impl Region {
    fn len(&self) -> u64 {
        self.written.last().map_or(0, |r| r.1)
    }

    fn mark(&mut self, start: u64, end: u64) {
        let mut s = start;
        let mut e = end;
        let mut kept = Vec::with_capacity(self.written.len() + 1);
        for &(a, b) in &self.written {
            if b < s || a > e {
                kept.push((a, b));
            } else {
                s = s.min(a);
                e = e.max(b);
            }
        }
        kept.push((s, e));
        kept.sort_unstable();
        self.written = kept;
    }
}

/// Every partition's bytes.
#[derive(Debug, Default)]
pub struct NandData {
    parts: BTreeMap<String, Region>,
    /// Created on the first spill to a file; removed on drop.
    dir: Option<PathBuf>,
    files: u64,
}

impl Drop for NandData {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn new_dir() -> std::io::Result<PathBuf> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("modemflash-sim-nand-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl NandData {
    /// A fresh shared store.
    pub fn shared() -> SharedData {
        Arc::new(Mutex::new(NandData::default()))
    }

    /// Forget a partition's bytes (it reads `0xFF` again).
    pub fn erase(&mut self, name: &str) {
        self.parts.remove(&canonical(name));
    }

    /// Whether anything is stored for the partition.
    pub fn has(&self, name: &str) -> bool {
        self.parts.contains_key(&canonical(name))
    }

    /// Bytes up to the end of the last write.
    pub fn len(&self, name: &str) -> u64 {
        self.parts.get(&canonical(name)).map_or(0, Region::len)
    }

    fn spill(&mut self, name: &str, mem: &[u8]) -> std::io::Result<File> {
        let dir = if let Some(d) = &self.dir {
            d.clone()
        } else {
            let d = new_dir()?;
            self.dir = Some(d.clone());
            d
        };
        self.files += 1;
        let safe: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(40).collect();
        let path = dir.join(format!("{}-{safe}.bin", self.files));
        let mut f =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        f.write_all(mem)?;
        Ok(f)
    }

    /// Write `data` at byte `offset` of the partition.
    pub fn write(&mut self, name: &str, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let key = canonical(name);
        let end = offset.saturating_add(data.len() as u64);
        let region = self
            .parts
            .entry(key.clone())
            .or_insert_with(|| Region { backing: Backing::Memory(Vec::new()), written: Vec::new() });
        if let Backing::Memory(mem) = &region.backing
            && end > MEMORY_LIMIT
        {
            let mem = mem.clone();
            let file = self.spill(&key, &mem)?;
            if let Some(r) = self.parts.get_mut(&key) {
                r.backing = Backing::File(file);
            }
        }
        let Some(region) = self.parts.get_mut(&key) else { return Ok(()) };
        match &mut region.backing {
            Backing::Memory(mem) => {
                let (Ok(at), Ok(stop)) = (usize::try_from(offset), usize::try_from(end)) else {
                    return Ok(());
                };
                if mem.len() < stop {
                    mem.resize(stop, 0xff);
                }
                if let Some(dst) = mem.get_mut(at..stop) {
                    dst.copy_from_slice(data);
                }
            }
            Backing::File(f) => {
                f.seek(SeekFrom::Start(offset))?;
                f.write_all(data)?;
            }
        }
        if end > offset {
            region.mark(offset, end);
        }
        Ok(())
    }

    /// Fill `buf` with the bytes at `offset` of the partition (`0xFF` where none were
    /// written).
    pub fn read(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        buf.fill(0xff);
        let Some(region) = self.parts.get_mut(&canonical(name)) else { return Ok(()) };
        let end = offset.saturating_add(buf.len() as u64);
        for &(a, b) in &region.written {
            let (s, e) = (a.max(offset), b.min(end));
            if s >= e {
                continue;
            }
            let (Ok(d0), Ok(d1)) = (usize::try_from(s - offset), usize::try_from(e - offset)) else {
                continue;
            };
            let Some(dst) = buf.get_mut(d0..d1) else { continue };
            match &mut region.backing {
                Backing::Memory(mem) => {
                    let (Ok(m0), Ok(m1)) = (usize::try_from(s), usize::try_from(e)) else { continue };
                    if let Some(src) = mem.get(m0..m1) {
                        dst.copy_from_slice(src);
                    }
                }
                Backing::File(f) => {
                    f.seek(SeekFrom::Start(s))?;
                    f.read_exact(dst)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_return_what_was_written_and_ff_elsewhere() {
        let mut d = NandData::default();
        d.write("0:SBL", 4, b"abcd").unwrap();
        let mut buf = [0u8; 10];
        d.read("sbl", 0, &mut buf).unwrap();
        assert_eq!(&buf, b"\xff\xff\xff\xffabcd\xff\xff");
        assert_eq!(d.len("sbl"), 8);
        d.erase("SBL");
        d.read("sbl", 0, &mut buf).unwrap();
        assert_eq!(buf, [0xff; 10]);
    }

    #[test]
    fn large_partitions_spill_to_a_sparse_file_that_is_removed() {
        let mut d = NandData::default();
        d.write("system", 0, b"head").unwrap();
        let far = 64 << 20;
        d.write("system", far, b"tail").unwrap();
        assert!(d.dir.is_some());
        let dir = d.dir.clone().unwrap();
        let mut buf = [0u8; 6];
        d.read("system", 0, &mut buf).unwrap();
        assert_eq!(&buf, b"head\xff\xff");
        d.read("system", far - 2, &mut buf).unwrap();
        assert_eq!(&buf, b"\xff\xfftail");
        assert_eq!(d.len("system"), far + 4);
        drop(d);
        assert!(!dir.exists());
    }

    #[test]
    fn ranges_merge() {
        let mut r = Region { backing: Backing::Memory(Vec::new()), written: vec![] };
        r.mark(10, 20);
        r.mark(0, 5);
        r.mark(5, 10);
        r.mark(30, 40);
        assert_eq!(r.written, vec![(0, 20), (30, 40)]);
    }
}
