//! The mode probe over a tty listens before it speaks (issue 10 item 4): a boot ROM that
//! one stray byte wedges (fault `fragile-rom`, modelled on bkerler/edl #335, #398, #752) is
//! found in EDL and still answers Sahara afterwards; the QDLoader tty is found under the DM
//! tty's name, by what answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![cfg(unix)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modemflash::discovery::ModuleBus;
use modemflash::discovery::Port;
use modemflash::discovery::ports::PortsBus;
use modemflash::plan::DeviceMode;
use modemflash::protocol::sahara::SaharaClient;
use modemflash_sim::{Fault, Model, Module, ModuleConfig, RealClock, Serving, SimEvent};

const WAIT: Duration = Duration::from_secs(20);

fn serve(model: Model, mode: DeviceMode, faults: Vec<Fault>, tty_dir: &Path) -> Module {
    let mut c = ModuleConfig::new(model);
    c.start_mode = mode;
    c.faults = faults;
    let serving = Serving::external(Some(tty_dir.to_owned()), "127.0.0.1:0".parse().unwrap());
    let m = Module::start_serving(c, Arc::new(RealClock::default()), serving);
    m.bus().wait_for(&[mode], WAIT).unwrap();
    let t0 = std::time::Instant::now();
    while !tty_dir.join("dm").exists() {
        assert!(t0.elapsed() < WAIT, "no DIR/dm");
        std::thread::sleep(Duration::from_millis(10));
    }
    m
}

#[test]
fn the_probe_never_wedges_a_fragile_boot_rom() {
    let dir = tempfile::tempdir().unwrap();
    let m = serve(Model::Ec25, DeviceMode::Edl, vec![Fault::parse("fragile-rom").unwrap()], dir.path());
    assert!(!dir.path().join("edl").exists(), "the QDLoader tty takes the DM tty's name");
    let mut bus = PortsBus::new(Some(dir.path().join("dm")), None, None).unwrap();
    assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Edl), "told by the HELLO it sent");
    assert_eq!(bus.wait_for(&[DeviceMode::Edl], WAIT).unwrap(), DeviceMode::Edl);
    // The HELLO heard by the probe reaches the Sahara client; the ROM still answers.
    let mut sahara = SaharaClient::new(bus.open(Port::Edl).unwrap());
    let id = sahara.read_identity().unwrap();
    assert_eq!(id.hw_id.msm_id, 0x0004_80E1);
    let wedged =
        m.history().iter().any(|e| matches!(e, SimEvent::Log { text } if text.contains("error state")));
    assert!(!wedged, "{:?}", m.history());
}

#[test]
fn a_9615_in_dload_is_found_through_the_dm_tty_with_its_real_usb_identity() {
    let dir = tempfile::tempdir().unwrap();
    let m = serve(Model::Ec20R1, DeviceMode::Dload, vec![], dir.path());
    let mut bus = PortsBus::new(Some(dir.path().join("dm")), None, None).unwrap();
    assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Dload), "silent port, then the DMSS NOP");
    let json = m
        .history()
        .iter()
        .find_map(|e| match e {
            SimEvent::Endpoints { .. } => Some(serde_json::to_value(e).unwrap()),
            _ => None,
        })
        .unwrap();
    assert_eq!(json["usb_id"], "05c6:9215");
    assert_eq!(json["usb"]["bcd_device"], "0000");
    assert_eq!(json["usb"]["product"], "QHSUSB_DLOAD");
    assert_eq!(json["usb"]["manufacturer"], "Qualcomm CDMA Technologies MSM");
    assert_eq!(json["usb"]["interfaces"], 1);
    assert!(json["usb"].get("serial").is_none());
    assert_eq!(json["endpoints"].as_array().unwrap().len(), 1);
}
