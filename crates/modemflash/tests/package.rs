//! Package inspection against synthetic packages from `modemflash-sim`'s builder, and
//! every bad input named in the foundation issue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::fs;
use std::io::Write;
use std::path::Path;

use modemflash::catalog::Chipset;
use modemflash::package::{self, FileDetails, PackageError, PackageKind, Role, Severity};
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};

fn errors(p: &package::Package) -> Vec<String> {
    p.report.errors().map(|f| format!("{}: {}", f.file.clone().unwrap_or_default(), f.message)).collect()
}

fn legacy(dir: &Path) -> builder::Built {
    builder::write_legacy(dir, &LegacySpec::default()).unwrap()
}

#[test]
fn legacy_package_is_recognised_with_roles_go_address_and_table() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("EC20AQAR02A04E2G");
    legacy(&root);
    let p = package::open(&root).unwrap();
    assert_eq!(p.report.kind, PackageKind::LegacyMdm9615);
    assert_eq!(p.report.chipset, Chipset::Mdm9615);
    assert!(p.is_valid(), "{:?}", errors(&p));
    assert!(p.report.description.contains("legacy MDM9615"));
    assert_eq!(p.report.revision.as_ref().unwrap().raw, "EC20AQAR02A04E2G");
    assert!(p.report.fits.iter().any(|f| f.contains("05c6:9215")), "{:?}", p.report.fits);

    let nprg = p.report.files.iter().find(|f| f.path == "NPRG9x15.hex").unwrap();
    match nprg.details.as_ref().unwrap() {
        FileDetails::IntelHex { entry, contiguous, load_start, .. } => {
            assert_eq!(*entry, Some(0x4170_0000));
            assert_eq!(*load_start, 0x4170_0000);
            assert!(contiguous);
        }
        other => panic!("{other:?}"),
    }
    let table = p.report.files.iter().find(|f| f.path == "partition.mbn").unwrap();
    match table.details.as_ref().unwrap() {
        FileDetails::PartitionTable(t) => {
            assert_eq!(t.version, 3);
            assert!(t.find("0:SBL1").is_some() && t.find("0:APPSBL").is_some());
        }
        other => panic!("{other:?}"),
    }
    let role = |name: &str| p.report.files.iter().find(|f| f.path == name).unwrap().role.clone();
    assert!(matches!(role("EC20_A20150923.qcn"), Role::Unused { .. }));
    assert!(matches!(role("yaffs_head.aa"), Role::Unused { .. }));
    assert!(matches!(role("Quectel_EC20_Release_Note.pdf"), Role::Unused { .. }));
    assert_eq!(role("sbl1.mbn"), Role::BootLoader);
    assert_eq!(role("msm-9615-cdp-image-9615-cdp.rootfs.yaffs2"), Role::FileSystem);
    assert!(
        p.report.findings.iter().any(|f| f.severity == Severity::Note && f.message.contains("no md5.txt"))
    );

    let layout = p.legacy.as_ref().unwrap();
    assert_eq!(layout.programmers, vec!["NPRG9x15.hex", "ENPRG9x15.hex"]);
    assert_eq!(layout.go_address, Some(0x4170_0000));
    let fb: Vec<&str> = layout.fastboot.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        fb,
        ["sbl2", "aboot", "dsp1", "dsp2", "dsp3", "system", "userdata", "recoveryfs", "boot", "recovery"]
    );
    let st: Vec<&str> = layout.streaming.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(st, ["0:SBL1", "0:SBL2", "0:RPM"]);
}

#[test]
fn legacy_package_in_a_zip_with_a_top_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    legacy(&src.join("EC20AQAR02A04E2G"));
    let zip = tmp.path().join("fw.zip");
    builder::zip_dir(&src, &zip).unwrap();
    let p = package::open(&zip).unwrap();
    assert_eq!(p.report.kind, PackageKind::LegacyMdm9615);
    assert!(p.is_valid(), "{:?}", errors(&p));
    assert_eq!(p.legacy.as_ref().unwrap().root, "EC20AQAR02A04E2G");
    assert!(p.path_of("EC20AQAR02A04E2G/sbl1.mbn").is_file());
}

