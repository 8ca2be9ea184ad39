#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Issue 10 item 1: a package for one chipset is never written onto a module of another,
//! in whatever mode the module is found, and the refusal names both sides.

use std::sync::Arc;
use std::time::Duration;

use modemflash::catalog::Chipset;
use modemflash::exec::{self, Collect, ExecOptions, FailureKind, Journal};
use modemflash::package::{self, Package};
use modemflash::plan::{self, DeviceMode, Op, PlanError, PlanOptions};
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, SimBus, SimEvent, VirtualClock};

const WAIT: Duration = Duration::from_secs(120);

fn start(model: Model, mode: DeviceMode, faults: Vec<Fault>) -> (Module, SimBus) {
    let cfg = ModuleConfig { start_mode: mode, faults, ..ModuleConfig::new(model) };
    let m = Module::start(cfg, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[mode], WAIT).unwrap();
    let bus = SimBus::new(m.clone());
    (m, bus)
}

/// The legacy EC20 R1 sample package, unpacked into a folder named `fw` as the field user
/// did: nothing in the name tells its revision or chipset.
fn legacy_in_fw(dir: &std::path::Path) -> Package {
    let root = dir.join("fw");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let pkg = package::open(&root).unwrap();
    assert!(pkg.is_valid(), "{:#?}", pkg.report.findings);
    pkg
}

fn firehose_pkg(dir: &std::path::Path) -> Package {
    let root = dir.join("EC25EFAR06A11M4G");
    builder::write_firehose(&root, &FirehoseSpec::default()).unwrap();
    package::open(&root).unwrap()
}

fn writes(m: &Module) -> usize {
    m.history().iter().filter(|e| matches!(e, SimEvent::PartitionWritten { .. })).count()
}

fn enumerations(m: &Module) -> usize {
    m.history().iter().filter(|e| matches!(e, SimEvent::Endpoints { .. })).count()
}

#[test]
fn legacy_package_in_fw_is_refused_on_a_virtual_ec25_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = legacy_in_fw(tmp.path());
    assert_eq!(plan::chip::package_chipset(&pkg), Chipset::Mdm9615);
    let (m, mut bus) = start(Model::Ec25, DeviceMode::Normal, vec![]);
    let state = exec::identify(&mut bus).unwrap().unwrap();
    assert_eq!(state.chip.as_ref().map(|c| c.chipset), Some(Chipset::Mdm9x07), "from 2c7c:0125");
    for force in [false, true] {
        let e =
            plan::build(&pkg, &state, &PlanOptions { force, ..PlanOptions::default() }, None).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, PlanError::WrongChipset { .. }), "{e:?}");
        assert!(text.contains("package is for MDM9615 (EC20 R1"), "{text}");
        assert!(text.contains("the module is an MDM9x07") && text.contains("2c7c:0125"), "{text}");
        assert!(!text.contains("--force") && !text.contains("rerun"), "{text}");
    }
    // No plan, so no AT+QFASTBOOT, no DIAG switch, no write: still the first enumeration.
    assert_eq!((writes(&m), enumerations(&m)), (0, 1));
    assert_eq!(m.bus().current().mode, Some(DeviceMode::Normal));
}

#[test]
fn ec25_package_is_refused_on_an_ec20_r1_in_every_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = firehose_pkg(tmp.path());
    for mode in [DeviceMode::Normal, DeviceMode::Dload, DeviceMode::Streaming, DeviceMode::Fastboot] {
        let (m, mut bus) = start(Model::Ec20R1, mode, vec![]);
        let state = exec::identify(&mut bus).unwrap().unwrap();
        let e = plan::build(&pkg, &state, &PlanOptions { force: true, ..PlanOptions::default() }, None)
            .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, PlanError::WrongChipset { .. }), "{mode:?}: {e:?}");
        assert!(text.contains("MDM9x07") && text.contains("the module is an MDM9615"), "{mode:?}: {text}");
        assert!(!text.contains("rerun the same command"), "{text}");
        assert_eq!(writes(&m), 0);
    }
}

#[test]
fn a_fastboot_module_seen_only_through_explicit_ports_is_checked_by_getvar_product() {
    // Planning without a USB identity (as over --fastboot tcp:) leaves the chipset open:
    // the plan then starts with a check the executor runs in fastboot.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let pkg = package::open(&root).unwrap();
    let state = plan::ModuleState::new(DeviceMode::Fastboot, None);
    let p = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    assert_eq!(p.steps[0].id, "check:chipset");
    assert_eq!(p.steps[0].needs, DeviceMode::Fastboot);
    // Against an EC25's LK (product MDM9607) it stops before the first flash.
    let (m, mut bus) = start(Model::Ec25, DeviceMode::Fastboot, vec![]);
    let mut events = Collect::default();
    let opts = ExecOptions { mode_timeout: WAIT, ..ExecOptions::default() };
    let e = exec::run(&p, &pkg, &mut bus, &mut Journal::in_memory(), &mut events, &opts).unwrap_err();
    assert_eq!((e.step.as_str(), e.kind), ("check:chipset", FailureKind::WrongChipset));
    assert!(e.message().contains("fastboot product MDM9607"), "{}", e.message());
    assert_eq!(writes(&m), 0);
}

#[test]
fn in_edl_the_sahara_hw_id_is_checked_before_the_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = firehose_pkg(tmp.path());
    let opts = ExecOptions { mode_timeout: WAIT, ..ExecOptions::default() };

    // A 9x07 boot ROM: the check passes, the fresh HELLO after SWITCH_MODE feeds the upload.
    let (m, mut bus) = start(Model::Ec25, DeviceMode::Edl, vec![]);
    let state = exec::identify(&mut bus).unwrap().unwrap();
    assert_eq!(state.chip, None, "05c6:9008 does not tell the chip");
    let p = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    assert_eq!(p.steps[0].id, "check:chipset");
    assert!(matches!(p.steps[0].op, Op::CheckChipset { expected: Chipset::Mdm9x07, .. }));
    assert_eq!(p.steps[1].id, "sahara:upload");
    let mut events = Collect::default();
    exec::run(&p, &pkg, &mut bus, &mut Journal::in_memory(), &mut events, &opts).unwrap();
    assert!(writes(&m) > 0);
    let said = format!("{:?}", events.0);
    assert!(said.contains("Sahara MSM_ID 0x000480e1"), "{said}");

    // Another chip's boot ROM (MSM8916's id): refused at the check, nothing written.
    let (m, mut bus) = start(Model::Ec25, DeviceMode::Edl, vec![Fault::parse("wrong-chip-id").unwrap()]);
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let p = plan::build(&pkg, &state, &PlanOptions { force: true, ..PlanOptions::default() }, None).unwrap();
    let e =
        exec::run(&p, &pkg, &mut bus, &mut Journal::in_memory(), &mut Collect::default(), &opts).unwrap_err();
    assert_eq!((e.step.as_str(), e.kind), ("check:chipset", FailureKind::WrongChipset));
    assert!(e.message().contains("another Qualcomm chip (Sahara MSM_ID 0x007050e1)"), "{}", e.message());
    assert_eq!(writes(&m), 0);
}

#[test]
fn a_legacy_package_is_refused_on_a_module_in_edl() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = legacy_in_fw(tmp.path());
    let (_m, mut bus) = start(Model::Ec25, DeviceMode::Edl, vec![]);
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let e =
        plan::build(&pkg, &state, &PlanOptions { force: true, ..PlanOptions::default() }, None).unwrap_err();
    assert!(e.to_string().contains("Sahara boot ROM"), "{e}");
}
