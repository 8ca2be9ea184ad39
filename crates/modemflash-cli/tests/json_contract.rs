//! The `--json` contract of `update` (docs/json.md), held by a golden file: every event
//! name with every key, from a whole update of a virtual EC20 R1 (`modemflash demo --json`),
//! a failed one and the run over several modules (in `update_many.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

mod common;

#[test]
fn an_update_keeps_its_contract() {
    let out = Command::cargo_bin("modemflash").unwrap().args(["demo", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Every line: version 1 and the module, the same module throughout.
    let id = lines[0]["module"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("usb:1-1/imei:"), "{id}");
    for v in &lines {
        assert_eq!(v["v"], 1, "{v}");
        assert_eq!(v["module"]["id"], id.as_str(), "{v}");
    }
    assert_eq!(lines.last().unwrap()["event"], "result");
    common::golden("update.shape", &common::shape(&lines));
}
