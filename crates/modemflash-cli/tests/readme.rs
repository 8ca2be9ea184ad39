//! Every command README.md shows, run as a process the way a user runs it, at the
//! documented defaults, checking the documented outcome. (The one deviation: the
//! simulator's fastboot port is a free one, since tests run in parallel.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use modemflash_sim::builder::{self, LegacySpec};

mod common;

const NEW_REV: &str = "EC20AQAR02A04E2G";

fn modemflash(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("modemflash").unwrap().args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `modemflash demo`: the revision before and after and the time taken.
#[test]
fn readme_demo() {
    let out = modemflash(&["demo"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains("Revision before: EC20AQAR02A03E2G"), "{so}");
    assert!(so.contains(&format!("Revision after:  {NEW_REV}")), "{so}");
    assert!(so.contains("Time taken:"), "{so}");
}

/// `modemflash demo --start-mode fastboot`: the field user's stuck module is finished.
#[test]
fn readme_demo_from_the_stuck_state() {
    let out = modemflash(&["demo", "--start-mode", "fastboot"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains("in fastboot mode"), "{so}");
    assert!(so.contains("fastboot flash system"), "{so}");
    assert!(so.contains(&format!("Revision after:  {NEW_REV}")), "{so}");
}

/// The stuck module takes a package of field size (the field package's images are 10 to
/// 35 MB; its system image is about 10 MB, usrfs 29 MB).
#[test]
fn the_stuck_module_takes_a_field_sized_package() {
    let out = modemflash(&["demo", "--start-mode", "fastboot", "--size-mib", "32"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains(&format!("Revision after:  {NEW_REV}")), "{so}");
}

/// A failed demo says so and does not print "Revision after" or a time as if it finished.
#[test]
fn a_failed_demo_does_not_claim_to_have_finished() {
    // Bigger than the virtual module's system partition.
    let out = modemflash(&["demo", "--start-mode", "fastboot", "--size-mib", "64"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    assert!(!so.contains("Revision after"), "{so}");
    assert!(!so.contains("Time taken"), "{so}");
    assert!(se.contains("did not finish"), "{se}");
    assert!(se.contains("refused"), "{se}");
}

/// `modemflash demo --model ec25`: the MDM9x07 path through EDL, Sahara and Firehose.
#[test]
fn readme_demo_ec25() {
    let out = modemflash(&["demo", "--model", "ec25"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains("EC25 (MDM9x07)"), "{so}");
    assert!(so.contains("Sahara") || so.contains("programmer"), "{so}");
    let before = so.lines().find_map(|l| l.strip_prefix("Revision before: ")).unwrap();
    let after = so.lines().find_map(|l| l.strip_prefix("Revision after:  ")).unwrap();
    assert_ne!(before, after, "{so}");
}

/// The sample package (`build_package legacy DIR`, default size) and `modemflash inspect DIR`.
#[test]
fn readme_inspect_the_sample_package() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(NEW_REV);
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    let out = modemflash(&["inspect", pkg.to_str().unwrap()]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains("MDM9615"), "{so}");
    assert!(so.contains("NPRG9x15.hex"), "{so}");
    assert!(so.contains(NEW_REV), "{so}");
    let json = modemflash(&["inspect", pkg.to_str().unwrap(), "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(doc["files"].as_array().is_some_and(|f| !f.is_empty()), "{doc}");
}

/// `modemflash sim --model ec20-r1 --tty-dir DIR [--start-mode fastboot]` and
/// `modemflash update PKG --port DIR/dm --fastboot tcp:127.0.0.1:PORT --yes`.
#[cfg(unix)]
#[test]
fn readme_sim_and_update() {
    for start in ["normal", "fastboot"] {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join(NEW_REV);
        builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
        let ttys = tmp.path().join("ec20");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let fb = format!("127.0.0.1:{port}");
        let ttys_s = ttys.to_str().unwrap();
        let _sim = common::SimProcess::spawn(&[
            "--model",
            "ec20-r1",
            "--tty-dir",
            ttys_s,
            "--start-mode",
            start,
            "--fastboot-tcp",
            &fb,
        ]);
        let out = Command::cargo_bin("modemflash")
            .unwrap()
            .arg("update")
            .arg(&pkg)
            .arg("--port")
            .arg(ttys.join("dm"))
            .args(["--fastboot", &format!("tcp:{fb}"), "--yes"])
            .env("XDG_STATE_HOME", tmp.path().join("state"))
            .output()
            .unwrap();
        let (so, se) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "from {start}: {so}\n{se}");
        assert!(so.contains(&format!("→ {NEW_REV}")), "{so}");
    }
}

/// `modemflash list`: the modules on USB, or exit 3 with what to do when there is none.
#[test]
fn readme_list() {
    let out = modemflash(&["list"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    match out.status.code() {
        Some(0) => assert!(so.contains("usb:"), "{so}"),
        Some(3) => assert!(se.contains("No module found on USB") && se.contains("doctor"), "{se}"),
        other => panic!("list exited {other:?}: {so}\n{se}"),
    }
    let json = modemflash(&["list", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(doc["modules"].is_array(), "{doc}");
}

/// `modemflash doctor`: every check with its status and a summary line.
#[test]
fn readme_doctor() {
    let out = modemflash(&["doctor"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{so}\n{se}");
    assert!(so.contains("ModemManager"), "{so}");
    assert!(so.contains("Result:"), "{so}");
}
