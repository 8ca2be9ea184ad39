//! `modemflash update` as a separate process against `modemflash sim` as another process,
//! over ptys (`--tty-dir`) and fastboot over TCP: from normal mode, and from the field
//! user's stuck state (`--start-mode fastboot`). Both must end with the simulator
//! reporting the new revision.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};
use serde_json::Value;

const NEW_REV: &str = "EC20AQAR02A04E2G";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

mod common;
use common::SimProcess;

fn sim(model: &str, tty_dir: &std::path::Path, port: u16, start_mode: &str) -> SimProcess {
    sim_with(model, tty_dir, port, start_mode, &[])
}

fn sim_with(
    model: &str,
    tty_dir: &std::path::Path,
    port: u16,
    start_mode: &str,
    extra: &[&str],
) -> SimProcess {
    let tty_dir = tty_dir.to_str().unwrap();
    let fastboot = format!("127.0.0.1:{port}");
    let mut args = vec!["--model", model, "--reenum-delay", "0.3", "--start-mode", start_mode];
    args.extend(["--tty-dir", tty_dir, "--fastboot-tcp", &fastboot]);
    args.extend(extra);
    SimProcess::spawn(&args)
}

fn update_against(start_mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(NEW_REV);
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    update_process("ec20-r1", &pkg, NEW_REV, start_mode, tmp.path());
}

