//! Packages built the way the field evidence shows them (issue 10): a version-3 partition
//! table in blocks, a folder named `fw`, md5.txt lines in both forms, junk ELF program
//! headers, a missing boot image.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::fs;
use std::path::Path;

use modemflash::catalog::Chipset;
use modemflash::package::revision::RevisionSource;
use modemflash::package::{self, FileDetails, Severity, ptable};
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};

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

fn warnings(p: &package::Package) -> Vec<String> {
    p.report.findings.iter().filter(|f| f.severity == Severity::Warning).map(|f| f.message.clone()).collect()
}

#[test]
fn a_legacy_package_in_a_folder_named_fw_tells_its_revision_from_the_modem_image() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    legacy(&root);
    let p = package::open(&root).unwrap();
    assert!(p.is_valid(), "{:?}", errors(&p));
    assert_eq!(p.chipset(), Chipset::Mdm9615);
    assert_eq!(p.report.revision.as_ref().unwrap().raw, "EC20AQAR02A04E2G");
    assert_eq!(p.report.revision_source, Some(RevisionSource::ModemImage));
    assert_eq!(p.report.revision_evidence[0].from, "dsp2.mbn");
    assert!(
        p.report.fits.iter().any(|f| f.contains("EC20 R1") && f.contains("05c6:9215")),
        "{:?}",
        p.report.fits
    );
}

#[test]
fn a_folder_name_never_decides_the_chipset_or_the_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("EC25EFAR06A11M4G");
    legacy(&root);
    let p = package::open(&root).unwrap();
    assert!(p.is_valid(), "{:?}", errors(&p));
    assert_eq!(p.chipset(), Chipset::Mdm9615);
    assert_eq!(p.report.revision.as_ref().unwrap().raw, "EC20AQAR02A04E2G");
    assert!(p.report.fits.iter().any(|f| f.contains("EC20 R1")), "{:?}", p.report.fits);
    assert!(!p.report.fits.iter().any(|f| f.contains("EC25")), "{:?}", p.report.fits);
    let folder = p.report.revision_evidence.iter().find(|e| e.source == RevisionSource::FolderName).unwrap();
    assert!(!folder.used);
    assert!(
        warnings(&p).iter().any(|w| w.contains("EC25EFAR06A11M4G") && w.contains("ignored")),
        "{:?}",
        warnings(&p)
    );

    // Without a revision string in dsp2.mbn the contradicting name is still not used.
    fs::write(root.join("dsp2.mbn"), fs::read(tmp.path().join("EC25EFAR06A11M4G/dsp1.mbn")).unwrap())
        .unwrap();
    let p = package::open(&root).unwrap();
    assert_eq!(p.chipset(), Chipset::Mdm9615);
    assert!(p.report.revision.is_none(), "{:?}", p.report.revision);
    assert!(p.report.fits.iter().any(|f| f.contains("EC20 R1")), "{:?}", p.report.fits);
}

#[test]
fn sources_that_disagree_are_reported_and_the_contents_win() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("EC20AQAR02A05E2G");
    legacy(&root);
    let p = package::open(&root).unwrap();
    assert_eq!(p.report.revision.as_ref().unwrap().raw, "EC20AQAR02A04E2G");
    assert!(
        warnings(&p).iter().any(|w| w.contains("EC20AQAR02A05E2G") && w.contains("EC20AQAR02A04E2G is used")),
        "{:?}",
        warnings(&p)
    );
}

#[test]
fn zip_name_is_used_when_the_contents_tell_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let root = src.join("fw");
    legacy(&root);
    fs::write(root.join("dsp2.mbn"), fs::read(root.join("dsp1.mbn")).unwrap()).unwrap();
    let zip = tmp.path().join("EC20AQAR02A04E2G.zip");
    builder::zip_dir(&src, &zip).unwrap();
    let p = package::open(&zip).unwrap();
    assert_eq!(p.report.revision_source, Some(RevisionSource::ZipName));
    assert_eq!(p.report.revision.as_ref().unwrap().raw, "EC20AQAR02A04E2G");
}

#[test]
fn firehose_revision_from_contents_xml_then_the_modem_image() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    builder::write_firehose(&root, &FirehoseSpec { md5: false, ..FirehoseSpec::default() }).unwrap();
    let p = package::open(&root).unwrap();
    assert_eq!(p.chipset(), Chipset::Mdm9x07);
    assert_eq!(p.report.revision_source, Some(RevisionSource::ContentsXml));
    assert_eq!(p.report.revision.as_ref().unwrap().raw, "EC25EFAR06A11M4G");
    fs::remove_file(root.join("contents.xml")).unwrap();
    let p = package::open(&root).unwrap();
    assert_eq!(p.report.revision_source, Some(RevisionSource::ModemImage));
    assert_eq!(p.report.revision_evidence[0].from, "update/NON-HLOS.ubi");
    assert_eq!(p.report.revision.as_ref().unwrap().raw, "EC25EFAR06A11M4G");
}

