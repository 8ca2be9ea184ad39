//! The small things a user sees: help texts, the plan header, `info` over fastboot, and the
//! virtual module's state file and tty links.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use modemflash_sim::builder::{self, LegacySpec};

mod common;

fn out(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::cargo_bin("modemflash").unwrap().args(args).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn help_texts_say_what_is_true() {
    let (_, list, _) = out(&["list", "--help"]);
    assert!(!list.contains('\\'), "{list}");
    let (_, update, _) = out(&["update", "--help"]);
    assert!(update.contains("journal-<fingerprint>.json"), "{update}");
    assert!(!update.contains("journal-<package>"), "{update}");
    for code in ["4 declined", "130 stopped"] {
        assert!(update.contains(code), "{code}: {update}");
    }
}

#[test]
fn the_plan_header_names_the_package_kind_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("EC20AQAR02A04E2G");
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    let (code, so, se) = out(&["plan", pkg.to_str().unwrap(), "--assume-mode", "fastboot"]);
    assert_eq!(code, Some(0), "{se}");
    let header = so.lines().next().unwrap();
    assert!(header.contains("(legacy MDM9615 package)"), "{header}");
    assert!(!so.contains("LegacyMdm9615"), "{so}");
}

#[cfg(unix)]
#[test]
fn info_over_fastboot_names_the_chipset() {
    let sim = common::SimProcess::spawn(&[
        "--model",
        "ec20-r1",
        "--start-mode",
        "fastboot",
        "--fastboot-tcp",
        "127.0.0.1:0",
    ]);
    let addr = sim.first["endpoints"][0]["tcp"].as_str().unwrap().to_owned();
    let (code, so, se) = out(&["info", "--device", &format!("tcp:{addr}"), "--json"]);
    assert_eq!(code, Some(0), "{se}");
    let doc: serde_json::Value = serde_json::from_str(&so).unwrap();
    assert_eq!(doc["fastboot"]["product"], "MDM9615", "{doc}");
    assert!(doc["identity"]["chipset"].as_str().is_some_and(|c| c.eq_ignore_ascii_case("mdm9615")), "{doc}");
}

/// A virtual module killed (`kill -9`) right after a write keeps that write in `--state`.
#[cfg(unix)]
#[test]
fn the_state_file_keeps_writes_as_they_land() {
    use modemflash::protocol::fastboot::{FastbootClient, FastbootOptions, FastbootTcp};
    use modemflash::transport::tcp::TcpTransport;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("ec25.json");
    let mut sim = common::SimProcess::spawn(&[
        "--model",
        "ec25",
        "--start-mode",
        "fastboot",
        "--fastboot-tcp",
        "127.0.0.1:0",
        "--state",
        state.to_str().unwrap(),
    ]);
    let addr = sim.first["endpoints"][0]["tcp"].as_str().unwrap().to_owned();
    let t = TcpTransport::connect(addr.as_str(), Duration::from_secs(5)).unwrap();
    let t = FastbootTcp::client_handshake(t, Duration::from_secs(5)).unwrap();
    let mut fb = FastbootClient::new(t, FastbootOptions::default());
    fb.download(&mut std::io::Cursor::new(b"landed before the kill"), 22, &mut |_, _| {}).unwrap();
    fb.flash("boot").unwrap();
    let w = sim.next_event("partition_written");
    sim.child.kill().unwrap();
    sim.child.wait().unwrap();
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains(w["sha256"].as_str().unwrap()), "{saved}");
}

/// Links a killed simulator left in `--tty-dir` are gone when the next one starts; other
/// files there are left alone.
#[cfg(unix)]
#[test]
fn stale_tty_links_are_removed_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ttys");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/pts/nonexistent-1", dir.join("edl")).unwrap();
    std::os::unix::fs::symlink("/dev/pts/nonexistent-2", dir.join("dm")).unwrap();
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let _sim = common::SimProcess::spawn(&[
        "--model",
        "ec25",
        "--tty-dir",
        dir.to_str().unwrap(),
        "--fastboot-tcp",
        "127.0.0.1:0",
    ]);
    assert!(std::fs::symlink_metadata(dir.join("edl")).is_err(), "stale edl link kept");
    assert!(dir.join("dm").exists(), "dm should point at a live pty");
    assert!(dir.join("notes.txt").exists());
}

/// `modemflash sim … | head -1`: the reader goes away, the virtual module keeps serving.
#[cfg(unix)]
#[test]
fn a_sim_whose_reader_left_keeps_serving() {
    use std::io::BufRead;
    use std::process::Stdio;

    use modemflash::protocol::fastboot::{FastbootClient, FastbootOptions, FastbootTcp};
    use modemflash::transport::tcp::TcpTransport;
    let mut child = Command::cargo_bin("modemflash")
        .unwrap()
        .args([
            "sim",
            "--model",
            "ec25",
            "--start-mode",
            "fastboot",
            "--fastboot-tcp",
            "127.0.0.1:0",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    let addr = v["endpoints"][0]["tcp"].as_str().unwrap().to_owned();
    let connect = || {
        let t = TcpTransport::connect(addr.as_str(), Duration::from_secs(5)).unwrap();
        FastbootClient::new(
            FastbootTcp::client_handshake(t, Duration::from_secs(5)).unwrap(),
            FastbootOptions::default(),
        )
    };
    let mut fb = connect();
    // Each write is an event the simulator can no longer print.
    for _ in 0..3 {
        fb.download(&mut std::io::Cursor::new(b"abc"), 3, &mut |_, _| {}).unwrap();
        fb.flash("boot").unwrap();
    }
    assert_eq!(fb.getvar("product").unwrap(), "MDM9607");
    assert!(child.try_wait().unwrap().is_none(), "the simulator exited");
    let _ = child.kill();
    let _ = child.wait();
}
