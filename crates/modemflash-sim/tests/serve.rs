//! A module served outside the process: fastboot on TCP (AOSP framing), DM/AT on ptys with
//! stable symlinks, on the real clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use modemflash::module::{DeviceMode, Port};
use modemflash::protocol::at::AtClient;
use modemflash::protocol::fastboot::{FastbootClient, FastbootOptions, FastbootTcp};
use modemflash::transport::Transport;
use modemflash::transport::serial::SerialTransport;
use modemflash::transport::tcp::TcpTransport;
use modemflash_sim::{Model, Module, ModuleConfig, RealClock, Serving, SimEvent};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(20);

fn serve(model: Model, mode: DeviceMode, tty_dir: &Path) -> Module {
    let mut c = ModuleConfig::new(model);
    c.start_mode = mode;
    c.reenum_delay = Duration::from_millis(300);
    let serving = Serving::external(Some(tty_dir.to_owned()), "127.0.0.1:0".parse().unwrap());
    Module::start_serving(c, Arc::new(RealClock::default()), serving)
}

fn fastboot_tcp(addr: &str) -> FastbootClient<FastbootTcp<TcpTransport>> {
    let t = TcpTransport::connect(addr, Duration::from_secs(5)).unwrap();
    let t = FastbootTcp::client_handshake(t, Duration::from_secs(5)).unwrap();
    FastbootClient::new(t, FastbootOptions::default())
}

fn tcp_endpoint(m: &Module) -> String {
    let e = m.bus().wait_for(&[DeviceMode::Fastboot], WAIT).unwrap();
    let ep = e.endpoints.iter().find(|e| e.role == Port::Fastboot).unwrap();
    ep.tcp.clone().expect("fastboot is served on TCP")
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn fastboot_over_tcp_flashes_and_reboots() {
    let tty = tempfile::tempdir().unwrap();
    let m = serve(Model::Ec25, DeviceMode::Fastboot, tty.path());
    let addr = tcp_endpoint(&m);
    assert!(addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"), "{addr}");
    // The endpoints event reports the bound port too.
    let reported = m.history().into_iter().find_map(|e| match e {
        SimEvent::Endpoints { mode: DeviceMode::Fastboot, endpoints, .. } => endpoints[0].tcp.clone(),
        _ => None,
    });
    assert_eq!(reported.as_deref(), Some(addr.as_str()));
    // No tty in fastboot: no symlinks.
    assert!(!tty.path().join("dm").exists());

    let mut fb = fastboot_tcp(&addr);
    assert_eq!(fb.getvar("product").unwrap(), "MDM9607");
    // Bigger than one TCP read on the device side.
    let image: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + (i >> 9)) as u8).collect();
    fb.download(&mut Cursor::new(&image), image.len() as u64, &mut |_, _| {}).unwrap();
    fb.flash("boot").unwrap();
    let want: String = Sha256::digest(&image).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(m.with_core(|c| c.nand.sha256("boot")), Some(want));

    // A second connection sees the same bootloader.
    let mut other = fastboot_tcp(&addr);
    assert_eq!(other.getvar("version").unwrap(), "0.5");
    drop(other);

    let old_gen = m.bus().current().generation;
    fb.reboot().unwrap();
    // The connection closes, the module re-enumerates (still fastboot: temporary aboot)
    // on the same port.
    m.bus()
        .wait_until(
            "re-enumeration",
            |e| e.generation > old_gen + 1 && e.mode == Some(DeviceMode::Fastboot),
            WAIT,
        )
        .unwrap();
    let mut buf = [0u8; 64];
    let t1 = Instant::now();
    loop {
        match fb.transport_mut().recv(&mut buf, Duration::from_millis(200)) {
            Err(modemflash::transport::TransportError::Disconnected) => break,
            _ => assert!(t1.elapsed() < WAIT, "old connection never closed"),
        }
    }
    assert_eq!(tcp_endpoint(&m), addr, "port kept across re-enumeration");
    let mut fb = fastboot_tcp(&addr);
    assert_eq!(fb.getvar("product").unwrap(), "MDM9607");
    m.shutdown();
}

#[test]
fn ptys_and_symlinks_follow_the_enumeration() {
    let tty = tempfile::tempdir().unwrap();
    let m = serve(Model::Ec20R1, DeviceMode::Normal, tty.path());
    m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();
    let dm = tty.path().join("dm");
    let at = tty.path().join("at");
    for link in [&dm, &at] {
        let target = std::fs::read_link(link).unwrap();
        assert!(target.starts_with("/dev/pts/"), "{}", target.display());
    }
    let e = m.bus().current();
    let dm_tty = e.endpoints.iter().find(|e| e.role == Port::Dm).unwrap().tty.clone().unwrap();
    assert_eq!(std::fs::read_link(&dm).unwrap().to_str().unwrap(), dm_tty);

    // Raw bytes written to the DM symlink reach the module.
    let mut t = SerialTransport::open(dm.to_str().unwrap()).unwrap();
    let before = m.with_core(|c| c.faults.bytes);
    t.send(&[0x00, 0x78, 0xf0, 0x7e]).unwrap();
    wait_until("DM bytes", || m.with_core(|c| c.faults.bytes) >= before + 4);

    // ATI on the AT symlink.
    let mut atc = AtClient::new(SerialTransport::open(at.to_str().unwrap()).unwrap());
    let resp = atc.command("ATI", Duration::from_secs(5)).unwrap();
    assert!(resp.lines.iter().any(|l| l.contains("Quectel")), "{:?}", resp.lines);
    assert_eq!(atc.revision().unwrap(), "EC20AQAR02A03E2G");
    drop(atc);
    drop(t);

    // A power cycle takes the ports away and brings new ones.
    m.power_cycle();
    assert!(!dm.exists() && std::fs::symlink_metadata(&dm).is_err(), "dm symlink gone while off the bus");
    assert!(std::fs::symlink_metadata(&at).is_err());
    wait_until("symlinks back", || dm.exists() && at.exists());
    m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();
    let mut t = SerialTransport::open(dm.to_str().unwrap()).unwrap();
    let before = m.with_core(|c| c.faults.bytes);
    t.send(b"\x7e").unwrap();
    wait_until("DM bytes after the power cycle", || m.with_core(|c| c.faults.bytes) > before);
    m.shutdown();
    assert!(std::fs::symlink_metadata(&dm).is_err(), "shutdown removes the symlinks");
}

#[test]
fn at_qfastboot_on_the_pty_leads_to_fastboot_on_tcp() {
    let tty = tempfile::tempdir().unwrap();
    let m = serve(Model::Ec25, DeviceMode::Normal, tty.path());
    m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();
    let at = tty.path().join("at");
    let mut atc = AtClient::new(SerialTransport::open(at.to_str().unwrap()).unwrap());
    atc.enter_fastboot().unwrap();
    let addr = tcp_endpoint(&m);
    assert!(std::fs::symlink_metadata(&at).is_err(), "no AT port in fastboot");
    let mut fb = fastboot_tcp(&addr);
    assert_eq!(fb.getvar("product").unwrap(), "MDM9607");
    m.shutdown();
}
