//! End to end: plan + exec of the legacy MDM9615 flows against the in-process virtual
//! EC20 R1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use modemflash::exec::{self, Collect, Event, ExecOptions, Journal};
use modemflash::package;
use modemflash::plan::{self, DeviceMode, Flow, PlanOptions};
use modemflash_sim::builder::{self, LegacySpec};
use modemflash_sim::{Model, Module, ModuleConfig, SimBus, VirtualClock};

const NEW_REV: &str = "EC20AQAR02A04E2G";

/// A legacy package unpacked into a folder named `fw`, as the field user did: its revision
/// comes from its contents (the modem image), not from the name.
fn package(dir: &std::path::Path) -> package::Package {
    let root = dir.join("fw");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let pkg = package::open(&root).unwrap();
    assert_eq!(pkg.report.revision.as_ref().map(|r| r.raw.as_str()), Some(NEW_REV));
    pkg
}

fn start(mode: DeviceMode) -> (Module, SimBus) {
    let cfg = ModuleConfig { start_mode: mode, ..ModuleConfig::new(Model::Ec20R1) };
    let m = Module::start(cfg, Arc::new(VirtualClock::default()));
    let bus = SimBus::new(m.clone());
    (m, bus)
}

fn opts() -> ExecOptions {
    ExecOptions { mode_timeout: Duration::from_secs(120), ..ExecOptions::default() }
}

#[test]
fn flow_a_from_normal_mode_updates_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let (m, mut bus) = start(DeviceMode::Normal);
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(10)).unwrap();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    assert_eq!(state.mode, DeviceMode::Normal);
    assert_eq!(state.revision.as_deref(), Some("EC20AQAR02A03E2G"));
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    assert_eq!(plan.flow, Flow::LegacyA, "a Dec-2015 build has no AT+QFASTBOOT");
    assert_eq!(plan.expected_revision.as_deref(), Some(NEW_REV));
    let mut events = Collect::default();
    let mut journal = Journal::in_memory();
    let out = exec::run(&plan, &pkg, &mut bus, &mut journal, &mut events, &opts()).unwrap();
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    assert_eq!(m.revision(), NEW_REV);
    // Every fastboot image landed with the package file's hash.
    for (part, file) in &pkg.legacy.as_ref().unwrap().fastboot {
        let want = sha256_file(&pkg.path_of(file));
        let name = match part.as_str() {
            "aboot" => "appsbl",
            p => p,
        };
        assert_eq!(m.with_core(|c| c.nand.sha256(name)), Some(want), "{part}");
    }
    assert!(events.0.iter().any(|e| matches!(e, Event::Progress { .. })));
}

fn sha256_file(p: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(std::fs::read(p).unwrap());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn run_update(pkg: &package::Package, m: &Module) -> exec::Outcome {
    let mut bus = SimBus::new(m.clone());
    m.bus()
        .wait_for(
            &[DeviceMode::Normal, DeviceMode::Dload, DeviceMode::Streaming, DeviceMode::Fastboot],
            Duration::from_secs(10),
        )
        .unwrap();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let plan = plan::build(pkg, &state, &PlanOptions::default(), None).unwrap();
    let mut journal = Journal::in_memory();
    exec::run(&plan, pkg, &mut bus, &mut journal, &mut Collect::default(), &opts()).unwrap()
}

#[test]
fn flow_b_with_at_qfastboot() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let cfg = ModuleConfig {
        revision: "EC20AQAR02A03E2G".into(),
        qfastboot: true,
        ..ModuleConfig::new(Model::Ec20R1)
    };
    let m = Module::start(cfg, Arc::new(VirtualClock::default()));
    let mut bus = SimBus::new(m.clone());
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(10)).unwrap();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let opts_b = PlanOptions { flow: Some(Flow::LegacyB), ..PlanOptions::default() };
    let plan = plan::build(&pkg, &state, &opts_b, None).unwrap();
    assert_eq!(plan.steps[0].id, "at:qfastboot");
    let out = exec::run(&plan, &pkg, &mut bus, &mut Journal::in_memory(), &mut Collect::default(), &opts())
        .unwrap();
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    // Flow B writes the real boot chain over streaming.
    let sbl1 = sha256_file(&pkg.path_of("sbl1.mbn"));
    assert_eq!(m.with_core(|c| c.nand.sha256("sbl1")), Some(sbl1));
}

#[test]
fn flow_b_is_chosen_for_firmware_with_at_qfastboot() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let state = plan::ModuleState::new(DeviceMode::Normal, Some("EC20AQAR02A08E2G".into()));
    assert_eq!(plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap().flow, Flow::LegacyB);
}

#[test]
fn flow_c_recovers_a_module_stuck_in_fastboot() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let (m, _) = start(DeviceMode::Fastboot);
    let out = run_update(&pkg, &m);
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    assert_eq!(m.revision(), NEW_REV);
    let appsbl = sha256_file(&pkg.path_of("appsboot.mbn"));
    assert_eq!(m.with_core(|c| c.nand.sha256("appsbl")), Some(appsbl), "the temporary aboot is replaced");
}

#[test]
fn flow_c_recovers_from_dload_and_from_a_running_programmer() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    for mode in [DeviceMode::Dload, DeviceMode::Streaming] {
        let (m, _) = start(mode);
        // `--start-mode streaming` is a module whose programmer already runs (an update
        // interrupted between GO and RESET).
        assert_eq!(m.bus().wait_for(&[mode], Duration::from_secs(10)).unwrap().mode, Some(mode));
        let out = run_update(&pkg, &m);
        assert_eq!(out.revision_after.as_deref(), Some(NEW_REV), "from {mode:?}");
        m.shutdown();
    }
}

#[test]
fn temporary_loaders_and_pass_two() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let loaders = tmp.path().join("loaders");
    builder::write_legacy(
        &loaders,
        &LegacySpec { temp_loaders: true, extras: false, ..LegacySpec::default() },
    )
    .unwrap();
    let (m, mut bus) = start(DeviceMode::Normal);
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(10)).unwrap();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let po = PlanOptions { loader_dir: Some(loaders.clone()), ..PlanOptions::default() };
    let plan = plan::build(&pkg, &state, &po, None).unwrap();
    assert!(plan.steps.iter().any(|s| s.id == "pass2:streaming:write:0:SBL2"));
    let out = exec::run(&plan, &pkg, &mut bus, &mut Journal::in_memory(), &mut Collect::default(), &opts())
        .unwrap();
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    let sbl2 = sha256_file(&pkg.path_of("sbl2.mbn"));
    assert_eq!(m.with_core(|c| c.nand.sha256("sbl2")), Some(sbl2), "pass 2 leaves the real SBL2");
}