#[test]
fn every_file_a_legacy_flow_writes_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    legacy(&root);
    // recovery-boot-oe-msm9615.img stays: it must not stand in for the boot image.
    fs::remove_file(root.join("boot-oe-msm9615.img")).unwrap();
    let p = package::open(&root).unwrap();
    assert!(!p.is_valid());
    assert!(errors(&p).iter().any(|m| m.contains("missing boot-oe-msm9615.img")), "{:?}", errors(&p));
    for file in ["dsp2.mbn", "rpm.mbn", "appsboot.mbn"] {
        let root = tmp.path().join(file);
        legacy(&root);
        fs::remove_file(root.join(file)).unwrap();
        let p = package::open(&root).unwrap();
        assert!(
            errors(&p).iter().any(|m| m.contains(&format!("missing {file}"))),
            "{file}: {:?}",
            errors(&p)
        );
    }
    // The user data image may be left out: the module keeps its data. Said as a note.
    let root = tmp.path().join("no-usrfs");
    legacy(&root);
    fs::remove_file(root.join("9615-cdp-usr-image.usrfs.yaffs2")).unwrap();
    let p = package::open(&root).unwrap();
    assert!(p.is_valid(), "{:?}", errors(&p));
    assert!(
        p.report.findings.iter().any(|f| f.severity == Severity::Note && f.message.contains("user data"))
    );
}

/// md5.txt lines in both forms real packages use: relative to the package root
/// (`D:\update\…`, upper-case digest) and starting with the package's own folder
/// (`E:\EC25EFAR06A11M4G\update\…`, lower-case digest).
#[test]
fn md5_lines_in_both_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let root = src.join("EC25EFAR06A11M4G");
    builder::write_firehose(&root, &FirehoseSpec::default()).unwrap();
    let text = fs::read_to_string(root.join("md5.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mixed: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i % 2 == 0 {
                format!("{l}\r\n")
            } else {
                let (path, digest) = l.rsplit_once(':').unwrap();
                let rel = path.strip_prefix("D:\\").unwrap();
                format!("E:\\EC25EFAR06A11M4G\\{rel}:{}\r\n", digest.to_ascii_lowercase())
            }
        })
        .collect();
    fs::write(root.join("md5.txt"), &mixed).unwrap();
    let p = package::open(&root).unwrap();
    assert!(p.is_valid(), "{:?}", errors(&p));
    let md5 = p.report.files.iter().find(|f| f.path == "md5.txt").unwrap();
    let want = format!("{n} of {n} listed files verified", n = lines.len());
    assert!(md5.checks.contains(&want), "{:?}", md5.checks);

    // The same package zipped under its folder: the folder prefix still resolves.
    let zip = tmp.path().join("fw.zip");
    builder::zip_dir(&src, &zip).unwrap();
    let p = package::open(&zip).unwrap();
    assert!(p.is_valid(), "{:?}", errors(&p));
}

#[test]
fn md5_list_that_resolves_nothing_is_an_error_naming_its_first_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    builder::write_firehose(&root, &FirehoseSpec::default()).unwrap();
    fs::write(
        root.join("md5.txt"),
        "D:\\other\\NON-HLOS.ubi:d41d8cd98f00b204e9800998ecf8427e\r\nD:\\other\\sbl1.mbn:d41d8cd98f00b204e9800998ecf8427e\r\n",
    )
    .unwrap();
    let p = package::open(&root).unwrap();
    assert!(!p.is_valid());
    assert!(
        errors(&p).iter().any(|m| m.starts_with("md5.txt: none of the 2 listed files")
            && m.contains("line 1 names other/NON-HLOS.ubi")),
        "{:?}",
        errors(&p)
    );
}

#[test]
fn junk_elf_program_headers_make_the_programmer_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    builder::write_firehose(&root, &FirehoseSpec { md5: false, ..FirehoseSpec::default() }).unwrap();
    let prog = root.join("update/firehose/prog_nand_firehose_9x07.mbn");
    let good = fs::read(&prog).unwrap();
    let p = package::open(&root).unwrap();
    assert!(p.is_valid(), "{:?}", errors(&p));
    let f = p.report.files.iter().find(|f| f.path.ends_with("prog_nand_firehose_9x07.mbn")).unwrap();
    assert!(f.checks.iter().any(|c| c.contains("a hash segment and 1 PT_LOAD")), "{:?}", f.checks);
    let cases: [(usize, &[u8], &str); 4] = [
        (42, &[56, 0], "e_phentsize is 56"),
        (44, &[0xff, 0x7f], "e_phnum is 32767"),
        // PT_LOAD's p_filesz far past the end of the file.
        (52 + 64 + 16, &[0, 0, 0, 0x10], "lies outside the file"),
        // The hash segment's Qualcomm type bits cleared.
        (52 + 32 + 24, &[0, 0, 0, 0], "no hash segment"),
    ];
    for (at, bytes, why) in cases {
        let mut junk = good.clone();
        junk[at..at + bytes.len()].copy_from_slice(bytes);
        fs::write(&prog, &junk).unwrap();
        let p = package::open(&root).unwrap();
        assert!(!p.is_valid(), "{why}");
        assert!(
            errors(&p)
                .iter()
                .any(|m| m.contains("the boot ROM would refuse this programmer") && m.contains(why)),
            "{why}: {:?}",
            errors(&p)
        );
    }
}