fn update_process(
    model: &str,
    pkg: &std::path::Path,
    new_rev: &str,
    start_mode: &str,
    tmp: &std::path::Path,
) {
    let ttys = tmp.join("ttys");
    std::fs::create_dir(&ttys).unwrap();
    let port = free_port();
    let s = sim(model, &ttys, port, start_mode);
    let backup = tmp.join("backup");
    let out = Command::cargo_bin("modemflash")
        .unwrap()
        .env("XDG_STATE_HOME", tmp.join("state"))
        .arg("update")
        .arg(pkg)
        .arg("--port")
        .arg(ttys.join("dm"))
        .args(["--fastboot", &format!("tcp:127.0.0.1:{port}"), "--yes", "--json", "--timeout", "60"])
        .arg("--journal")
        .arg(tmp.join("journal.json"))
        .args(if start_mode == "normal" {
            vec![std::ffi::OsStr::new("--backup"), backup.as_os_str()]
        } else {
            vec![]
        })
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: Value =
        stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).next_back().unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "update failed from {start_mode}: {last}\n{stdout}");
    assert_eq!(last["event"], "result");
    assert_eq!(last["outcome"]["revision_after"], new_rev);
    // Every NDJSON line is one object with an event name.
    for l in stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
        assert!(v["event"].is_string(), "{l}");
    }
    // The simulator itself reports booting the new revision.
    let mut booted = None;
    while let Ok(v) = s.events.recv_timeout(Duration::from_secs(5)) {
        if v["event"] == "booted" {
            booted = Some(v["revision"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(booted.as_deref(), Some(new_rev));
    // A module found in normal mode was backed up first, and its NV identity compared after.
    if start_mode == "normal" {
        let m = modemflash::backup::load(&backup).unwrap();
        assert!(m.identity.imei.is_some(), "{m:?}");
        assert!(stdout.contains("\"step\":\"nv:compare\""), "{stdout}");
    }
}

#[test]
fn update_from_normal_mode_over_ptys_and_tcp() {
    update_against("normal");
}

#[test]
fn update_finishes_a_module_stuck_in_fastboot() {
    update_against("fastboot");
}

fn ec25_update(start_mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = FirehoseSpec::default();
    let pkg = tmp.path().join(&spec.revision);
    builder::write_firehose(&pkg, &spec).unwrap();
    update_process("ec25", &pkg, &spec.revision, start_mode, tmp.path());
}

#[test]
fn ec25_update_from_normal_mode_over_ptys() {
    ec25_update("normal");
}

#[test]
fn ec25_update_from_edl() {
    ec25_update("edl");
}

/// A cable pulled in the middle of `fastboot flash system`: the update exits 1 (resumable),
/// the rerun of the same command continues from the journal and finishes.
#[test]
fn interrupted_update_resumes_from_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(NEW_REV);
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    let ttys = tmp.path().join("ttys");
    std::fs::create_dir(&ttys).unwrap();
    let port = free_port();
    let _s =
        sim_with("ec20-r1", &ttys, port, "normal", &["--fault", "disconnect@step=fastboot:flash:system"]);
    let run = || {
        Command::cargo_bin("modemflash")
            .unwrap()
            .env("XDG_STATE_HOME", tmp.path().join("state"))
            .arg("update")
            .arg(&pkg)
            .arg("--port")
            .arg(ttys.join("dm"))
            .args(["--fastboot", &format!("tcp:127.0.0.1:{port}"), "--yes", "--json", "--timeout", "60"])
            .arg("--journal")
            .arg(tmp.path().join("journal.json"))
            .output()
            .unwrap()
    };
    let events = |out: &std::process::Output| -> Vec<Value> {
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    };
    let first = run();
    let ev1 = events(&first);
    assert_eq!(first.status.code(), Some(1), "{ev1:?}");
    let result = ev1.last().unwrap();
    assert_eq!(result["step"], "fastboot:flash:system", "{result}");
    assert!(result["remedy"].as_str().unwrap().contains("rerun"), "{result}");

    let second = run();
    let ev2 = events(&second);
    assert_eq!(second.status.code(), Some(0), "{ev2:?}");
    assert_eq!(ev2.last().unwrap()["outcome"]["revision_after"], NEW_REV);
    let skipped: Vec<&str> =
        ev2.iter().filter(|e| e["event"] == "step_skipped").filter_map(|e| e["step"].as_str()).collect();
    let started: Vec<&str> =
        ev2.iter().filter(|e| e["event"] == "step_started").filter_map(|e| e["step"].as_str()).collect();
    // The module came back in fastboot (its boot chain is new, boot still invalid): the
    // rerun does only what is left.
    assert!(skipped.contains(&"fastboot:flash:aboot"), "{skipped:?}");
    assert!(!started.iter().any(|s| s.starts_with("streaming:") || s.starts_with("dmss:")), "{started:?}");
    // Over TCP nothing tells the chipset before the rerun writes: fastboot's product does.
    assert_eq!(started[..2], ["check:chipset", "fastboot:flash:system"], "{started:?}");
}

#[test]
fn a_legacy_package_in_fw_is_refused_by_a_virtual_ec25_before_anything_is_sent() {
    // Issue 10, as a new user met it: the EC20 R1 sample package copied into `fw`, given
    // to `update` against a virtual EC25. No --force; and it must not matter.
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("fw");
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    let ttys = tmp.path().join("ttys");
    std::fs::create_dir(&ttys).unwrap();
    let port = free_port();
    let s = sim("ec25", &ttys, port, "normal");
    for force in [false, true] {
        let mut c = Command::cargo_bin("modemflash").unwrap();
        c.arg("update").arg(&pkg).arg("--port").arg(ttys.join("dm"));
        c.args(["--fastboot", &format!("tcp:127.0.0.1:{port}"), "--yes", "--timeout", "30"]);
        c.arg("--journal").arg(tmp.path().join("journal.json"));
        if force {
            c.arg("--force");
        }
        let out = c.output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_ne!(out.status.code(), Some(0), "{text}");
        assert!(
            text.contains("package is for MDM9615") && text.contains("the module is an MDM9x07"),
            "{text}"
        );
        assert!(!text.contains("rerun the same command"), "{text}");
    }
    // The module never left normal mode (no AT+QFASTBOOT, no DIAG switch) and nothing was written.
    let seen: Vec<Value> = s.events.try_iter().collect();
    assert!(!seen.iter().any(|e| e["event"] == "detached" || e["event"] == "partition_written"), "{seen:?}");
}
