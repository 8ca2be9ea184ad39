//! A client nobody here wrote must accept the virtual module: AOSP's `fastboot` (Debian
//! package `fastboot`) over TCP. Skipped, visibly, when the client is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use modemflash::module::{DeviceMode, Port};
use modemflash_sim::{Model, Module, ModuleConfig, RealClock, Serving, SimEvent};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(30);

fn have_fastboot() -> bool {
    Command::new("fastboot")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Run `fastboot -s tcp:ADDR ARGS…`, killing it if it hangs.
fn fastboot(addr: &str, args: &[&str]) -> Output {
    let mut child = Command::new("fastboot")
        .arg("-s")
        .arg(format!("tcp:{addr}"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > WAIT {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("fastboot {args:?} hung; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fastboot {args:?} failed ({}): {text}", out.status);
    eprintln!("fastboot {args:?}:\n{text}");
    out
}

fn sha256(d: &[u8]) -> String {
    Sha256::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

fn write_file(dir: &Path, name: &str, len: usize, seed: u32) -> (std::path::PathBuf, String) {
    let data: Vec<u8> = (0..len as u32).map(|i| (i.wrapping_mul(seed) ^ (i >> 11)) as u8).collect();
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    (path, sha256(&data))
}

#[test]
fn aosp_fastboot_getvar_flash_reboot() {
    if !have_fastboot() {
        eprintln!("SKIPPED: fastboot client not installed (apt-get install fastboot)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut c = ModuleConfig::new(Model::Ec20R1);
    c.start_mode = DeviceMode::Fastboot;
    c.reenum_delay = Duration::from_millis(300);
    // Small enough that the system image below must be sent as sparse pieces.
    c.fastboot.max_download_size = 256 * 1024;
    let serving = Serving::external(Some(tmp.path().join("tty")), "127.0.0.1:0".parse().unwrap());
    std::fs::create_dir_all(tmp.path().join("tty")).unwrap();
    let m = Module::start_serving(c, Arc::new(RealClock::default()), serving);
    let e = m.bus().wait_for(&[DeviceMode::Fastboot], WAIT).unwrap();
    let addr = e.endpoints.iter().find(|e| e.role == Port::Fastboot).unwrap().tcp.clone().unwrap();

    let out = fastboot(&addr, &["getvar", "product"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("product: MDM9615"), "{text}");

    let (boot, boot_sha) = write_file(tmp.path(), "boot.img", 200 * 1024 + 123, 2_654_435_761);
    fastboot(&addr, &["flash", "boot", boot.to_str().unwrap()]);
    assert_eq!(m.with_core(|c| c.nand.sha256("boot")), Some(boot_sha));

    let (system, system_sha) = write_file(tmp.path(), "system.img", 1024 * 1024, 40_503);
    fastboot(&addr, &["flash", "system", system.to_str().unwrap()]);
    let content = m.with_core(|c| c.nand.get("system").unwrap().content.clone());
    assert_eq!((content.len, content.sha256), (1024 * 1024, Some(system_sha)));
    let pieces = m
        .history()
        .iter()
        .filter(|e| matches!(e, SimEvent::PartitionWritten { name, .. } if name == "system"))
        .count();
    assert!(pieces > 1, "the client should have split system.img ({pieces} flash commands)");

    fastboot(&addr, &["erase", "dsp3"]);
    assert!(m.with_core(|c| c.nand.get("dsp3").unwrap().content.is_erased()));

    let generation = m.bus().current().generation;
    fastboot(&addr, &["reboot"]);
    // Back on the bus after the reboot: the Detached event is recorded before the module
    // re-attaches (right after the detach itself, which a waiter can see first).
    m.bus()
        .wait_until("a reboot", |e| e.generation > generation + 1 && e.mode.is_some(), WAIT)
        .expect("the module did not reboot");
    assert!(m.history().iter().any(|e| matches!(e, SimEvent::Detached { .. })));
    m.shutdown();
}
