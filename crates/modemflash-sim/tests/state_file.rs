//! A module with a state file survives a process restart: what was written to its NAND is
//! still there, and it boots from it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use modemflash::exec::{self, Collect, ExecOptions, Journal};
use modemflash::module::DeviceMode;
use modemflash::package;
use modemflash::plan::{self, PlanOptions};
use modemflash_sim::builder::{self, LegacySpec};
use modemflash_sim::{Model, Module, ModuleConfig, SimBus, VirtualClock};

#[test]
fn nand_and_revision_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("ec20.json");
    let root = tmp.path().join("EC20AQAR02A04E2G");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let pkg = package::open(&root).unwrap();
    let cfg = ModuleConfig { state_file: Some(state.clone()), ..ModuleConfig::new(Model::Ec20R1) };

    let m = Module::start(cfg.clone(), Arc::new(VirtualClock::default()));
    let mut bus = SimBus::new(m.clone());
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(10)).unwrap();
    let st = exec::identify(&mut bus).unwrap().unwrap();
    let p = plan::build(&pkg, &st, &PlanOptions::default(), None).unwrap();
    exec::run(
        &p,
        &pkg,
        &mut bus,
        &mut Journal::in_memory(),
        &mut Collect::default(),
        &ExecOptions::default(),
    )
    .unwrap();
    let boot_hash = m.with_core(|c| c.nand.sha256("boot")).unwrap();
    m.shutdown();
    assert!(state.is_file());

    // A new process: same state file, factory defaults otherwise.
    let m2 = Module::start(cfg, Arc::new(VirtualClock::default()));
    m2.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(10)).unwrap();
    assert_eq!(m2.revision(), "EC20AQAR02A04E2G");
    assert_eq!(m2.with_core(|c| c.nand.sha256("boot")), Some(boot_hash));
    m2.shutdown();

    // A corrupt state file is ignored (factory NAND), never a panic.
    std::fs::write(&state, b"{not json").unwrap();
    let cfg3 = ModuleConfig { state_file: Some(state), ..ModuleConfig::new(Model::Ec20R1) };
    let m3 = Module::start(cfg3, Arc::new(VirtualClock::default()));
    m3.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(10)).unwrap();
    assert_eq!(m3.revision(), "EC20AQAR02A03E2G");
    m3.shutdown();
}
