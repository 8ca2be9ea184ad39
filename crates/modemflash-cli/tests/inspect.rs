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