#[test]
fn firehose_package_verifies_md5_and_xml() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("EC25EFAR06A11M4G");
    builder::write_firehose(&root, &FirehoseSpec { vendor_line: true, ..FirehoseSpec::default() }).unwrap();
    let p = package::open(&root).unwrap();
    assert_eq!(p.report.kind, PackageKind::Firehose9x07);
    assert!(p.is_valid(), "{:?}", errors(&p));
    let md5 = p.report.files.iter().find(|f| f.path == "md5.txt").unwrap();
    assert!(md5.checks.iter().any(|c| c.contains("verified")), "{:?}", md5.checks);
    let sbl = p.report.files.iter().find(|f| f.path == "update/sbl1.mbn").unwrap();
    assert!(sbl.checks.iter().any(|c| c.contains("md5 matches")));
    assert_eq!(sbl.role, Role::FirehoseImage);
    let layout = p.firehose.as_ref().unwrap();
    assert_eq!(layout.programmer.as_deref(), Some("update/firehose/prog_nand_firehose_9x07.mbn"));
    assert!(layout.ops.iter().any(|o| matches!(o, package::XmlOp::Vendor { .. })));
    let programs = layout.ops.iter().filter(|o| matches!(o, package::XmlOp::Program(_))).count();
    assert_eq!(programs, 10);
    assert!(p.report.fits.iter().any(|f| f.contains("2c7c:0125")), "{:?}", p.report.fits);
}

#[test]
fn sector_numbers_near_u64_max_are_an_error_not_an_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pkg");
    builder::write_firehose(&root, &FirehoseSpec { md5: false, ..FirehoseSpec::default() }).unwrap();
    let raw = fs::read_dir(root.join("update/firehose"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("rawprogram"))
        .unwrap();
    let xml = fs::read_to_string(&raw).unwrap();
    let prog = xml.find("<program").unwrap();
    let at = prog + xml[prog..].find("start_sector=\"").unwrap() + "start_sector=\"".len();
    let end = at + xml[at..].find('"').unwrap();
    let bad = format!("{}{}{}", &xml[..at], u64::MAX, &xml[end..]);
    fs::write(&raw, bad).unwrap();
    let p = package::open(&root).unwrap();
    let e = errors(&p);
    assert!(e.iter().any(|m| m.contains("last_sector")), "{e:?}");
}

#[test]
fn firehose_md5_mismatch_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pkg");
    builder::write_firehose(&root, &FirehoseSpec::default()).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(root.join("update/tz.mbn")).unwrap();
    f.write_all(b"tampered").unwrap();
    let p = package::open(&root).unwrap();
    assert!(!p.is_valid());
    let e = errors(&p);
    assert!(e.iter().any(|m| m.starts_with("update/tz.mbn: md5 mismatch")), "{e:?}");
}

#[test]
fn firehose_without_md5_is_a_note_and_missing_image_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pkg");
    builder::write_firehose(&root, &FirehoseSpec { md5: false, ..FirehoseSpec::default() }).unwrap();
    let p = package::open(&root).unwrap();
    assert!(p.is_valid(), "{:?}", errors(&p));
    assert!(
        p.report.findings.iter().any(|f| f.severity == Severity::Note && f.message.contains("no md5.txt"))
    );
    fs::remove_file(root.join("update/rpm.mbn")).unwrap();
    let p = package::open(&root).unwrap();
    let e = errors(&p);
    assert!(
        e.iter().any(|m| m.contains("rawprogram") && m.contains("update/rpm.mbn is not in the package")),
        "{e:?}"
    );
}

#[test]
fn missing_path_empty_and_foreign_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    match package::open(&missing) {
        Err(PackageError::Open { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let p = package::open(&empty).unwrap();
    assert_eq!(p.report.kind, PackageKind::Unknown);
    assert!(!p.is_valid());
    assert!(errors(&p)[0].contains("empty"));
    let foreign = tmp.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "hello").unwrap();
    let p = package::open(&foreign).unwrap();
    assert!(errors(&p)[0].contains("Looked for: NPRG9x15.hex"));
    let single = foreign.join("notes.txt");
    assert!(matches!(package::open(&single), Err(PackageError::NotAPackage { .. })));
}

#[test]
fn truncated_hex_and_bad_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pkg");
    legacy(&root);
    let text = fs::read_to_string(root.join("NPRG9x15.hex")).unwrap();
    let half: String = text.lines().take(100).map(|l| format!("{l}\n")).collect();
    fs::write(root.join("NPRG9x15.hex"), half).unwrap();
    let mut lines: Vec<String> =
        fs::read_to_string(root.join("ENPRG9x15.hex")).unwrap().lines().map(str::to_owned).collect();
    let last = lines[5].pop().unwrap();
    lines[5].push(if last == '0' { '1' } else { '0' });
    fs::write(root.join("ENPRG9x15.hex"), lines.join("\n")).unwrap();
    let p = package::open(&root).unwrap();
    let e = errors(&p);
    assert!(e.iter().any(|m| m.starts_with("NPRG9x15.hex") && m.contains("truncated")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("ENPRG9x15.hex") && m.contains("line 6: checksum")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("no usable DMSS programmer")), "{e:?}");
}

