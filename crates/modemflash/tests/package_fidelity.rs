//! Packages built the way the field evidence shows them (issue 10): a version-3 partition
//! table in blocks, a folder named `fw`, md5.txt lines in both forms, junk ELF program
//! headers, a missing boot image.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::fs;
use std::path::Path;

use modemflash::package::{self, FileDetails, ptable};
use modemflash_sim::builder::{self, LegacySpec};

fn errors(p: &package::Package) -> Vec<String> {
    p.report.errors().map(|f| format!("{}: {}", f.file.clone().unwrap_or_default(), f.message)).collect()
}

fn legacy(dir: &Path) {
    builder::write_legacy(dir, &LegacySpec::default()).unwrap();
}

#[test]
fn version_3_table_in_blocks_like_the_field_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    legacy(&root);
    let p = package::open(&root).unwrap();
    assert!(p.is_valid(), "{:?}", errors(&p));
    let f = p.report.files.iter().find(|f| f.path == "partition.mbn").unwrap();
    let Some(FileDetails::PartitionTable(t)) = &f.details else { panic!("{:?}", f.details) };
    // The field frame: version 3, 16 entries, first 0:MIBIB with size 6 and padding 4.
    assert_eq!((t.version, t.entries.len(), t.unit), (3, 16, ptable::SizeUnit::Blocks));
    assert_eq!(
        (t.entries[0].name.as_str(), t.entries[0].length, t.entries[0].padding),
        ("0:MIBIB", Some(6), 4)
    );
    assert_eq!(t.unit_bytes, 128 * 1024);
    let sbl1 = t.find("0:SBL1").unwrap();
    assert_eq!(sbl1.start_bytes, 10 * 128 * 1024);
    assert!(f.checks.iter().any(|c| c.contains("images fit their partitions")), "{:?}", f.checks);
}

#[test]
fn an_image_that_cannot_fit_its_partition_makes_the_package_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    legacy(&root);
    // A table whose SBL1 is one block (128 KiB), smaller than the 96 KiB + header sbl1.mbn
    // would still fit, so make sbl1.mbn bigger than one block instead.
    let mut entries = builder::partition_entries(&LegacySpec::default());
    entries[1].1 = 1;
    let refs: Vec<(&str, u32, u16, [u8; 4])> =
        entries.iter().map(|(n, s, p, a)| (n.as_str(), *s, *p, *a)).collect();
    fs::write(root.join("partition.mbn"), ptable::encode(3, &refs)).unwrap();
    let spec = LegacySpec { boot_chain_size: 200 * 1024, ..LegacySpec::default() };
    let other = tmp.path().join("big");
    builder::write_legacy(&other, &spec).unwrap();
    fs::copy(other.join("sbl1.mbn"), root.join("sbl1.mbn")).unwrap();
    let p = package::open(&root).unwrap();
    assert!(!p.is_valid());
    let e = errors(&p);
    assert!(
        e.iter().any(|m| m.starts_with("sbl1.mbn: does not fit 0:SBL1")
            && m.contains("partition.mbn is 1 blocks = 131072 bytes")),
        "{e:?}"
    );
    // partition2.mbn (the builder's own table) holds it: only one table is named.
    assert!(!e.iter().any(|m| m.contains("partition2.mbn is")), "{e:?}");
}
