//! `modemflash backup`, `restore` and `update --backup` as processes against
//! `modemflash sim --model ec25` over ptys (docs/backup.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use modemflash_sim::builder::{self, FirehoseSpec};
use serde_json::Value;

mod common;
use common::SimProcess;

fn sim(ttys: &Path, extra: &[&str]) -> SimProcess {
    let mut args = vec!["--model", "ec25", "--reenum-delay", "0.3", "--start-mode", "normal"];
    args.extend(["--tty-dir", ttys.to_str().unwrap()]);
    args.extend(extra);
    SimProcess::spawn(&args)
}

fn run(state: &Path, args: &[&std::ffi::OsStr]) -> (Option<i32>, Value, String) {
    let out: Output =
        Command::cargo_bin("modemflash").unwrap().env("XDG_STATE_HOME", state).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).next_back().unwrap_or(Value::Null);
    (out.status.code(), last, format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn backup_then_restore_over_ptys() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = FirehoseSpec::default();
    let pkg = tmp.path().join(&spec.revision);
    builder::write_firehose(&pkg, &spec).unwrap();
    let ttys = tmp.path().join("ttys");
    std::fs::create_dir(&ttys).unwrap();
    let _s = sim(&ttys, &["--imei", "867698040000018"]);
    let dm = ttys.join("dm");
    let bk = tmp.path().join("bk");
    let state = tmp.path().join("state");
    let (code, last, text) = run(
        &state,
        &[
            os("backup"),
            os("--package"),
            pkg.as_os_str(),
            os("--port"),
            dm.as_os_str(),
            os("--out"),
            bk.as_os_str(),
            os("--json"),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(last["event"], "result", "{text}");
    assert_eq!(last["outcome"]["identity"]["imei"], "867698040000018", "{last}");
    assert!(last["outcome"]["partitions"].as_array().is_some_and(|p| !p.is_empty()), "{last}");
    assert!(text.contains("\"event\":\"progress\""), "{text}");
    let m = modemflash::backup::load(&bk).unwrap();
    assert!(m.partitions.iter().any(|p| p.label == "sbl"));

    let (code, last, text) = run(
        &state,
        &[
            os("restore"),
            bk.as_os_str(),
            os("--package"),
            pkg.as_os_str(),
            os("--port"),
            dm.as_os_str(),
            os("--json"),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    // Back to what the module ran when it was backed up (its factory firmware).
    assert_eq!(last["outcome"]["revision_after"], m.identity.revision.as_deref().unwrap(), "{last}");
    assert_eq!(m.identity.revision.as_deref(), Some("EC25EFAR06A08M4G"));
}

#[test]
fn nv_lost_in_an_update_fails_it_loudly() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = FirehoseSpec::default();
    let pkg = tmp.path().join(&spec.revision);
    builder::write_firehose(&pkg, &spec).unwrap();
    let ttys = tmp.path().join("ttys");
    std::fs::create_dir(&ttys).unwrap();
    let _s = sim(&ttys, &["--fault", "wipe-nv"]);
    let dm = ttys.join("dm");
    let bk = tmp.path().join("bk");
    let journal = tmp.path().join("journal.json");
    let (code, last, text) = run(
        &tmp.path().join("state"),
        &[
            os("update"),
            pkg.as_os_str(),
            os("--port"),
            dm.as_os_str(),
            os("--yes"),
            os("--json"),
            os("--journal"),
            journal.as_os_str(),
            os("--backup"),
            bk.as_os_str(),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(last["step"], "nv:compare", "{last}");
    assert!(last["error"].as_str().unwrap().contains("NV identity changed"), "{last}");
    assert!(text.contains("\"event\":\"warning\""), "{text}");
    assert!(last["remedy"].as_str().unwrap().contains("NV items are written back"), "{last}");
}