#[test]
fn bad_partition_table_magic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pkg");
    legacy(&root);
    let mut t = fs::read(root.join("partition.mbn")).unwrap();
    t[0] ^= 0xff;
    fs::write(root.join("partition.mbn"), t).unwrap();
    let p = package::open(&root).unwrap();
    let e = errors(&p);
    assert!(e.iter().any(|m| m.starts_with("partition.mbn: partition table: bad magic")), "{e:?}");
    // partition2.mbn is still good, so the package has a usable table.
    assert_eq!(p.legacy.as_ref().unwrap().partition_tables, vec!["partition2.mbn"]);
}

fn raw_zip(path: &Path, names: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (n, d) in names {
        z.start_file(*n, o).unwrap();
        z.write_all(d).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn zip_slip_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt"] {
        let z = tmp.path().join("slip.zip");
        raw_zip(&z, &[("NPRG9x15.hex", b":00000001FF\n"), (name, b"x")]);
        match package::open(&z) {
            Err(PackageError::UnsafeZipPath { entry, .. }) => assert_eq!(entry, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(!tmp.path().parent().unwrap().join("evil.txt").exists());
}

#[test]
fn corrupt_zip_and_huge_declared_size() {
    let tmp = tempfile::tempdir().unwrap();
    let z = tmp.path().join("bad.zip");
    fs::write(&z, b"PK\x03\x04 this is not really a zip").unwrap();
    match package::open(&z) {
        Err(e @ PackageError::BadZip { .. }) => {
            let text = e.to_string();
            assert!(text.contains("bad.zip"), "{text}");
            assert!(!text.contains("::"), "{text}");
            assert_eq!(text.matches("zip").count(), 2, "said once, plus the file name: {text}");
            assert!(text.contains("download was cut short"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    // A local header and central directory that declare 8 GiB uncompressed for a tiny
    // stored entry: patch the size fields of a real zip.
    let z = tmp.path().join("huge.zip");
    raw_zip(&z, &[("big.bin", b"abcd")]);
    let mut bytes = fs::read(&z).unwrap();
    let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    // Central directory: uncompressed size at +24; set to 0xFFFFFFFF is zip64 marker, so
    // use 0xFFFFFFF0 (~4 GiB, above the limit).
    bytes[cd + 24..cd + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    fs::write(&z, bytes).unwrap();
    match package::open(&z) {
        Err(PackageError::ZipTooLarge { entry, .. }) => assert_eq!(entry, "big.bin"),
        Err(PackageError::BadZip { .. }) => {} // also acceptable: the zip crate noticed the lie
        other => panic!("{other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_errors() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pkg");
    legacy(&root);
    let bad = std::ffi::OsStr::from_bytes(b"dsp\xff.mbn");
    fs::write(root.join(bad), b"x").unwrap();
    let p = package::open(&root).unwrap();
    let e = errors(&p);
    assert!(e.iter().any(|m| m.contains("not valid UTF-8") && m.contains("dsp")), "{e:?}");

    let z = tmp.path().join("names.zip");
    let mut w = zip::ZipWriter::new(fs::File::create(&z).unwrap());
    w.start_file("ok.txt", zip::write::SimpleFileOptions::default()).unwrap();
    w.finish().unwrap();
    let mut bytes = fs::read(&z).unwrap();
    // Replace 'o' in both name copies by 0xff (not UTF-8, no UTF-8 flag set).
    for i in 0..bytes.len() - 6 {
        if &bytes[i..i + 6] == b"ok.txt" {
            bytes[i] = 0xff;
        }
    }
    fs::write(&z, bytes).unwrap();
    let p = package::open(&z).unwrap();
    assert!(errors(&p).iter().any(|m| m.contains("not valid UTF-8")), "{:?}", errors(&p));
}

#[test]
fn the_fingerprint_is_taken_once_when_the_package_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("EC20AQAR02A04E2G");
    legacy(&root);
    let p = package::open(&root).unwrap();
    let at_open = p.fingerprint.clone();
    assert_eq!(at_open.len(), 32);
    // A file changed after open changes nothing the plan sees: it reads no file.
    let mut f = fs::OpenOptions::new().write(true).open(root.join("NPRG9x15.hex")).unwrap();
    f.write_all(b"changed").unwrap();
    drop(f);
    let module = modemflash::plan::ModuleState::new(modemflash::plan::DeviceMode::Dload, None);
    let plan = modemflash::plan::build(&p, &module, &modemflash::plan::PlanOptions::default(), None).unwrap();
    assert_eq!(plan.fingerprint, at_open);
    assert_eq!(modemflash::plan::fingerprint(&p), at_open);
    // Opening again sees the change.
    assert_ne!(package::open(&root).unwrap().fingerprint, at_open);
}
