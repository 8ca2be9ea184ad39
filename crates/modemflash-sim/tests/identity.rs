#![allow(clippy::many_single_char_names)]
//! Each virtual module has an identity of its own (issue 12), reported through every
//! protocol that carries one, kept in the state file, and set by options where given.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use modemflash::discovery::identity::parse_imei;
use modemflash::exec;
use modemflash::module::{DeviceMode, Port};
use modemflash::protocol::at::AtClient;
use modemflash::protocol::fastboot::client::{FastbootClient, FastbootOptions};
use modemflash::protocol::sahara::SaharaClient;
use modemflash_sim::{IdentityOverrides, Model, Module, ModuleConfig, SimBus, VirtualClock};

const WAIT: Duration = Duration::from_secs(30);

fn start(model: Model, mode: DeviceMode) -> Module {
    let m = Module::start(
        ModuleConfig { start_mode: mode, ..ModuleConfig::new(model) },
        Arc::new(VirtualClock::default()),
    );
    m.bus().wait_for(&[mode], WAIT).unwrap();
    m
}

#[test]
fn two_instances_differ_and_report_their_own_identity_everywhere() {
    // Normal mode: AT+GSN and AT+CGSN.
    let (a, b) = (start(Model::Ec25, DeviceMode::Normal), start(Model::Ec25, DeviceMode::Normal));
    let ia = a.with_core(|c| c.config.identity.clone());
    let ib = b.with_core(|c| c.config.identity.clone());
    assert_ne!(ia.imei, ib.imei);
    assert_ne!(ia.chip_serial, ib.chip_serial);
    assert_ne!(ia.fastboot_serial, ib.fastboot_serial);
    for (m, id) in [(&a, &ia), (&b, &ib)] {
        let mut at = AtClient::new(m.bus().open(Port::At).unwrap());
        for cmd in ["AT+GSN", "AT+CGSN"] {
            let r = at.command(cmd, WAIT).unwrap();
            assert_eq!(parse_imei(&r.lines).as_deref(), Some(id.imei.as_str()), "{cmd}");
        }
        // One connection at a time, as on a tty.
        drop(at);
        let found = exec::identify_module(&mut SimBus::new(m.clone()), exec::Depth::Light).unwrap().unwrap();
        assert_eq!(found.identity.imei.as_deref(), Some(id.imei.as_str()));
        assert_eq!(found.identity.port_path.as_deref(), Some("usb:1-1"));
    }

    // EDL: Sahara's serial number read, also through the library's identification.
    let e = start(Model::Ec25, DeviceMode::Edl);
    let chip = e.with_core(|c| c.config.identity.chip_serial);
    assert_eq!(e.bus().current().usb_serial, None, "05c6:9008 has no serial string");
    let found = exec::identify_module(&mut SimBus::new(e.clone()), exec::Depth::Full).unwrap().unwrap();
    assert_eq!(found.identity.chip_serial, Some(chip));
    // Command mode left the ROM ready for an upload: a fresh HELLO answers again.
    let mut sahara = SaharaClient::new(e.bus().open(Port::Edl).unwrap());
    assert_eq!(sahara.read_identity().unwrap().serial, chip);

    // Fastboot: an EC25's serialno is its own, and is its USB serial string.
    let f = start(Model::Ec25, DeviceMode::Fastboot);
    let fb = f.with_core(|c| c.config.identity.fastboot_serial.clone()).unwrap();
    let mut client = FastbootClient::new(f.bus().open(Port::Fastboot).unwrap(), FastbootOptions::default());
    assert_eq!(client.getvar("serialno").unwrap(), fb);
    assert_eq!(f.bus().current().usb_serial.as_deref(), Some(fb.as_str()));
    drop(client);
    let found = exec::identify_module(&mut SimBus::new(f.clone()), exec::Depth::Light).unwrap().unwrap();
    assert_eq!(found.identity.fastboot_serial.as_deref(), Some(fb.as_str()));

    // The EC20 R1's LK says MDM9615, like every real one: no identity at all.
    let r1 = start(Model::Ec20R1, DeviceMode::Fastboot);
    let mut client = FastbootClient::new(r1.bus().open(Port::Fastboot).unwrap(), FastbootOptions::default());
    assert_eq!(client.getvar("serialno").unwrap(), "MDM9615");
    assert_eq!(r1.bus().current().usb_serial.as_deref(), Some("MDM9615"));
    drop(client);
    let found = exec::identify_module(&mut SimBus::new(r1.clone()), exec::Depth::Light).unwrap().unwrap();
    assert!(found.identity.is_anonymous(), "{:?}", found.identity);
    // Its DLOAD has no USB serial either.
    let d = start(Model::Ec20R1, DeviceMode::Dload);
    assert_eq!(d.bus().current().usb_serial, None);
}

#[test]
fn the_identity_is_kept_in_the_state_file_and_options_win() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("ec25.json");
    let cfg = || ModuleConfig { state_file: Some(state.clone()), ..ModuleConfig::new(Model::Ec25) };
    let m = Module::start(cfg(), Arc::new(VirtualClock::default()));
    let first = m.with_core(|c| c.config.identity.clone());
    m.shutdown();
    assert!(state.is_file(), "written at start");

    // A new process with a new random identity in its config: the file's wins.
    let m = Module::start(cfg(), Arc::new(VirtualClock::default()));
    assert_eq!(m.with_core(|c| c.config.identity.clone()), first);
    m.shutdown();

    // Options win over the file, and are kept from then on.
    let o = IdentityOverrides {
        imei: Some("867698040000019".into()),
        chip_serial: Some(0x1234),
        ..Default::default()
    };
    let m = Module::start(ModuleConfig { identity_overrides: o, ..cfg() }, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();
    let id = m.with_core(|c| c.config.identity.clone());
    assert_eq!((id.imei.as_str(), id.chip_serial), ("867698040000019", 0x1234));
    assert_eq!(id.fastboot_serial, first.fastboot_serial, "what was not set stays");
    m.shutdown();
    let m = Module::start(cfg(), Arc::new(VirtualClock::default()));
    assert_eq!(m.with_core(|c| c.config.identity.imei.clone()), "867698040000019");
    m.shutdown();
}
