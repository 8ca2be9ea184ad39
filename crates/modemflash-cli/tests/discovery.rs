//! `list`, `info`, `doctor`, `setup udev`, `completions`, `manpage` as a user runs them:
//! against fake sysfs/dev/proc trees (`--root`, a hidden test hook) and the virtual
//! modules of `modemflash sim` behind ptys and TCP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

fn mf(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("modemflash").unwrap().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn w(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, format!("{s}\n")).unwrap();
}

/// One interface: number, class triple, driver, tty.
type If<'a> = (u8, (u8, u8, u8), Option<&'a str>, Option<&'a str>);

/// A USB device under `root/sys/bus/usb/devices`.
fn device(root: &Path, path: &str, id: (u16, u16), ifaces: &[If<'_>]) {
    let sys = root.join("sys/bus/usb/devices");
    let dir = sys.join(path);
    w(&dir.join("idVendor"), &format!("{:04x}", id.0));
    w(&dir.join("idProduct"), &format!("{:04x}", id.1));
    w(&dir.join("speed"), "480");
    w(&dir.join("busnum"), "1");
    w(&dir.join("devnum"), "5");
    w(&dir.join("power/control"), "auto");
    for (n, class, driver, tty) in ifaces {
        let i = dir.join(format!("{path}:1.{n}"));
        w(&i.join("bInterfaceNumber"), &format!("{n:02x}"));
        w(&i.join("bInterfaceClass"), &format!("{:02x}", class.0));
        w(&i.join("bInterfaceSubClass"), &format!("{:02x}", class.1));
        w(&i.join("bInterfaceProtocol"), &format!("{:02x}", class.2));
        if let Some(d) = driver {
            let target = root.join("sys/bus/usb/drivers").join(d);
            fs::create_dir_all(&target).unwrap();
            std::os::unix::fs::symlink(&target, i.join("driver")).unwrap();
        }
        if let Some(t) = tty {
            fs::create_dir_all(i.join(t).join("tty").join(t)).unwrap();
        }
    }
    fs::create_dir_all(root.join("dev")).unwrap();
}

const V: (u8, u8, u8) = (0xff, 0xff, 0xff);

fn ec20(root: &Path, path: &str) {
    device(
        root,
        path,
        (0x05c6, 0x9215),
        &[
            (0, V, Some("qcserial"), Some("ttyUSB0")),
            (1, V, Some("qcserial"), Some("ttyUSB1")),
            (2, V, Some("qcserial"), Some("ttyUSB2")),
            (3, V, Some("qcserial"), Some("ttyUSB3")),
            (4, V, Some("qmi_wwan"), None),
        ],
    );
}

mod common;
use common::SimProcess;

#[test]
fn list_shows_modules_in_every_mode_and_exits_3_on_an_empty_bus() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let (code, out, err) = mf(&["list", "--root", root]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(err.contains("No module found on USB"), "{err}");
    let (code, out, _) = mf(&["list", "--root", root, "--json"]);
    assert_eq!((code, out.trim()), (Some(3), "{\"modules\":[]}"));

    ec20(tmp.path(), "1-1.2");
    device(tmp.path(), "1-1.3", (0x05c6, 0x9008), &[(0, V, Some("qcserial"), Some("ttyUSB9"))]);
    device(tmp.path(), "1-1.4", (0x18d1, 0xd00d), &[(0, (0xff, 0x42, 0x03), None, None)]);
    // An EC20 R1 in DLOAD: the normal-mode id with one interface (the field log).
    device(tmp.path(), "1-1.5", (0x05c6, 0x9215), &[(0, V, Some("qcserial"), Some("ttyUSB7"))]);
    device(tmp.path(), "1-2", (0x046d, 0xc52b), &[(0, (3, 1, 1), Some("usbhid"), None)]);
    let (code, out, err) = mf(&["list", "--root", root]);
    assert_eq!(code, Some(0), "{err}");
    for want in [
        "usb:1-1.2",
        "05c6:9215  EC20 R1  [normal mode]",
        "chipset MDM9615",
        "if0 DM/DIAG",
        "ttyUSB0",
        "if2 AT",
        "usb:1-1.3",
        "[EDL (QDLoader 9008) mode]",
        "usb:1-1.4",
        "[fastboot mode]",
        "usb:1-1.5",
        "05c6:9215  EC20 R1  [DLOAD mode]",
        "(no driver)",
    ] {
        assert!(out.contains(want), "list lacks {want:?}:\n{out}");
    }
    assert!(!out.contains("046d"), "{out}");
    let (_, json, _) = mf(&["list", "--root", root, "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let paths: Vec<&str> =
        v["modules"].as_array().unwrap().iter().map(|m| m["usb_path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["1-1.2", "1-1.3", "1-1.4", "1-1.5"]);
    assert_eq!(v["modules"][3]["mode"], "dload");
    assert_eq!(v["modules"][0]["ports"][2]["role"], "at");
}

#[test]
fn info_through_usb_discovery_reads_the_module_behind_its_ttys() {
    // A fake sysfs EC20 R1 whose ttyUSB0/ttyUSB2 are the simulator's DM and AT ptys.
    let tmp = tempfile::tempdir().unwrap();
    let sim = SimProcess::spawn(&["--model", "ec20-r1", "--fastboot-tcp", "127.0.0.1:0"]);
    let eps = sim.first.clone();
    ec20(tmp.path(), "1-1.2");
    let tty = |role: &str| -> PathBuf {
        let e = eps["endpoints"].as_array().unwrap().iter().find(|e| e["role"] == role).unwrap();
        PathBuf::from(e["tty"].as_str().unwrap())
    };
    std::os::unix::fs::symlink(tty("dm"), tmp.path().join("dev/ttyUSB0")).unwrap();
    std::os::unix::fs::symlink(tty("at"), tmp.path().join("dev/ttyUSB2")).unwrap();
    let root = tmp.path().to_str().unwrap();

    let (code, out, err) = mf(&["info", "--root", root, "--json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["usb"]["usb_path"], "1-1.2");
    assert_eq!(v["mode"], "normal");
    assert_eq!(v["identity"]["revision"], "EC20AQAR02A03E2G");
    assert_eq!(v["identity"]["chipset"], "mdm9615");
    let sources = v["identity"]["sources"].to_string();
    assert!(
        sources.contains("DIAG 0x7C") && sources.contains("ttyUSB0") && sources.contains("ATI"),
        "{sources}"
    );

    let (code, out, _) = mf(&["info", "--root", root, "--device", "usb:05c6:9215"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Module:    EC20 R1 (05c6:9215) at usb:1-1.2"), "{out}");
    assert!(out.contains("Revision:  EC20AQAR02A03E2G"), "{out}");
    drop(sim);
}

#[test]
fn info_through_explicit_ports_serial_and_tcp() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let sim = SimProcess::spawn(&[
        "--model",
        "ec25",
        "--tty-dir",
        dir.to_str().unwrap(),
        "--fastboot-tcp",
        "127.0.0.1:0",
    ]);
    let sel = format!("serial:{}", dir.join("dm").display());
    let (code, out, err) = mf(&["info", "--device", &sel]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Revision:  EC25EFAR06A08M4G"), "{out}");
    assert!(out.contains("Full:      EC25EFAR06A08M4G_"), "{out}");
    assert!(out.contains("Chipset:   MDM9x07"), "{out}");
    drop(sim);

    let sim =
        SimProcess::spawn(&["--model", "ec25", "--start-mode", "fastboot", "--fastboot-tcp", "127.0.0.1:0"]);
    let eps = sim.first.clone();
    let addr = eps["endpoints"][0]["tcp"].as_str().unwrap().to_owned();
    let (code, out, err) = mf(&["info", "--device", &format!("tcp:{addr}"), "--json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["mode"], "fastboot");
    assert_eq!(v["fastboot"]["product"], "MDM9607");
    drop(sim);
}

#[test]
fn info_usage_errors_and_missing_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let (code, _, err) = mf(&["info", "--device", "/dev/ttyUSB0"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("expected usb:BUS-PORT"), "{err}");
    assert_eq!(mf(&["info", "--device", "usb:zz:1"]).0, Some(64));
    assert_eq!(mf(&["info", "--root", root]).0, Some(3));
    ec20(tmp.path(), "1-1");
    ec20(tmp.path(), "1-2");
    let (code, _, err) = mf(&["info", "--root", root]);
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("2 modules") && err.contains("--device usb:BUS-PORT"), "{err}");
    assert_eq!(mf(&["info", "--root", root, "--device", "usb:3-1"]).0, Some(3));
    // A serial port where nothing answers.
    let (code, _, err) = mf(&["info", "--device", "serial:/nonexistent/ttyUSB0"]);
    assert_eq!(code, Some(3), "{err}");
}

#[test]
fn doctor_words_findings_and_remedies() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ec20(root, "1-1.2");
    // ModemManager holds the AT tty.
    let mm = root.join("proc/812");
    w(&mm.join("comm"), "ModemManager");
    fs::create_dir_all(mm.join("fd")).unwrap();
    std::os::unix::fs::symlink(root.join("dev/ttyUSB2"), mm.join("fd/7")).unwrap();
    w(&root.join("proc/self/status"), "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t");
    let r = root.to_str().unwrap();

    let (code, out, _) = mf(&["doctor", "--root", r]);
    assert_eq!(code, Some(1), "{out}");
    for want in [
        "EC20 R1 (05c6:9215) at usb:1-1.2, normal mode",
        "[PROBLEM] ModemManager (pid 812) has",
        "sudo systemctl stop ModemManager",
        "bound to qcserial",
        "running as root",
        "70-modemflash.rules is not installed",
        "sudo modemflash setup udev",
        "USB autosuspend is on for usb:1-1.2",
        "Result: 1 problem(s)",
    ] {
        assert!(out.contains(want), "doctor lacks {want:?}:\n{out}");
    }
    let (code, json, _) = mf(&["doctor", "--root", r, "--json"]);
    assert_eq!(code, Some(1));
    let v: Value = serde_json::from_str(&json).unwrap();
    let mm = v["checks"].as_array().unwrap().iter().find(|c| c["id"] == "modem-manager").unwrap();
    assert_eq!(mm["status"], "problem");
    assert!(mm["findings"].to_string().contains("\"remedy\":\"stop-service\""));

    // With the rules installed and ModemManager gone, nothing is a problem.
    fs::remove_dir_all(root.join("proc/812")).unwrap();
    let (code, out, err) =
        mf(&["setup", "udev", "--dir", root.join("etc/udev/rules.d").to_str().unwrap(), "--no-reload"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, _) = mf(&["doctor", "--root", r]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("covers every catalogue id"), "{out}");
}

#[test]
fn setup_udev_print_is_the_packaged_file() {
    let (code, out, _) = mf(&["setup", "udev", "--print"]);
    assert_eq!(code, Some(0));
    let packaged =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/udev/70-modemflash.rules"))
            .unwrap();
    assert_eq!(out, packaged);
    assert!(out.contains("ATTR{idVendor}==\"05c6\", ATTR{idProduct}==\"9008\""));
    let (code, _, err) = mf(&["setup", "udev", "--dir", "/proc/modemflash-cannot-write", "--no-reload"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot write"), "{err}");
    assert_eq!(mf(&["setup"]).0, Some(64));
    assert_eq!(mf(&["setup", "printer"]).0, Some(64));
}

#[test]
fn completions_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, out, _) = mf(&["completions", shell]);
        assert_eq!(code, Some(0), "{shell}");
        assert!(out.contains("modemflash") && out.contains("doctor"), "{shell}");
    }
    assert_eq!(mf(&["completions", "tcsh"]).0, Some(64));
    let (code, out, _) = mf(&["manpage"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with(".ie") || out.contains(".TH modemflash"), "{}", &out[..200.min(out.len())]);
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = mf(&["manpage", "--dir", tmp.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    for page in [
        "modemflash.1",
        "modemflash-list.1",
        "modemflash-info.1",
        "modemflash-doctor.1",
        "modemflash-setup.1",
    ] {
        assert!(tmp.path().join(page).exists(), "{page}");
    }
}

#[test]
fn help_has_examples_and_exit_codes() {
    for cmd in ["list", "info", "doctor", "setup", "completions", "manpage"] {
        let (code, out, _) = mf(&[cmd, "--help"]);
        assert_eq!(code, Some(0), "{cmd}");
        assert!(out.contains("Examples:"), "{cmd} --help lacks examples:\n{out}");
        assert!(!out.contains("--root"), "the test hook stays hidden");
    }
    let (_, out, _) = mf(&["info", "--help"]);
    assert!(out.contains("usb:VID:PID[:SERIAL]") && out.contains("Exit codes:"), "{out}");
}
