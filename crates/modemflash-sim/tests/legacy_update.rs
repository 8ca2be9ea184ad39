//! End to end: plan + exec of the legacy MDM9615 flows against the in-process virtual
//! EC20 R1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use modemflash::exec::{self, Collect, Event, ExecOptions, Journal};
use modemflash::package;
use modemflash::plan::{self, DeviceMode, Flow, PlanOptions};
use modemflash_sim::builder::{self, LegacySpec};
use modemflash_sim::{Model, Module, ModuleConfig, SimBus, SimMode, VirtualClock};

const NEW_REV: &str = "EC20AQAR02A04E2G";

fn package(dir: &std::path::Path) -> package::Package {
    let root = dir.join(NEW_REV);
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    package::open(&root).unwrap()
}

fn start(mode: SimMode) -> (Module, SimBus) {
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
    let (m, mut bus) = start(SimMode::Normal);
    m.bus().wait_for(&[SimMode::Normal], Duration::from_secs(10)).unwrap();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    assert_eq!(state.mode, DeviceMode::Normal);
    assert_eq!(state.revision.as_deref(), Some("EC20AQAR02A03E2G"));
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    assert_eq!(plan.flow, Flow::LegacyA, "a Dec-2015 build has no AT+QFASTBOOT");
    let mut events = Collect::default();
    let mut journal = Journal::in_memory();
    let out = exec::run(&plan, &pkg, &mut bus, &mut journal, &mut events, &opts()).unwrap();
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    assert_eq!(m.revision(), NEW_REV);
    // Every fastboot image landed with the package file's hash.
    for (part, file) in &pkg.legacy.as_ref().unwrap().fastboot {
        let want = sha256_file(&pkg.path_of(file));
        let name = match part.as_str() { "aboot" => "appsbl", p => p };
        assert_eq!(m.with_core(|c| c.nand.sha256(name)), Some(want), "{part}");
    }
    assert!(events.0.iter().any(|e| matches!(e, Event::Progress { .. })));
}

fn sha256_file(p: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(std::fs::read(p).unwrap());
    d.iter().map(|b| format!("{b:02x}")).collect()
}
