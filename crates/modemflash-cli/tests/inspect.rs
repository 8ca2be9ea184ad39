//! `modemflash inspect` as a separate process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use assert_cmd::Command;
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};

fn bin() -> Command {
    Command::cargo_bin("modemflash").unwrap()
}

#[test]
fn legacy_report_names_kind_go_address_and_roles() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("EC20AQAR02A04E2G");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let out = bin().arg("inspect").arg(&root).assert().code(0).get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("legacy MDM9615 package, updated through DMSS, streaming DLOAD and fastboot"),
        "{text}"
    );
    assert!(text.contains("GO 0x41700000"), "{text}");
    assert!(text.contains("0:SBL1"), "{text}");
    assert!(text.contains("unused: QPST NV backup"), "{text}");
    assert!(text.contains("Result: valid"), "{text}");
}

#[test]
fn json_report_is_one_document() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("EC25EFAR06A11M4G");
    builder::write_firehose(&root, &FirehoseSpec::default()).unwrap();
    let out = bin().args(["inspect", "--json"]).arg(&root).assert().code(0).get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["kind"], "firehose9x07");
    assert_eq!(v["chipset"], "mdm9x07");
    assert_eq!(v["valid"], true);
    assert!(v["files"].as_array().unwrap().iter().any(|f| f["path"] == "md5.txt" && f["role"] == "md5-list"));
}

#[test]
fn invalid_package_exits_2_and_lists_every_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pkg");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    std::fs::remove_file(root.join("sbl1.mbn")).unwrap();
    std::fs::write(root.join("partition.mbn"), b"garbage garbage garbage").unwrap();
    let out = bin().arg("inspect").arg(&root).assert().code(2).get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("error: partition.mbn: partition table: bad magic"), "{text}");
    assert!(text.contains("error: missing sbl1.mbn"), "{text}");
    assert!(text.contains("INVALID package (2 problems)"), "{text}");
}

#[test]
fn missing_path_exits_2_and_usage_errors_exit_64() {
    let out = bin().args(["inspect", "/nonexistent/fw"]).assert().code(2).get_output().stderr.clone();
    assert!(String::from_utf8(out).unwrap().contains("cannot open /nonexistent/fw"));
    bin().args(["inspect"]).assert().code(64);
    bin().args(["frobnicate"]).assert().code(64);
    bin().args(["inspect", "--help"]).assert().code(0);
}

/// Issue 10: a legacy package unpacked into `fw` (as the field user did) shows its
/// revision from the modem image and each table size with its unit and in bytes; a folder
/// named after an EC25 revision does not make it an EC25 package.
#[test]
fn revision_source_and_table_units_are_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let out = bin().arg("inspect").arg(&root).assert().code(0).get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(
            "Revision: EC20AQAR02A04E2G (model EC20, release line R02, from the modem image (dsp2.mbn))"
        ),
        "{text}"
    );
    assert!(text.contains("version 3, sizes in blocks of 131072 bytes"), "{text}");
    assert!(text.contains("length 6 blocks = 786432 bytes  padding 4 blocks"), "{text}");

    let ec25 = tmp.path().join("EC25EFAR06A11M4G");
    builder::write_legacy(&ec25, &LegacySpec::default()).unwrap();
    let out = bin().args(["inspect", "--json"]).arg(&ec25).assert().code(0).get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["chipset"], "mdm9615");
    assert_eq!(v["revision"]["raw"], "EC20AQAR02A04E2G");
    assert_eq!(v["revision_source"], "modem-image");
    let fits = v["fits"].as_array().unwrap();
    assert!(fits.iter().any(|f| f.as_str().unwrap().contains("EC20 R1")), "{fits:?}");
    let table = v["files"].as_array().unwrap().iter().find(|f| f["path"] == "partition.mbn").unwrap();
    assert_eq!(table["details"]["unit"], "blocks");
    assert_eq!(table["details"]["entries"][0]["length_bytes"], 6 * 128 * 1024);
}
