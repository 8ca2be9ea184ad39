//! The NAND geometry a Firehose package was built for, read from its rawprogram/erase
//! lines (`SECTOR_SIZE_IN_BYTES`, `PAGES_PER_BLOCK`, `start_sector` +
//! `num_partition_sectors`), and the check of it against what the programmer reports in
//! `<getstorageinfo>` (page size, block size, total blocks).
//!
//! Why before the first erase: a package built for 128 KiB blocks on a 256 KiB-block chip
//! has its first erase refused as unaligned, and a `PAGES_PER_BLOCK` that is not the
//! chip's is refused by the programmer (docs/facts/firehose.md, the EG25-G run) [confirmed,
//! field reports]; by then the host may already have switched the module to EDL and
//! uploaded the programmer, but nothing is erased yet. Pure; no panics on any input.

use serde::Serialize;

use super::{FirehoseLayout, XmlOp};
use crate::protocol::firehose::storage::StorageInfo;

/// The farthest sector a line reaches, with the line's label for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extent {
    /// `label` of the `<program>` line, or `erase at N` for an erase line.
    pub what: String,
    pub start_sector: u64,
    pub num_sectors: u64,
}

impl Extent {
    /// First sector past the extent.
    pub fn end(&self) -> u64 {
        self.start_sector.saturating_add(self.num_sectors)
    }
}

/// What the package's XML says about the chip it was built for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackageGeometry {
    /// Every distinct `SECTOR_SIZE_IN_BYTES`, in first-seen order.
    pub sector_sizes: Vec<u64>,
    /// Every distinct `PAGES_PER_BLOCK`, in first-seen order (lines may omit it).
    pub pages_per_block: Vec<u64>,
    /// The line that reaches farthest into the NAND.
    pub farthest: Option<Extent>,
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
}

fn number(attrs: &[(String, String)], name: &str) -> Option<u64> {
    attr(attrs, name)?.parse().ok()
}

fn add(list: &mut Vec<u64>, v: Option<u64>) {
    if let Some(v) = v
        && !list.contains(&v)
    {
        list.push(v);
    }
}

impl PackageGeometry {
    /// Read the geometry from a layout's program and erase lines (vendor lines carry none,
    /// patches address host files or the partition table by other means).
    pub fn of(layout: &FirehoseLayout) -> Self {
        let mut g = PackageGeometry::default();
        for op in &layout.ops {
            // The typed lines (`package::firehose_lines`): the sector size and extent are
            // numbers; `PAGES_PER_BLOCK` travels among the other attributes.
            let (sector_size, start, count, extra, what) = match op {
                XmlOp::Program(p) => {
                    (p.sector_size, &p.start_sector, p.num_partition_sectors, &p.extra, p.label.clone())
                }
                XmlOp::Erase(e) => (
                    e.sector_size,
                    &e.start_sector,
                    e.num_partition_sectors,
                    &e.extra,
                    format!("erase at {}", e.start_sector),
                ),
                XmlOp::Vendor { .. } | XmlOp::Patch { .. } => continue,
            };
            add(&mut g.sector_sizes, Some(u64::from(sector_size)));
            add(&mut g.pages_per_block, number(extra, "PAGES_PER_BLOCK"));
            if let Some(start) = start.number() {
                let e = Extent { what, start_sector: start, num_sectors: count };
                if g.farthest.as_ref().is_none_or(|f| e.end() > f.end()) {
                    g.farthest = Some(e);
                }
            }
        }
        g
    }
}

/// One way the package does not fit the chip; the text names both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// `sector-size`, `pages-per-block`, `extent`.
    pub what: &'static str,
    pub package: String,
    pub chip: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: the package has {}, the chip has {}", self.what, self.package, self.chip)
    }
}

