//! `modemflash update --record` against `modemflash sim` as a process, then `modemflash
//! update --replay` of that recording with no simulator running; and `modemflash report`
//! built from that session, which must leave out the module's IMEI and serial numbers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use modemflash_sim::builder::{self, LegacySpec};

mod common;
use common::SimProcess;

const NEW_REV: &str = "EC20AQAR02A04E2G";
const IMEI: &str = "864509031234566";
const FASTBOOT_SERIAL: &str = "c0ffee42";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn modemflash(state: &Path) -> Command {
    let mut c = Command::cargo_bin("modemflash").unwrap();
    c.env("XDG_STATE_HOME", state);
    c
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn an_update_recorded_against_the_simulator_replays_without_it_and_reports_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(NEW_REV);
    builder::write_legacy(&pkg, &LegacySpec::default()).unwrap();
    let ttys = tmp.path().join("ttys");
    std::fs::create_dir(&ttys).unwrap();
    let state = tmp.path().join("state");
    let rec = tmp.path().join("update.jsonl");
    let port = free_port();
    let fastboot = format!("127.0.0.1:{port}");
    let sim = SimProcess::spawn(&[
        "--model",
        "ec20-r1",
        "--reenum-delay",
        "0.3",
        "--tty-dir",
        ttys.to_str().unwrap(),
        "--fastboot-tcp",
        &fastboot,
        "--imei",
        IMEI,
        "--fastboot-serial",
        FASTBOOT_SERIAL,
    ]);
    let out = modemflash(&state)
        .arg("update")
        .arg(&pkg)
        .arg("--port")
        .arg(ttys.join("dm"))
        .args(["--fastboot", &format!("tcp:{fastboot}"), "--yes", "--json", "--timeout", "60"])
        .arg("--journal")
        .arg(tmp.path().join("journal.json"))
        .arg("--record")
        .arg(&rec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    drop(sim);
    let recording = std::fs::read_to_string(&rec).unwrap();
    assert!(recording.contains(IMEI), "the module's IMEI was read over AT+GSN and recorded");
    assert!(recording.contains("\"kind\":\"tty\"") && recording.contains("\"kind\":\"tcp\""));
    // The last session keeps a copy for `report`.
    let last = state.join("modemflash/last-session");
    assert_eq!(std::fs::read_to_string(last.join("recording.jsonl")).unwrap(), recording);
    assert!(std::fs::read_to_string(last.join("events.jsonl")).unwrap().contains("step_started"));

    // No simulator any more: the replay answers alone, and matches.
    let replay_state = tmp.path().join("replay-state");
    let out = modemflash(&replay_state)
        .arg("update")
        .arg(&pkg)
        .args(["--yes", "--json", "--replay"])
        .arg(&rec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().last().unwrap().contains(NEW_REV), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("matched the recording"));
    // A replay is no session of a module: it keeps nothing.
    assert!(!replay_state.join("modemflash/last-session/recording.jsonl").exists());

    // A changed image: the replay stops and names the endpoint and the byte.
    let sysimg = pkg.join("9615-cdp-usr-image.usrfs.yaffs2");
    let mut data = std::fs::read(&sysimg).unwrap();
    data[5000] ^= 0xff;
    std::fs::write(&sysimg, data).unwrap();
    let out = modemflash(&replay_state)
        .arg("update")
        .arg(&pkg)
        .args(["--yes", "--replay"])
        .arg(&rec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("replay diverged on tcp:") && err.contains("fastboot:flash:userdata"), "{err}");
    assert!(err.contains("sha256"), "{err}");

    // The bug report from the recorded session leaves the identity out.
    let zip_path = tmp.path().join("report.zip");
    let out = modemflash(&state).args(["report", "--out"]).arg(&zip_path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IMEI: 86…") && err.contains("fastboot serialno"), "{err}");
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut names = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        names.push(name.clone());
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert!(!s.contains(IMEI), "{name} holds the IMEI");
        assert!(!s.contains(FASTBOOT_SERIAL), "{name} holds the fastboot serial");
        if name == "REDACTED.txt" {
            assert!(s.contains("IMEI"), "{s}");
        }
    }
    for want in ["system.txt", "doctor.json", "list.json", "last-session/recording.jsonl", "REDACTED.txt"] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    // --no-redact keeps them.
    let out = modemflash(&state).args(["report", "--no-redact", "--out"]).arg(&zip_path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut s = String::new();
    z.by_name("last-session/recording.jsonl").unwrap().read_to_string(&mut s).unwrap();
    assert!(s.contains(IMEI));
}

/// `info --record` against the simulator, then `info --replay` with no simulator: the same
/// identity, read from the recording.
#[test]
fn info_recorded_and_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let ttys = tmp.path().join("ttys");
    std::fs::create_dir(&ttys).unwrap();
    let fastboot = format!("127.0.0.1:{}", free_port());
    let rec = tmp.path().join("info.jsonl");
    let sim = SimProcess::spawn(&[
        "--model",
        "ec25",
        "--tty-dir",
        ttys.to_str().unwrap(),
        "--fastboot-tcp",
        &fastboot,
        "--imei",
        IMEI,
    ]);
    let dm = format!("serial:{}", ttys.join("dm").display());
    let out = modemflash(tmp.path())
        .args(["info", "--json", "--device", &dm, "--record"])
        .arg(&rec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let live: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(live["identity"]["imei"], IMEI, "{live}");
    // plan probes the module too: recorded, then replayed to the same plan.
    let spec = builder::FirehoseSpec::default();
    let pkg = tmp.path().join(&spec.revision);
    builder::write_firehose(&pkg, &spec).unwrap();
    let plan_rec = tmp.path().join("plan.jsonl");
    let journal = tmp.path().join("journal.json");
    let plan = |extra: &[&std::ffi::OsStr]| {
        modemflash(tmp.path())
            .arg("plan")
            .arg(&pkg)
            .arg("--json")
            .arg("--journal")
            .arg(&journal)
            .args(extra)
            .output()
            .unwrap()
    };
    let dm_tty = ttys.join("dm");
    let fb = format!("tcp:{fastboot}");
    let out = plan(&[
        "--port".as_ref(),
        dm_tty.as_os_str(),
        "--fastboot".as_ref(),
        fb.as_ref(),
        "--record".as_ref(),
        plan_rec.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let live_plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    drop(sim);
    let out = modemflash(tmp.path()).args(["info", "--json", "--replay"]).arg(&rec).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let replayed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed["identity"], live["identity"]);
    assert_eq!(replayed["mode"], live["mode"]);
    let out = plan(&["--replay".as_ref(), plan_rec.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let replayed_plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed_plan["steps"], live_plan["steps"]);
    assert_eq!(replayed_plan["revision_before"], live_plan["revision_before"]);
    // An info recording is not a plan's: the replay says where they part.
    let out = plan(&["--replay".as_ref(), rec.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("replay diverged"), "{}", text(&out));
}

/// `list --record` keeps the USB listing; `list --replay` shows it again.
#[test]
fn list_recorded_and_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let dev = root.join("sys/bus/usb/devices/1-2");
    for (f, v) in [("idVendor", "2c7c"), ("idProduct", "0125"), ("speed", "480"), ("serial", "QX9777ABC")] {
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join(f), format!("{v}\n")).unwrap();
    }
    std::fs::create_dir_all(root.join("dev")).unwrap();
    let rec = tmp.path().join("list.jsonl");
    let out = modemflash(tmp.path())
        .args(["list", "--json", "--root"])
        .arg(&root)
        .arg("--record")
        .arg(&rec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let live: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(live["modules"][0]["usb_path"], "1-2", "{live}");
    let out = modemflash(tmp.path()).args(["list", "--json", "--replay"]).arg(&rec).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let replayed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed, live);
    let out = modemflash(tmp.path()).args(["list", "--replay"]).arg(&rec).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("usb:1-2"), "{}", text(&out));
}
