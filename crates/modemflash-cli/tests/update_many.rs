//! `modemflash update PKG --port A --port B --port C`: three virtual EC25s, each a separate
//! `modemflash sim` process, updated at once by one `modemflash update` process. One of
//! them refuses a write: the other two still finish, every NDJSON line names its module
//! and the contract version, and the exit code says "some updated, some not" (5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::collections::HashSet;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use modemflash_sim::builder::{self, FirehoseSpec};
use serde_json::Value;

mod common;
use common::SimProcess;

fn sim(dir: &std::path::Path, extra: &[&str]) -> SimProcess {
    let mut args = vec!["--model", "ec25", "--reenum-delay", "0.3", "--fastboot-tcp", "127.0.0.1:0"];
    args.extend(["--tty-dir", dir.to_str().unwrap()]);
    args.extend(extra);
    SimProcess::spawn(&args)
}

#[test]
fn three_modules_at_once_one_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = FirehoseSpec::default();
    let pkg = tmp.path().join(&spec.revision);
    builder::write_firehose(&pkg, &spec).unwrap();
    let dirs: Vec<_> = ["a", "b", "c"].iter().map(|n| tmp.path().join(n)).collect();
    let sims = [
        sim(&dirs[0], &[]),
        sim(&dirs[1], &["--fault", "nak@step=firehose:program:modem"]),
        sim(&dirs[2], &[]),
    ];
    let journal = tmp.path().join("journal.json");
    let mut cmd = Command::cargo_bin("modemflash").unwrap();
    cmd.arg("update").arg(&pkg);
    for d in &dirs {
        cmd.arg("--port").arg(d.join("dm"));
    }
    let backups = tmp.path().join("backups");
    let out = cmd
        .args(["--yes", "--json", "--timeout", "60"])
        .arg("--journal")
        .arg(&journal)
        .arg("--backup")
        .arg(&backups)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));

    // Every line: the contract version, and (but the run's result) the module it concerns.
    let mut ids = HashSet::new();
    for v in &lines {
        assert_eq!(v["v"], 1, "{v}");
        if v["event"] != "result" {
            let id = v["module"]["id"].as_str().unwrap_or_else(|| panic!("no module: {v}"));
            assert!(id.starts_with("serial:"), "{id}");
            assert!(id.contains("/imei:"), "an identity in the id: {id}");
            ids.insert(id.to_owned());
        }
    }
    assert_eq!(ids.len(), 3, "{ids:?}");
    // Each module's events are its own: its progress bars never mix with another's.
    for d in &dirs {
        let path = format!("serial:{}", d.join("dm").display());
        let mine: Vec<&Value> = lines.iter().filter(|v| v["module"]["path"] == path.as_str()).collect();
        assert!(mine.iter().any(|v| v["event"] == "plan"), "{path}");
        assert_eq!(mine.iter().filter(|v| v["event"] == "module_result").count(), 1, "{path}");
    }

    let results: Vec<&Value> = lines.iter().filter(|v| v["event"] == "module_result").collect();
    let by_dir = |n: usize| {
        let path = format!("serial:{}", dirs[n].join("dm").display());
        results.iter().find(|r| r["module"]["path"] == path.as_str()).copied().unwrap()
    };
    for n in [0, 2] {
        let r = by_dir(n);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["revision_after"], spec.revision.as_str(), "{r}");
        assert!(r["revision_before"].is_string(), "{r}");
    }
    let bad = by_dir(1);
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(bad["exit"], 1, "{bad}");
    assert_eq!(bad["step"], "firehose:program:modem", "{bad}");
    assert_eq!(bad["kind"], "refused", "{bad}");
    assert!(bad["remedy"].as_str().unwrap().contains("refused"), "{bad}");
    assert!(bad["module"]["identity"]["chip_serial"].is_number(), "what the run learnt: {bad}");

    let result = lines.last().unwrap();
    assert_eq!(result["event"], "result");
    assert_eq!((result["ok"].clone(), result["exit"].clone()), (Value::Bool(false), Value::from(5)));
    assert_eq!(result["modules"].as_array().unwrap().len(), 3);
    assert!(result["error"].as_str().unwrap().starts_with("1 of 3 modules not updated"), "{result}");

    let kept: Vec<Value> =
        lines.iter().filter(|v| v["event"] == "module_result" || v["event"] == "result").cloned().collect();
    common::golden("update_many.shape", &common::shape(&kept));

    // The simulators agree: two booted the new revision, the refusing one did not.
    assert_eq!(sims[0].booted().as_deref(), Some(spec.revision.as_str()));
    assert_eq!(sims[2].booted().as_deref(), Some(spec.revision.as_str()));
    assert_ne!(sims[1].booted().as_deref(), Some(spec.revision.as_str()));
    // Each module was backed up first, into a folder of its own named after its id, and
    // the updated ones had their NV identity compared with it afterwards.
    let folders: Vec<_> = std::fs::read_dir(&backups).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 3, "{folders:?}");
    for f in &folders {
        assert!(f.join(modemflash::backup::MANIFEST).is_file(), "{}", f.display());
        assert!(f.file_name().unwrap().to_string_lossy().contains("imei_"), "{}", f.display());
    }
    for n in [0, 2] {
        let path = format!("serial:{}", dirs[n].join("dm").display());
        assert!(
            lines.iter().any(|v| v["module"]["path"] == path.as_str()
                && v["event"] == "step_done"
                && v["step"] == "nv:compare"),
            "{path}: no nv:compare"
        );
    }
    // One journal file, a record per module: the failed one resumable.
    let j: Value = serde_json::from_slice(&std::fs::read(&journal).unwrap()).unwrap();
    let recs = j["modules"].as_array().unwrap();
    assert_eq!(recs.len(), 3, "{j}");
    assert_eq!(recs.iter().filter(|r| r["completed"] == true).count(), 2, "{j}");
}

#[test]
fn several_modules_need_one_selector_each() {
    let out = Command::cargo_bin("modemflash")
        .unwrap()
        .args([
            "update",
            "/nonexistent",
            "--port",
            "/tmp/a",
            "--port",
            "/tmp/b",
            "--at-port",
            "/tmp/c",
            "--json",
        ])
        .output()
        .unwrap();
    // The package is checked first (exit 2); with a package the flags are refused (64).
    assert_eq!(out.status.code(), Some(2));
    let out = Command::cargo_bin("modemflash")
        .unwrap()
        .args(["update", "/nonexistent", "--all", "--port", "/tmp/a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "--all names no other module");
}