fn kib(bytes: u64) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Compare the package's geometry with the chip's. Empty: it fits.
pub fn check(pkg: &PackageGeometry, chip: &StorageInfo) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for &s in &pkg.sector_sizes {
        if s != chip.page_size {
            out.push(Mismatch {
                what: "sector-size",
                package: format!("SECTOR_SIZE_IN_BYTES={s}"),
                chip: format!("page size {} (getstorageinfo page_size)", chip.page_size),
            });
        }
    }
    let chip_ppb = chip.pages_per_block();
    for &p in &pkg.pages_per_block {
        if Some(p) != chip_ppb {
            let block = pkg
                .sector_sizes
                .first()
                .and_then(|s| s.checked_mul(p))
                .map_or(String::new(), |b| format!(" ({} blocks)", kib(b)));
            out.push(Mismatch {
                what: "pages-per-block",
                package: format!("PAGES_PER_BLOCK={p}{block}"),
                chip: match chip_ppb {
                    Some(c) => format!("{c} pages per block ({} blocks)", kib(chip.block_size)),
                    None => format!(
                        "block size {} that is no whole number of {}-byte pages",
                        chip.block_size, chip.page_size
                    ),
                },
            });
        }
    }
    let total = chip_ppb.and_then(|ppb| chip.total_blocks.checked_mul(ppb));
    if let (Some(e), Some(total)) = (&pkg.farthest, total)
        && e.end() > total
    {
        out.push(Mismatch {
            what: "extent",
            package: format!(
                "{} reaching sector {} (start {} + {} sectors)",
                e.what,
                e.end(),
                e.start_sector,
                e.num_sectors
            ),
            chip: format!("{total} sectors ({} blocks of {})", chip.total_blocks, kib(chip.block_size)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::ProgramEntry;
    use crate::package::{EraseLine, Sector};

    fn attrs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn layout(ppb: &str, count: &str) -> FirehoseLayout {
        FirehoseLayout {
            root: String::new(),
            firehose_dir: String::new(),
            programmer: None,
            rawprogram: vec![],
            patch: vec![],
            ops: vec![
                XmlOp::Erase(EraseLine {
                    sector_size: 4096,
                    num_partition_sectors: 640,
                    start_sector: Sector::At(0),
                    physical_partition_number: None,
                    extra: vec![],
                }),
                XmlOp::Program(ProgramEntry {
                    label: "system".into(),
                    file: "system.ubi".into(),
                    file_size: 1,
                    filename: "system.ubi".into(),
                    sector_size: 4096,
                    start_sector: Sector::At(1280),
                    physical_partition_number: 0,
                    num_partition_sectors: count.parse().unwrap_or(0),
                    sparse: false,
                    extra: attrs(&[("PAGES_PER_BLOCK", ppb)]),
                }),
            ],
        }
    }

    fn ec25_e() -> StorageInfo {
        StorageInfo {
            total_blocks: 2048,
            block_size: 262_144,
            page_size: 4096,
            mem_type: Some("NAND".into()),
            prod_name: None,
        }
    }

    #[test]
    fn a_package_for_the_chip_fits() {
        let g = PackageGeometry::of(&layout("64", "6400"));
        assert_eq!(g.sector_sizes, vec![4096]);
        assert_eq!(g.pages_per_block, vec![64]);
        assert_eq!(g.farthest.as_ref().map(Extent::end), Some(7680));
        assert!(check(&g, &ec25_e()).is_empty());
    }

    #[test]
    fn a_128k_block_package_on_a_256k_chip_names_both_sides() {
        let g = PackageGeometry::of(&layout("32", "6400"));
        let m = check(&g, &ec25_e());
        assert_eq!(m.len(), 1);
        let text = m[0].to_string();
        assert!(text.contains("PAGES_PER_BLOCK=32 (128 KiB blocks)"), "{text}");
        assert!(text.contains("64 pages per block (256 KiB blocks)"), "{text}");
    }

    #[test]
    fn a_partition_past_the_end_and_a_wrong_page_are_refused() {
        let g = PackageGeometry::of(&layout("64", "200000"));
        let mut chip = ec25_e();
        chip.page_size = 2048;
        chip.block_size = 131_072;
        let m = check(&g, &chip);
        let whats: Vec<&str> = m.iter().map(|m| m.what).collect();
        assert_eq!(whats, vec!["sector-size", "extent"], "{m:?}");
        assert!(m[1].to_string().contains("system reaching sector 201280"), "{}", m[1]);
        assert!(m[1].to_string().contains("131072 sectors"), "{}", m[1]);
    }

    #[test]
    fn a_block_size_that_is_no_page_multiple_is_reported() {
        let g = PackageGeometry::of(&layout("64", "64"));
        let mut chip = ec25_e();
        chip.block_size = 1000;
        let m = check(&g, &chip);
        assert_eq!(m.len(), 1);
        assert!(m[0].chip.contains("no whole number"), "{}", m[0]);
    }
}
