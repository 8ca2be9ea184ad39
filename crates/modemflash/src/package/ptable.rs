//! NAND "user" partition tables `partition.mbn` / `partition2.mbn`
//! (`protocols.md` §3.7, `quectel-flows.md` §2.10).
//!
//! Header: magic1 0xAA7D1B9A, magic2 0x1F7D48BC, version, partition count (LE32 each)
//! [C]. Entries are 28 bytes: name[16], then — by the layout of `partition_nand.xml`,
//! which the table is built from — size (LE32), padding (LE16), which_flash (LE16) and
//! four attribute bytes. The entry layout past the name is inferred [I]; sizes are shown
//! in the table's own units (KiB for version 4 tables, per `partition_nand.xml` [I]).

use serde::Serialize;

pub const USR_MAGIC1: u32 = 0xAA7D_1B9A;
pub const USR_MAGIC2: u32 = 0x1F7D_48BC;
/// The "system" (MIBIB) table read back from flash, recognised to give a precise error.
pub const SYS_MAGIC1: u32 = 0x55EE_73AA;
const HEADER: usize = 16;
const ENTRY: usize = 28;
/// More entries than this is corruption (real tables hold 10–30).
pub const MAX_ENTRIES: u32 = 128;
/// Size value meaning "grow to the end of the flash".
pub const GROW: u32 = 0xFFFF_FFFF;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PtableError {
    #[error("{len} bytes is too short for a partition table header (16 bytes)")]
    Short { len: usize },
    #[error(
        "bad magic {magic1:#010x} {magic2:#010x}: expected {USR_MAGIC1:#010x} {USR_MAGIC2:#010x} (a NAND user partition table)"
    )]
    BadMagic { magic1: u32, magic2: u32 },
    #[error("this is a system (MIBIB) table read back from flash, not the user table the programmer expects")]
    SystemTable,
    #[error("declares {count} partitions (at most {MAX_ENTRIES} accepted)")]
    TooMany { count: u32 },
    #[error("declares {count} partitions but only {have} bytes of entries follow ({need} needed)")]
    Truncated { count: u32, have: usize, need: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionEntry {
    /// As stored, e.g. `0:SBL1`.
    pub name: String,
    /// Start, accumulated from the sizes and paddings before it.
    pub start: u64,
    /// Size (`None` for "grow to the end").
    pub length: Option<u32>,
    pub padding: u16,
    pub which_flash: u16,
    pub attributes: [u8; 4],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionTable {
    pub version: u32,
    pub entries: Vec<PartitionEntry>,
}

impl PartitionTable {
    /// Find an entry by name, with or without the `0:` prefix, ignoring case.
    pub fn find(&self, name: &str) -> Option<&PartitionEntry> {
        let want = name.strip_prefix("0:").unwrap_or(name);
        self.entries.iter().find(|e| e.name.strip_prefix("0:").unwrap_or(&e.name).eq_ignore_ascii_case(want))
    }
}

fn le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4).and_then(|s| s.try_into().ok()).map_or(0, u32::from_le_bytes)
}
fn le16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2).and_then(|s| s.try_into().ok()).map_or(0, u16::from_le_bytes)
}

/// Parse a user partition table.
pub fn parse(data: &[u8]) -> Result<PartitionTable, PtableError> {
    if data.len() < HEADER {
        return Err(PtableError::Short { len: data.len() });
    }
    let (magic1, magic2) = (le32(data, 0), le32(data, 4));
    if magic1 == SYS_MAGIC1 {
        return Err(PtableError::SystemTable);
    }
    if magic1 != USR_MAGIC1 || magic2 != USR_MAGIC2 {
        return Err(PtableError::BadMagic { magic1, magic2 });
    }
    let version = le32(data, 8);
    let count = le32(data, 12);
    if count > MAX_ENTRIES {
        return Err(PtableError::TooMany { count });
    }
    let need = count as usize * ENTRY;
    let body = data.get(HEADER..).unwrap_or_default();
    if body.len() < need {
        return Err(PtableError::Truncated { count, have: body.len(), need });
    }
    let mut start = 0u64;
    let mut entries = Vec::with_capacity(count as usize);
    for e in body.chunks_exact(ENTRY).take(count as usize) {
        let raw_name = e.get(..16).unwrap_or_default();
        let end = raw_name.iter().position(|&b| b == 0).unwrap_or(raw_name.len());
        let name = String::from_utf8_lossy(raw_name.get(..end).unwrap_or_default()).into_owned();
        let size = le32(e, 16);
        let padding = le16(e, 20);
        let which_flash = le16(e, 22);
        let attributes = [
            e.get(24).copied().unwrap_or(0),
            e.get(25).copied().unwrap_or(0),
            e.get(26).copied().unwrap_or(0),
            e.get(27).copied().unwrap_or(0),
        ];
        let length = (size != GROW).then_some(size);
        entries.push(PartitionEntry { name, start, length, padding, which_flash, attributes });
        start = start.saturating_add(u64::from(length.unwrap_or(0))).saturating_add(u64::from(padding));
    }
    Ok(PartitionTable { version, entries })
}

/// Encode a table (used by the package builder and the simulator's tests).
pub fn encode(version: u32, entries: &[(&str, u32, u16, [u8; 4])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + entries.len() * ENTRY);
    for v in [USR_MAGIC1, USR_MAGIC2, version, entries.len() as u32] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (name, size, pad, attrs) in entries {
        let mut n = [0u8; 16];
        for (d, s) in n.iter_mut().zip(name.bytes()) {
            *d = s;
        }
        out.extend_from_slice(&n);
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&pad.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(attrs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = encode(
            4,
            &[
                ("0:SBL1", 1280, 0, [0xff, 1, 0, 0xff]),
                ("0:MIBIB", 1280, 0, [0xff; 4]),
                ("0:SYSTEM", GROW, 0, [0xff; 4]),
            ],
        );
        let p = parse(&t).unwrap();
        assert_eq!(p.version, 4);
        assert_eq!(p.entries.len(), 3);
        assert_eq!(p.entries[1].start, 1280);
        assert_eq!(p.entries[2].length, None);
        assert_eq!(p.find("sbl1").unwrap().attributes, [0xff, 1, 0, 0xff]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&[0; 4]), Err(PtableError::Short { len: 4 }));
        let mut t = encode(4, &[("0:SBL1", 1, 0, [0; 4])]);
        assert!(matches!(parse(&t[..20]), Err(PtableError::Truncated { count: 1, .. })));
        t[0] = 0;
        assert!(matches!(parse(&t), Err(PtableError::BadMagic { .. })));
        t[..4].copy_from_slice(&SYS_MAGIC1.to_le_bytes());
        assert_eq!(parse(&t), Err(PtableError::SystemTable));
        let mut t = encode(4, &[]);
        t[12..16].copy_from_slice(&5000u32.to_le_bytes());
        assert_eq!(parse(&t), Err(PtableError::TooMany { count: 5000 }));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(mut data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if data.len() >= 8 {
                data[..4].copy_from_slice(&USR_MAGIC1.to_le_bytes());
                data[4..8].copy_from_slice(&USR_MAGIC2.to_le_bytes());
            }
            let _ = parse(&data);
        }
    }
}
