#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Normal mode of both models, driven by the host clients of the `modemflash` library:
//! DIAG on the DM port, AT on the AT port, and the mode switches they trigger.

use std::sync::Arc;
use std::time::Duration;

use modemflash::module::{DeviceMode, Port};
use modemflash::protocol::at::{AtClient, AtError, FastbootOutcome};
use modemflash::protocol::diag::codec::RejectKind;
use modemflash::protocol::diag::{DiagClient, DiagError, SwitchOutcome};
use modemflash::protocol::dmss::{DmssClient, ProbedMode};
use modemflash::protocol::hdlc::encode;
use modemflash::transport::Transport;
use modemflash_sim::handlers::diag::msm_id;
use modemflash_sim::{Fault, Model, Module, ModuleConfig, VirtualClock};

const WAIT: Duration = Duration::from_secs(60);
const PROBE: Duration = Duration::from_secs(2);

fn start(config: ModuleConfig) -> Module {
    let m = Module::start(config, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();
    m
}

fn diag(m: &Module) -> DiagClient<modemflash::transport::memory::MemoryTransport> {
    DiagClient::new(m.bus().open(Port::Dm).unwrap())
}

fn at(m: &Module) -> AtClient<modemflash::transport::memory::MemoryTransport> {
    AtClient::new(m.bus().open(Port::At).unwrap())
}

#[test]
fn ec20_reports_its_revision_over_diag_and_at() {
    let m = start(ModuleConfig::new(Model::Ec20R1));
    let mut d = diag(&m);
    let id = d.ext_build_id().unwrap();
    assert_eq!(id.revision, "EC20AQAR02A03E2G");
    assert_eq!(id.msm_hw_version, msm_id(Model::Ec20R1));
    assert_eq!(id.extra, vec!["EC20".to_string()]);
    // With a leading flag too.
    d.set_leading_flag(true);
    assert_eq!(d.ext_build_id().unwrap().revision, "EC20AQAR02A03E2G");
    d.probe_bad_command().unwrap();
    // MDM9615 has no EDL: bad command.
    let err = d.switch_to_edl().unwrap_err();
    assert!(matches!(err, DiagError::Rejected { kind: RejectKind::BadCommand, .. }), "{err}");

    let mut a = at(&m);
    assert_eq!(a.revision().unwrap(), "EC20AQAR02A03E2G");
    let ati = a.command("ATI", Duration::from_secs(2)).unwrap();
    assert_eq!(ati.lines, vec!["Quectel", "EC20", "Revision: EC20AQAR02A03E2G"]);
    assert!(ati.echoed, "echo is on after power-up");
    a.command("ATE0", Duration::from_secs(2)).unwrap();
    let cgmr = a.command("AT+CGMR", Duration::from_secs(2)).unwrap();
    assert_eq!(cgmr.lines, vec!["EC20AQAR02A03E2G"]);
    assert!(!cgmr.echoed);
    assert_eq!(a.command("AT+GMR", Duration::from_secs(2)).unwrap().lines, vec!["EC20AQAR02A03E2G"]);
    assert!(matches!(a.full_revision(), Err(AtError::NotSupported { .. })));
    assert!(matches!(a.command("AT+NOSUCH", Duration::from_secs(2)), Err(AtError::Rejected { .. })));
    a.command("AT", Duration::from_secs(2)).unwrap();
    // A02A03 predates AT+QFASTBOOT.
    assert!(matches!(a.enter_fastboot(), Err(AtError::NotSupported { .. })));
}

#[test]
fn normal_mode_answers_the_probe_with_a_bad_command_echo() {
    for model in [Model::Ec20R1, Model::Ec25] {
        let m = start(ModuleConfig::new(model));
        let mut t = m.bus().open(Port::Dm).unwrap();
        t.send(&[0x7E, 0x06, 0x4E, 0x95, 0x7E]).unwrap();
        let mut buf = [0u8; 64];
        let n = t.recv(&mut buf, PROBE).unwrap();
        assert_eq!(&buf[..n], &[0x13, 0x06, 0x88, 0xD5, 0x7E], "{model:?}: no leading flag");
        let mut c = DmssClient::new(t);
        assert_eq!(c.probe(PROBE).unwrap(), ProbedMode::NormalDiag);
    }
}

#[test]
fn unknown_diag_commands_get_their_echo() {
    let m = start(ModuleConfig::new(Model::Ec25));
    let mut t = m.bus().open(Port::Dm).unwrap();
    t.send(&encode(&[0x4B, 0x13, 0x00, 0x00], false)).unwrap();
    let mut buf = [0u8; 64];
    let n = t.recv(&mut buf, PROBE).unwrap();
    assert_eq!(&buf[..n], encode(&[0x13, 0x4B, 0x13, 0x00, 0x00], false).as_slice());
    // A wrong length is a bad-length reply.
    t.send(&encode(&[0x7C, 0x00], false)).unwrap();
    let n = t.recv(&mut buf, PROBE).unwrap();
    assert_eq!(&buf[..n], encode(&[0x15, 0x7C, 0x00], false).as_slice());
}

#[test]
fn ec20_dload_command_reenumerates_in_dmss_mode() {
    let m = start(ModuleConfig::new(Model::Ec20R1));
    let mut d = diag(&m);
    assert_eq!(d.switch_to_dload().unwrap(), SwitchOutcome::Echoed);
    drop(d);
    let e = m.bus().wait_for(&[DeviceMode::Dload], WAIT).unwrap();
    // The field log: DLOAD keeps 05c6:9215, with bcdDevice 0, QHSUSB_DLOAD and one interface.
    assert_eq!(e.usb_id, Some((0x05c6, 0x9215)));
    let usb = e.usb.unwrap();
    assert_eq!((usb.bcd_device, usb.product, usb.serial, usb.interfaces), (0, Some("QHSUSB_DLOAD"), None, 1));
    let mut c = DmssClient::new(m.bus().open(Port::Dm).unwrap());
    assert_eq!(c.probe(PROBE).unwrap(), ProbedMode::Dload);
}

#[test]
fn ec25_reports_full_revision_and_switches_to_edl() {
    let m = start(ModuleConfig::new(Model::Ec25));
    let mut a = at(&m);
    let full = a.full_revision().unwrap();
    assert_eq!(full.full, "EC25EFAR06A08M4G_01.001.01.001");
    assert_eq!(a.revision().unwrap(), "EC25EFAR06A08M4G");
    let sec = a.command("AT+QCFG=\"secbootstat\"", Duration::from_secs(2)).unwrap();
    assert_eq!(sec.lines, vec!["+QCFG: \"secbootstat\",0"]);
    assert!(a.command("AT+QSECBOOT=\"status\"", Duration::from_secs(2)).is_err());

    let mut d = diag(&m);
    let id = d.ext_build_id().unwrap();
    assert_eq!((id.revision.as_str(), id.msm_hw_version), ("EC25EFAR06A08M4G", 0x0004_80E1));
    assert_eq!(d.switch_to_edl().unwrap(), SwitchOutcome::Echoed);
    drop(d);
    let e = m.bus().wait_for(&[DeviceMode::Edl], WAIT).unwrap();
    assert_eq!(e.usb_id, Some((0x05c6, 0x9008)));
}

#[test]
fn ec25_qfastboot_answers_ok_or_nothing() {
    let m = start(ModuleConfig::new(Model::Ec25));
    assert_eq!(at(&m).enter_fastboot().unwrap(), FastbootOutcome::Acknowledged);
    let e = m.bus().wait_for(&[DeviceMode::Fastboot], WAIT).unwrap();
    assert_eq!(e.usb_id, Some((0x18d1, 0xd00d)));

    let mut config = ModuleConfig::new(Model::Ec25);
    config.qfastboot_silent = true;
    let m = start(config);
    let outcome = at(&m).enter_fastboot().unwrap();
    assert!(matches!(outcome, FastbootOutcome::NoReply | FastbootOutcome::PortGone), "{outcome:?}");
    m.bus().wait_for(&[DeviceMode::Fastboot], WAIT).unwrap();
}

#[test]
fn wrong_model_and_chip_id_faults() {
    let mut config = ModuleConfig::new(Model::Ec25);
    config.faults = vec![Fault::parse("wrong-model").unwrap(), Fault::parse("wrong-chip-id").unwrap()];
    let m = start(config);
    let id = diag(&m).ext_build_id().unwrap();
    assert_eq!(id.revision, "EG25GGBR07A08M2G");
    assert_eq!(id.extra, vec!["EG25".to_string()]);
    assert_ne!(id.msm_hw_version, msm_id(Model::Ec25));
    let mut a = at(&m);
    let ati = a.command("ATI", Duration::from_secs(2)).unwrap();
    assert_eq!(ati.lines, vec!["Quectel", "EG25", "Revision: EG25GGBR07A08M2G"]);
}

#[test]
fn nak_and_stall_faults_in_normal_mode() {
    let mut config = ModuleConfig::new(Model::Ec20R1);
    config.faults =
        vec![Fault::parse("nak@step=diag:ext-build-id").unwrap(), Fault::parse("nak@step=at:i").unwrap()];
    let m = start(config);
    let mut d = diag(&m);
    let err = d.ext_build_id().unwrap_err();
    assert!(matches!(err, DiagError::Rejected { kind: RejectKind::BadMode, .. }), "{err}");
    // Each fault fires once.
    assert_eq!(d.ext_build_id().unwrap().revision, "EC20AQAR02A03E2G");
    let mut a = at(&m);
    assert!(matches!(a.command("ATI", Duration::from_secs(2)), Err(AtError::Rejected { .. })));
    a.command("ATI", Duration::from_secs(2)).unwrap();

    let mut config = ModuleConfig::new(Model::Ec20R1);
    config.faults = vec![Fault::parse("stall@step=diag:dload").unwrap()];
    let m = start(config);
    let mut d = diag(&m);
    d.set_reply_timeout(Duration::from_millis(300));
    assert!(matches!(d.switch_to_dload(), Err(DiagError::NoReply { .. })));
    assert!(matches!(d.ext_build_id(), Err(DiagError::NoReply { .. })), "stalled for good");
}
