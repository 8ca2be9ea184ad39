//! `modemflash sim` as a separate process: JSON lines, endpoints, fastboot over TCP,
//! SIGTERM, usage errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::io::Cursor;
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use modemflash::protocol::fastboot::{FastbootClient, FastbootOptions, FastbootTcp};
use modemflash::transport::tcp::TcpTransport;

mod common;
use common::SimProcess;

#[test]
fn fastboot_mode_prints_endpoints_then_partition_written() {
    let mut sim =
        SimProcess::spawn(&["--model", "ec25", "--start-mode", "fastboot", "--fastboot-tcp", "127.0.0.1:0"]);
    let first = sim.first.clone();
    assert_eq!(first["mode"], "fastboot");
    let eps = first["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0]["role"], "fastboot");
    let addr = eps[0]["tcp"].as_str().unwrap().to_owned();

    let t = TcpTransport::connect(addr.as_str(), Duration::from_secs(5)).unwrap();
    let t = FastbootTcp::client_handshake(t, Duration::from_secs(5)).unwrap();
    let mut fb = FastbootClient::new(t, FastbootOptions::default());
    assert_eq!(fb.getvar("product").unwrap(), "MDM9607");
    fb.download(&mut Cursor::new(b"hello world"), 11, &mut |_, _| {}).unwrap();
    fb.flash("boot").unwrap();
    let w = sim.next_event("partition_written");
    assert_eq!(w["name"], "boot");
    assert_eq!(w["size"], 11);
    assert_eq!(w["sha256"], "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
    drop(fb);

    // SIGTERM ends it cleanly.
    let status = Command::new("kill").arg("-TERM").arg(sim.child.id().to_string()).status().unwrap();
    assert!(status.success());
    let d = sim.next_event("detached");
    assert_eq!(d["reason"], "power off");
    assert!(sim.child.wait().unwrap().success());
}

#[test]
fn normal_mode_serves_ptys_behind_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ports");
    let sim = SimProcess::spawn(&[
        "--model",
        "ec20-r1",
        "--tty-dir",
        dir.to_str().unwrap(),
        "--fastboot-tcp",
        "127.0.0.1:0",
    ]);
    let first = sim.first.clone();
    assert_eq!(first["mode"], "normal");
    // The field user's Windows ids: USB\VID_05C6&PID_9215&REV_0232&MI_00..MI_04.
    assert_eq!(first["usb_id"], "05c6:9215");
    assert_eq!(
        (first["usb"]["bcd_device"].as_str(), first["usb"]["interfaces"].as_u64()),
        (Some("0232"), Some(5))
    );
    let eps = first["endpoints"].as_array().unwrap();
    let roles: Vec<&str> = eps.iter().map(|e| e["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["dm", "at"]);
    for ep in eps {
        let tty = ep["tty"].as_str().unwrap();
        let link = std::fs::read_link(dir.join(ep["role"].as_str().unwrap())).unwrap();
        assert_eq!(link.to_str().unwrap(), tty);
    }
    assert_eq!(sim.next_event("booted")["revision"], "EC20AQAR02A03E2G");
}

#[test]
fn usage_errors_exit_64_and_help_teaches() {
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("modemflash").unwrap().arg("sim").args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert_eq!(run(&["--model", "ec99"]).0, Some(64));
    assert_eq!(run(&[]).0, Some(64));
    assert_eq!(run(&["--model", "ec25", "--fault", "explode"]).0, Some(64));
    assert_eq!(run(&["--model", "ec25", "--fastboot-tcp", "localhost"]).0, Some(64));
    assert_eq!(run(&["--model", "ec25", "--start-mode", "sleep"]).0, Some(64));
    assert_eq!(run(&["--model", "ec25", "--reenum-delay", "-1"]).0, Some(64));
    assert_eq!(run(&["--model", "ec25", "--qfastboot", "--no-qfastboot"]).0, Some(64));
    let (code, help) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for want in
        ["Examples:", "fastboot -s tcp:127.0.0.1:5554 getvar product", "--tty-dir", "partition_written"]
    {
        assert!(help.contains(want), "help lacks {want:?}:\n{help}");
    }
}
