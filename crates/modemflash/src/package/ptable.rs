//! NAND "user" partition tables `partition.mbn` / `partition2.mbn`
//! (`protocols.md` §3.7, `quectel-flows.md` §2.10).
//!
//! Header: magic1 0xAA7D1B9A, magic2 0x1F7D48BC, version, partition count (LE32 each)
//! [C]. Entries are 28 bytes: name[16], then — by the layout of `partition_nand.xml`,
//! which the table is built from — size (LE32), padding (LE16), which_flash (LE16) and
//! four attribute bytes. The entry layout past the name is inferred [I].
//!
//! Units: `partition_nand.xml` names the fields `size_blks` and `pad_blks`, and the table a
//! real EC20 R1 accepted from QFlash (docs/facts/field-evidence.md, the PARTITION_TABLE frame:
//! version 3, first entry `0:MIBIB` size 6 padding 4) only makes sense in erase blocks: a
//! 6 KiB MIBIB cannot exist on a NAND with 128 KiB blocks. So sizes count blocks [I,
//! strong]. The unit per table version and the NAND geometry are data ([`TableUnits`],
//! [`NandGeometry`]) so a corrected fact is a one-line change.

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

/// NAND geometry: what one block of a partition table is in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NandGeometry {
    /// Page (program unit) size in bytes.
    pub page_bytes: u32,
    /// Pages per erase block.
    pub pages_per_block: u32,
}

impl NandGeometry {
    /// The EC20 R1 (MDM9615) NAND: 2 KiB pages, 64 pages per block = 128 KiB blocks [I]:
    /// every yaffs2 image of the field package is a whole number of 2048+64-byte chunks
    /// (docs/facts/field-evidence.md, package listing), and 64 pages per block is the
    /// usual geometry of such parts.
    pub const MDM9615: NandGeometry = NandGeometry { page_bytes: 2048, pages_per_block: 64 };

    /// Bytes in one erase block.
    pub fn block_bytes(self) -> u64 {
        u64::from(self.page_bytes) * u64::from(self.pages_per_block)
    }
}

/// What the size and padding fields of a table count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SizeUnit {
    /// Erase blocks of the NAND geometry.
    Blocks,
    /// KiB (what earlier code assumed for every version; kept for configurations).
    Kib,
}

impl SizeUnit {
    /// Plural name for people: `blocks`, `KiB`.
    pub fn name(self) -> &'static str {
        match self {
            SizeUnit::Blocks => "blocks",
            SizeUnit::Kib => "KiB",
        }
    }
}

/// Table version → unit, with the NAND geometry that turns blocks into bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableUnits {
    pub geometry: NandGeometry,
    /// (table version, unit); versions not listed use `default`.
    pub per_version: Vec<(u32, SizeUnit)>,
    pub default: SizeUnit,
}

/// Versions 3 (the field frame) and 4 (`partition_nand.xml` as documented) count blocks
/// [I, strong; see the module comment].
pub const UNITS_BY_VERSION: &[(u32, SizeUnit)] = &[(3, SizeUnit::Blocks), (4, SizeUnit::Blocks)];

impl Default for TableUnits {
    fn default() -> Self {
        TableUnits {
            geometry: NandGeometry::MDM9615,
            per_version: UNITS_BY_VERSION.to_vec(),
            default: SizeUnit::Blocks,
        }
    }
}

impl TableUnits {
    /// The unit of a table version.
    pub fn unit(&self, version: u32) -> SizeUnit {
        self.per_version.iter().find(|(v, _)| *v == version).map_or(self.default, |(_, u)| *u)
    }

    /// Bytes in one unit of a table version.
    pub fn unit_bytes(&self, version: u32) -> u64 {
        match self.unit(version) {
            SizeUnit::Blocks => self.geometry.block_bytes(),
            SizeUnit::Kib => 1024,
        }
    }

    /// True when `version` has its own row (not the fallback).
    pub fn knows(&self, version: u32) -> bool {
        self.per_version.iter().any(|(v, _)| *v == version)
    }
}

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
    /// Size in the table's unit (`None` for "grow to the end").
    pub length: Option<u32>,
    pub padding: u16,
    pub which_flash: u16,
    pub attributes: [u8; 4],
    /// `start` in bytes.
    pub start_bytes: u64,
    /// `length` in bytes (`None` for "grow to the end").
    pub length_bytes: Option<u64>,
    /// `padding` in bytes.
    pub padding_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionTable {
    pub version: u32,
    /// What `start`, `length` and `padding` count.
    pub unit: SizeUnit,
    /// Bytes per unit under the assumed geometry.
    pub unit_bytes: u64,
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

/// Parse a user partition table with the default units ([`TableUnits::default`]).
pub fn parse(data: &[u8]) -> Result<PartitionTable, PtableError> {
    parse_with(data, &TableUnits::default())
}

/// Parse a user partition table, converting sizes to bytes with `units`.
pub fn parse_with(data: &[u8], units: &TableUnits) -> Result<PartitionTable, PtableError> {
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
    let unit = units.unit(version);
    let unit_bytes = units.unit_bytes(version);
    let bytes = |n: u64| n.saturating_mul(unit_bytes);
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
        entries.push(PartitionEntry {
            name,
            start,
            length,
            padding,
            which_flash,
            attributes,
            start_bytes: bytes(start),
            length_bytes: length.map(|l| bytes(u64::from(l))),
            padding_bytes: bytes(u64::from(padding)),
        });
        start = start.saturating_add(u64::from(length.unwrap_or(0))).saturating_add(u64::from(padding));
    }
    Ok(PartitionTable { version, unit, unit_bytes, entries })
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
        assert_eq!(p.entries[1].start_bytes, 1280 * 128 * 1024);
        assert_eq!(p.entries[2].length, None);
        assert_eq!(p.find("sbl1").unwrap().attributes, [0xff, 1, 0, 0xff]);
    }

    /// The start of the PARTITION_TABLE frame QFlash sent to a real EC20 R1 (field trace,
    /// after HDLC unescaping: `7d 5d` → `7d`), taken as the table it carries.
    #[test]
    fn field_frame_is_a_version_3_table_in_blocks() {
        let frame: &[u8] = &[
            0x9a, 0x1b, 0x7d, 0xaa, 0xbc, 0x48, 0x7d, 0x1f, 0x03, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
            0x30, 0x3a, 0x4d, 0x49, 0x42, 0x49, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
        ];
        // The trace shows only the start; complete the 16 entries with padding entries.
        let mut table = frame.to_vec();
        table.resize(16 + 16 * 28, 0xff);
        let t = parse(&table).unwrap();
        assert_eq!((t.version, t.entries.len(), t.unit), (3, 16, SizeUnit::Blocks));
        let mibib = &t.entries[0];
        assert_eq!(
            (mibib.name.as_str(), mibib.length, mibib.padding, mibib.which_flash),
            ("0:MIBIB", Some(6), 4, 0)
        );
        assert_eq!(mibib.length_bytes, Some(6 * 128 * 1024));
        assert_eq!(t.entries[1].start, 10);
        assert_eq!(t.entries[1].start_bytes, 10 * 128 * 1024);
        // Under a KiB reading the MIBIB would be 6 KiB: smaller than one 128 KiB block.
        let kib = TableUnits { per_version: vec![(3, SizeUnit::Kib)], ..TableUnits::default() };
        let k = parse_with(&table, &kib).unwrap();
        assert!(k.entries[0].length_bytes.unwrap() < NandGeometry::MDM9615.block_bytes());
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
