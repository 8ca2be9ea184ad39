#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Issue 15: four virtual EC25s on one bus, updated at once (a thread each) through the
//! library's one USB [`Watcher`], as `update --all` does. One of them comes back from its
//! reset on another port path (USB3 → USB2) while the others re-enumerate around it, one
//! refuses a write. Each module ends with its own result, the moved one followed to its
//! new path, and no module ever touches a neighbour's device.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modemflash::discovery::ModuleBus;
use modemflash::discovery::selector::Selector;
use modemflash::discovery::watcher::Watcher;
use modemflash::exec::{self, Event, ExecError, ExecOptions, FailureKind, Journal, Observer, Outcome};
use modemflash::module::DeviceMode;
use modemflash::package::{self, Package};
use modemflash::plan::{self, PlanOptions};
use modemflash_sim::builder::{self, FirehoseSpec};
use modemflash_sim::fleet::SimUsb;
use modemflash_sim::{Fault, Model, Module, ModuleConfig, SharedClock, SimEvent, VirtualClock};

const NEW_REV: &str = "EC25EFAR06A11M4G";
const WAIT: Duration = Duration::from_secs(300);

fn package(dir: &Path) -> Package {
    let spec = FirehoseSpec { revision: NEW_REV.into(), ..FirehoseSpec::default() };
    let root = dir.join(&spec.revision);
    builder::write_firehose(&root, &spec).unwrap();
    package::open(&root).unwrap()
}

fn module(path: &str, faults: &[&str], clock: &SharedClock) -> Module {
    let cfg = ModuleConfig {
        faults: faults.iter().map(|f| Fault::parse(f).unwrap()).collect(),
        port_path: path.into(),
        reenum_delay: Duration::from_millis(500),
        ..ModuleConfig::new(Model::Ec25)
    };
    let m = Module::start(cfg, clock.clone());
    m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();
    m
}

/// Moves its module to another port path when the EDL switch starts: it re-enumerates
/// there (as a USB3 port's module comes back on the USB2 companion port).
struct MoveOnSwitch {
    module: Option<(Module, &'static str)>,
}

impl Observer for MoveOnSwitch {
    fn event(&mut self, event: &Event) {
        if let Event::StepStarted { index: 0, .. } = event
            && let Some((m, to)) = self.module.take()
        {
            m.set_port_path(to);
        }
    }
}

fn update(
    bus: &mut dyn ModuleBus,
    pkg: &Package,
    journal: &Path,
    obs: &mut dyn Observer,
) -> Result<Outcome, ExecError> {
    let mut j = Journal::open(journal);
    let fp = plan::fingerprint(pkg);
    let found = exec::identify_module_waiting(bus, WAIT, j.depth_needed(&fp)).unwrap().expect("a module");
    j.select(&fp, &found.identity, found.state.mode, false).unwrap();
    let plan = plan::build(pkg, &found.state, &PlanOptions::default(), None).unwrap();
    let opts = ExecOptions { mode_timeout: WAIT, ..ExecOptions::default() }
        .with_reply_timeouts(Duration::from_secs(30));
    exec::run(&plan, pkg, bus, &mut j, obs, &opts)
}

fn written(m: &Module) -> Vec<String> {
    m.history()
        .iter()
        .filter_map(
            |e| if let SimEvent::PartitionWritten { name, .. } = e { Some(name.clone()) } else { None },
        )
        .collect()
}

#[test]
fn four_modules_at_once_through_one_watcher() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let journal = tmp.path().join("journal.json");
    let clock: SharedClock = Arc::new(VirtualClock::default());
    let paths = ["1-1", "1-2", "1-3", "1-4"];
    let modules: Vec<Module> = paths
        .iter()
        .map(|p| module(p, if *p == "1-4" { &["nak@step=firehose:program:modem"] } else { &[] }, &clock))
        .collect();
    let watcher = Watcher::new(Box::new(SimUsb::new(modules.clone())));
    let found = watcher.modules().unwrap();
    assert_eq!(found.len(), 4);
    // Every bus is made before any module moves, as `update --all` does.
    let buses: Vec<_> =
        paths.iter().map(|p| watcher.bus(Selector::parse(&format!("usb:{p}")).unwrap()).unwrap()).collect();

    let results: Vec<Result<Outcome, ExecError>> = std::thread::scope(|s| {
        let handles: Vec<_> = buses
            .into_iter()
            .zip(&modules)
            .map(|(mut bus, m)| {
                let (pkg, journal) = (&pkg, &journal);
                let mover = (m.port_path() == "1-2").then(|| (m.clone(), "2-2"));
                s.spawn(move || update(&mut bus, pkg, journal, &mut MoveOnSwitch { module: mover }))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    for (i, r) in results.iter().enumerate().take(3) {
        let out = r.as_ref().unwrap_or_else(|e| panic!("module {i}: {e}"));
        assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
        assert_eq!(modules[i].revision(), NEW_REV);
    }
    assert_eq!(modules[1].port_path(), "2-2", "the moved module was followed to its new path");
    let e = results[3].as_ref().unwrap_err();
    assert_eq!(e.kind, FailureKind::Refused, "{e}");
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| e.kind != FailureKind::WrongModule));
    // Each module's NAND got its own whole update; the refusing one stopped at modem.
    let full = written(&modules[0]);
    assert!(full.len() > 3, "{full:?}");
    for m in &modules[1..3] {
        let mut w = written(m);
        w.sort();
        let mut f = full.clone();
        f.sort();
        assert_eq!(w, f);
    }
    assert!(!written(&modules[3]).contains(&"modem".to_owned()));
    // One journal, a record per module, each with its own identity.
    let j = Journal::open(&journal);
    assert_eq!(j.records().len(), 4);
    assert_eq!(j.records().iter().filter(|r| r.completed).count(), 3);
    let mut imeis: Vec<_> = j.records().iter().map(|r| r.module.imei.clone().unwrap()).collect();
    imeis.sort();
    imeis.dedup();
    assert_eq!(imeis.len(), 4);
}
