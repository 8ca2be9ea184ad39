//! A stop on request (Ctrl-C in the CLI) ends a run between steps, never inside one, with
//! every finished step journaled; a rerun finishes. And a step's time does not include the
//! wait for the module to re-enumerate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use modemflash::exec::{self, Cancel, Collect, Depth, Event, ExecOptions, FailureKind, Journal, Observer};
use modemflash::module::DeviceMode;
use modemflash::package;
use modemflash::plan::{self, PlanOptions};
use modemflash_sim::builder::{self, LegacySpec};
use modemflash_sim::{Model, Module, ModuleConfig, RealClock, SimBus, VirtualClock};

const NEW_REV: &str = "EC20AQAR02A04E2G";

/// Asks for a stop when the `after`-th step is done.
struct StopAfter {
    cancel: Cancel,
    after: usize,
    done: usize,
    events: Vec<Event>,
}

impl Observer for StopAfter {
    fn event(&mut self, event: &Event) {
        if matches!(event, Event::StepDone { .. }) {
            self.done += 1;
            if self.done == self.after {
                self.cancel.request();
            }
        }
        self.events.push(event.clone());
    }
}

#[test]
fn a_stop_request_ends_the_run_between_steps_and_the_rerun_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(NEW_REV);
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let pkg = package::open(&root).unwrap();
    let m = Module::start(ModuleConfig::new(Model::Ec20R1), Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(10)).unwrap();
    let mut bus = SimBus::new(m.clone());
    let journal_path = tmp.path().join("journal.json");
    let mut journal = Journal::open(&journal_path);
    let fingerprint = plan::fingerprint(&pkg);
    let found = exec::identify_module(&mut bus, Depth::Light).unwrap().unwrap();
    journal.select(&fingerprint, &found.identity, found.state.mode, false).unwrap();
    let plan = plan::build(&pkg, &found.state, &PlanOptions::default(), None).unwrap();
    let opts = ExecOptions { mode_timeout: Duration::from_secs(120), ..ExecOptions::default() };
    let mut obs = StopAfter { cancel: opts.cancel.clone(), after: 3, done: 0, events: Vec::new() };
    let err = exec::run(&plan, &pkg, &mut bus, &mut journal, &mut obs, &opts).unwrap_err();
    assert_eq!(err.kind, FailureKind::Cancelled, "{err}");
    assert_eq!(err.step, plan.steps[3].id);
    // Three steps started, three finished: none was cut off.
    let started = obs.events.iter().filter(|e| matches!(e, Event::StepStarted { .. })).count();
    assert_eq!(started, 3);
    let reopened = Journal::open(&journal_path);
    let record = &reopened.records()[0];
    assert_eq!(record.done.len(), 3);
    assert!(!record.completed);
    assert!(record.last_failure.is_none(), "a stop on request is no failure: {:?}", record.last_failure);

    // The rerun: identify again, plan from the journal, finish.
    let mut journal = Journal::open(&journal_path);
    m.bus()
        .wait_for(
            &[DeviceMode::Normal, DeviceMode::Dload, DeviceMode::Streaming, DeviceMode::Fastboot],
            Duration::from_secs(30),
        )
        .unwrap();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let resume = journal.resume_for(&plan.fingerprint);
    let plan =
        plan::build(&pkg, &state, &PlanOptions::default(), resume.as_ref().map(|(f, d)| (f, d.as_slice())))
            .unwrap();
    let opts = ExecOptions { mode_timeout: Duration::from_secs(120), ..ExecOptions::default() };
    let out = exec::run(&plan, &pkg, &mut bus, &mut journal, &mut Collect::default(), &opts).unwrap();
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    assert_eq!(m.revision(), NEW_REV);
}

#[test]
fn a_step_is_timed_without_the_wait_for_re_enumeration() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(NEW_REV);
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let pkg = package::open(&root).unwrap();
    let reenum = Duration::from_secs(3);
    let cfg = ModuleConfig {
        start_mode: DeviceMode::Streaming,
        reenum_delay: reenum,
        ..ModuleConfig::new(Model::Ec20R1)
    };
    let m = Module::start(cfg, Arc::new(RealClock::default()));
    m.bus().wait_for(&[DeviceMode::Streaming], Duration::from_secs(10)).unwrap();
    let mut bus = SimBus::new(m.clone());
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    let mut events = Collect::default();
    let opts = ExecOptions { mode_timeout: Duration::from_secs(120), ..ExecOptions::default() };
    exec::run(&plan, &pkg, &mut bus, &mut Journal::in_memory(), &mut events, &opts).unwrap();
    // The first fastboot step comes right after the reset into fastboot.
    let first_fb = plan.steps.iter().find(|s| s.id.starts_with("fastboot:")).unwrap().id.clone();
    let elapsed = events
        .0
        .iter()
        .find_map(|e| match e {
            Event::StepDone { step, elapsed_ms } if *step == first_fb => Some(*elapsed_ms),
            _ => None,
        })
        .unwrap();
    assert!(u128::from(elapsed) < reenum.as_millis(), "{first_fb} took {elapsed} ms, including the wait");
}
