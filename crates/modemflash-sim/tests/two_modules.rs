#![allow(clippy::many_single_char_names)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Issue 12: a journal belongs to one module. Two virtual modules, each with its own
//! identity: an update cut in every mode and then rerun on the other module starts over
//! there (and skips nothing); the modules swapped between runs each resume their own
//! record; a rerun on the right module still resumes. Also the two field failures of the
//! issue, and a re-enumeration of two modules at the same moment.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modemflash::discovery::ModuleBus;
use modemflash::discovery::selector::Selector;
use modemflash::exec::{self, Basis, ExecError, ExecOptions, Journal, JournalMatch, Outcome, Quiet};
use modemflash::package::{self, Package};
use modemflash::plan::{self, DeviceMode, Plan, PlanOptions};
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};
use modemflash_sim::{
    Fault, Model, Module, ModuleConfig, MultiBus, SharedClock, SimBus, SimEvent, VirtualClock,
};

const EC25_REV: &str = "EC25EFAR06A11M4G";
const EC20_REV: &str = "EC20AQAR02A04E2G";
const WAIT: Duration = Duration::from_secs(120);
const ANY: [DeviceMode; 5] =
    [DeviceMode::Normal, DeviceMode::Dload, DeviceMode::Streaming, DeviceMode::Fastboot, DeviceMode::Edl];

fn ec25_package(dir: &Path) -> Package {
    let spec = FirehoseSpec { revision: EC25_REV.into(), ..FirehoseSpec::default() };
    let root = dir.join(&spec.revision);
    builder::write_firehose(&root, &spec).unwrap();
    package::open(&root).unwrap()
}

fn ec20_package(dir: &Path) -> Package {
    let root = dir.join(EC20_REV);
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    package::open(&root).unwrap()
}

fn module(model: Model, mode: DeviceMode, path: &str, faults: &[&str], clock: &SharedClock) -> Module {
    let cfg = ModuleConfig {
        start_mode: mode,
        faults: faults.iter().map(|f| Fault::parse(f).unwrap()).collect(),
        port_path: path.into(),
        ..ModuleConfig::new(model)
    };
    let m = Module::start(cfg, clock.clone());
    m.bus().wait_for(&[mode], WAIT).unwrap();
    m
}

fn opts() -> ExecOptions {
    ExecOptions { mode_timeout: WAIT, ..ExecOptions::default() }.with_reply_timeouts(Duration::from_secs(5))
}

struct Run {
    matched: JournalMatch,
    plan: Plan,
    result: Result<Outcome, ExecError>,
}

/// What `modemflash update` does: identify (with identity), choose the journal record,
/// plan, run.
fn update(bus: &mut dyn ModuleBus, pkg: &Package, journal: &Path, fresh: bool) -> Run {
    let mut j = Journal::open(journal);
    let fp = plan::fingerprint(pkg);
    let found = exec::identify_module_waiting(bus, WAIT, j.depth_needed(&fp)).unwrap().expect("a module");
    let matched = j.select(&fp, &found.identity, found.state.mode, fresh).unwrap();
    let resume = j.resume_for(&fp);
    let plan = plan::build(
        pkg,
        &found.state,
        &PlanOptions::default(),
        resume.as_ref().map(|(f, d)| (f, d.as_slice())),
    )
    .unwrap();
    let result = exec::run(&plan, pkg, bus, &mut j, &mut Quiet, &opts());
    Run { matched, plan, result }
}

fn settle(m: &Module) {
    m.bus().wait_for(&ANY, WAIT).unwrap();
}

fn written(m: &Module) -> Vec<String> {
    m.history()
        .iter()
        .filter_map(
            |e| if let SimEvent::PartitionWritten { name, .. } = e { Some(name.clone()) } else { None },
        )
        .collect()
}

fn clock() -> SharedClock {
    Arc::new(VirtualClock::default())
}

/// Issue 12, first failure: an EC25 cut during `program modem`, the same command then run
/// against a different EC25 in normal mode. Before: 8 steps skipped, 4 partitions left old.
#[test]
fn ec25_cut_mid_flash_then_rerun_on_another_ec25_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = ec25_package(tmp.path());
    let journal = tmp.path().join("journal.json");
    let c = clock();
    let a = module(Model::Ec25, DeviceMode::Normal, "1-1", &["disconnect@step=firehose:program:modem"], &c);
    let b = module(Model::Ec25, DeviceMode::Normal, "1-2", &[], &c);

    let first = update(&mut SimBus::new(a.clone()), &pkg, &journal, false);
    let e = first.result.unwrap_err();
    assert!(e.step.starts_with("firehose:program:modem"), "{e}");
    // The journal learnt A's IMEI (normal mode) and chip serial (Firehose log).
    let rec = Journal::open(&journal).records()[0].clone();
    let a_id = a.with_core(|c| c.config.identity.clone());
    assert_eq!(rec.module.imei.as_deref(), Some(a_id.imei.as_str()));
    assert_eq!(rec.module.chip_serial, Some(a_id.chip_serial));
    assert!(rec.done.len() >= 5, "{:?}", rec.done);

    let second = update(&mut SimBus::new(b.clone()), &pkg, &journal, false);
    assert!(!second.matched.resume);
    assert!(
        matches!(&second.matched.basis, Basis::OtherModule { recorded, .. } if *recorded == a_id.imei),
        "{:?}",
        second.matched.basis
    );
    assert!(second.plan.skipped.is_empty(), "{:?}", second.plan.skipped);
    second.result.unwrap();
    assert_eq!(b.revision(), EC25_REV);
    for label in ["sbl", "tz", "rpm", "aboot", "boot", "modem"] {
        assert!(written(&b).iter().any(|w| w == label), "{label} not written on B: {:?}", written(&b));
    }

    // A's record was kept for A: its rerun resumes (A came back in EDL: its SBL is erased;
    // the chip serial read through Sahara matches).
    settle(&a);
    let third = update(&mut SimBus::new(a.clone()), &pkg, &journal, false);
    assert!(third.matched.resume, "{:?}", third.matched.basis);
    assert!(
        matches!(&third.matched.basis, Basis::Identity { matched } if matched.iter().any(|(k, _)| k.name() == "chip serial"))
    );
    assert!(third.plan.skipped.iter().any(|s| s == "firehose:program:tz"), "{:?}", third.plan.skipped);
    third.result.unwrap();
    assert_eq!(a.revision(), EC25_REV);
    let j = Journal::open(&journal);
    assert_eq!(j.records().len(), 2);
    assert!(j.records().iter().all(|r| r.completed));
}

/// Issue 12, second failure: two EC20 R1s stuck in fastboot, whose LK reports only
/// `MDM9615` (no identity). The second module, on another port, must not get the first
/// one's fastboot steps skipped; the first, rerun on its own port, still resumes.
#[test]
fn two_ec20_r1_stuck_in_fastboot_do_not_share_a_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = ec20_package(tmp.path());
    let journal = tmp.path().join("journal.json");
    let c = clock();
    let a = module(Model::Ec20R1, DeviceMode::Fastboot, "3-4", &["disconnect@step=fastboot:flash:dsp3"], &c);
    let b = module(Model::Ec20R1, DeviceMode::Fastboot, "3-5", &[], &c);

    let first = update(&mut SimBus::new(a.clone()), &pkg, &journal, false);
    assert!(first.result.unwrap_err().step.starts_with("fastboot:flash:dsp3"));
    let done = Journal::open(&journal).records()[0].done.clone();
    assert!(done.contains(&"fastboot:flash:aboot".to_string()), "{done:?}");

    let second = update(&mut SimBus::new(b.clone()), &pkg, &journal, false);
    assert!(!second.matched.resume);
    assert!(matches!(second.matched.basis, Basis::Unidentified { .. }), "{:?}", second.matched.basis);
    assert!(second.plan.skipped.is_empty(), "{:?}", second.plan.skipped);
    second.result.unwrap();
    assert_eq!(b.revision(), EC20_REV);

    settle(&a);
    let third = update(&mut SimBus::new(a.clone()), &pkg, &journal, false);
    assert!(third.matched.resume, "{:?}", third.matched.basis);
    assert_eq!(
        third.matched.basis,
        Basis::PortAndMode { port_path: "usb:3-4".into(), mode: DeviceMode::Fastboot }
    );
    assert!(third.plan.skipped.iter().any(|s| s == "fastboot:flash:aboot"), "{:?}", third.plan.skipped);
    third.result.unwrap();
    assert_eq!(a.revision(), EC20_REV);
}

/// An update cut in each mode of each flow, then the same command against the other
/// module: it starts over there, skips nothing and finishes; the first module's record is
/// kept, and its rerun resumes and finishes too.
#[test]
fn cut_in_every_mode_then_rerun_on_the_other_module() {
    let tmp = tempfile::tempdir().unwrap();
    let ec25 = ec25_package(tmp.path());
    let ec20 = ec20_package(tmp.path());
    let cases: &[(Model, &str, DeviceMode)] = &[
        // Normal mode (the switch to EDL), Sahara, Firehose erase, program, the last
        // program (SBL), then DLOAD, streaming and fastboot on the legacy path.
        (Model::Ec25, "disconnect@step=diag:edl", DeviceMode::Normal),
        (Model::Ec25, "disconnect@step=sahara:read", DeviceMode::Normal),
        (Model::Ec25, "disconnect@step=firehose:erase", DeviceMode::Edl),
        (Model::Ec25, "disconnect@step=firehose:program:boot", DeviceMode::Normal),
        (Model::Ec25, "disconnect@step=firehose:program:sbl", DeviceMode::Edl),
        (Model::Ec20R1, "disconnect@step=diag:dload", DeviceMode::Normal),
        (Model::Ec20R1, "disconnect@step=dmss:go", DeviceMode::Normal),
        (Model::Ec20R1, "disconnect@step=streaming:write:0:RPM", DeviceMode::Normal),
        (Model::Ec20R1, "disconnect@step=fastboot:flash:system", DeviceMode::Fastboot),
        (Model::Ec20R1, "disconnect@step=fastboot:flash:boot", DeviceMode::Normal),
    ];
    for (i, (model, fault, other_mode)) in cases.iter().enumerate() {
        let (pkg, rev) = match model {
            Model::Ec25 => (&ec25, EC25_REV),
            Model::Ec20R1 => (&ec20, EC20_REV),
        };
        let journal = tmp.path().join(format!("journal-{i}.json"));
        let c = clock();
        let a = module(*model, DeviceMode::Normal, "1-1", &[fault], &c);
        let b = module(*model, *other_mode, "1-2", &[], &c);
        let first = update(&mut SimBus::new(a.clone()), pkg, &journal, false);
        assert!(first.result.is_err(), "{fault}: the cut did not happen");
        settle(&a);

        let second = update(&mut SimBus::new(b.clone()), pkg, &journal, false);
        assert!(!second.matched.resume, "{fault}: {:?}", second.matched.basis);
        assert!(second.plan.skipped.is_empty(), "{fault}: {:?}", second.plan.skipped);
        second.result.unwrap_or_else(|e| panic!("{fault}: the other module: {e}"));
        assert_eq!(b.revision(), rev, "{fault}");

        let third = update(&mut SimBus::new(a.clone()), pkg, &journal, false);
        third.result.unwrap_or_else(|e| panic!("{fault}: rerun on the first module: {e}"));
        assert_eq!(a.revision(), rev, "{fault}");
        a.shutdown();
        b.shutdown();
    }
}

/// The modules swapped between runs (each cut once): every run resumes the record of the
/// module it is on, never the other's.
#[test]
fn modules_swapped_between_runs_each_resume_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = ec25_package(tmp.path());
    let journal = tmp.path().join("journal.json");
    let c = clock();
    let a = module(Model::Ec25, DeviceMode::Normal, "1-1", &["disconnect@step=firehose:program:tz"], &c);
    let b = module(Model::Ec25, DeviceMode::Normal, "1-1", &["disconnect@step=firehose:program:modem"], &c);
    // Same port path for both (one jig, modules swapped): identities decide.
    assert!(update(&mut SimBus::new(a.clone()), &pkg, &journal, false).result.is_err());
    settle(&a);
    let on_b = update(&mut SimBus::new(b.clone()), &pkg, &journal, false);
    assert!(matches!(on_b.matched.basis, Basis::OtherModule { .. }), "{:?}", on_b.matched.basis);
    assert!(on_b.result.is_err());
    settle(&b);
    let done_of = |m: &Module| {
        let chip = m.with_core(|c| c.config.identity.chip_serial);
        Journal::open(&journal)
            .records()
            .iter()
            .find(|r| r.module.chip_serial == Some(chip))
            .map(|r| r.done.clone())
            .unwrap()
    };
    let (done_a, done_b) = (done_of(&a), done_of(&b));
    assert!(!done_a.iter().any(|d| d == "firehose:program:tz"));
    assert!(done_b.iter().any(|d| d == "firehose:program:tz"));

    for (m, done) in [(&a, &done_a), (&b, &done_b)] {
        let r = update(&mut SimBus::new(m.clone()), &pkg, &journal, false);
        assert!(r.matched.resume, "{:?}", r.matched.basis);
        let durable_done: Vec<&String> = done.iter().filter(|d| d.starts_with("firehose:program:")).collect();
        for d in &durable_done {
            assert!(r.plan.skipped.contains(d), "{d} of this module not skipped: {:?}", r.plan.skipped);
        }
        assert!(r.plan.skipped.iter().all(|s| done.contains(s)), "skipped another module's step");
        r.result.unwrap();
        assert_eq!(m.revision(), EC25_REV);
    }
}

/// The same failure twice in a row says so (and `--fresh` then starts over).
#[test]
fn the_same_failure_twice_is_reported_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = ec20_package(tmp.path());
    let journal = tmp.path().join("journal.json");
    let c = clock();
    let nak = "nak@step=fastboot:flash:system";
    let a = module(Model::Ec20R1, DeviceMode::Fastboot, "3-4", &[nak, nak], &c);
    let e1 = update(&mut SimBus::new(a.clone()), &pkg, &journal, false).result.unwrap_err();
    assert_eq!(e1.repeated_failure, None);
    let second = update(&mut SimBus::new(a.clone()), &pkg, &journal, false);
    assert!(second.matched.resume);
    assert_eq!(second.matched.last_failure.as_ref().map(|f| f.count), Some(1));
    let e2 = second.result.unwrap_err();
    assert_eq!((e2.step.as_str(), e2.kind), (e1.step.as_str(), e1.kind));
    assert_eq!(e2.repeated_failure, Some(2));
    let fresh = update(&mut SimBus::new(a.clone()), &pkg, &journal, true);
    assert_eq!(fresh.matched.basis, Basis::Discarded);
    assert!(fresh.plan.skipped.is_empty());
    fresh.result.unwrap();
    assert_eq!(a.revision(), EC20_REV);
}

/// Poll `bus` until the module it follows shows `mode`, checking at every poll that it
/// never follows the device at `never`.
fn follow_until(bus: &mut MultiBus, mode: DeviceMode, never: &str) {
    for _ in 0..20_000 {
        let m = bus.detect().unwrap_or(None);
        if let Some(cur) = bus.current() {
            assert_ne!(cur.port_path(), never, "the neighbour was adopted");
        }
        if m == Some(mode) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the module never came back in {mode:?}");
}

/// Two modules on one bus re-enumerate at the same moment, the neighbour onto a new port
/// path. The host follows its module by port path, or by its USB serial where the new mode
/// shows one, and never adopts the neighbour as "the one new device".
#[test]
fn a_reenumeration_never_adopts_the_neighbour() {
    let c = clock();
    let a = module(Model::Ec25, DeviceMode::Normal, "2-1", &[], &c);
    let b = module(Model::Ec25, DeviceMode::Normal, "2-2", &[], &c);
    let mut bus = MultiBus::new(vec![a.clone(), b.clone()], Some(Selector::parse("usb:2-1").unwrap()));
    assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Normal));
    let a_imei = a.with_core(|c| c.config.identity.imei.clone());
    assert_eq!(
        exec::read_identity(&mut bus, DeviceMode::Normal, exec::Depth::Light).imei,
        Some(a_imei.clone())
    );

    // Both reset at once; B comes back on a new path, A on its own.
    b.set_port_path("1-7");
    a.power_cycle();
    b.power_cycle();
    follow_until(&mut bus, DeviceMode::Normal, "1-7");
    assert_eq!(bus.current().unwrap().port_path(), "2-1");
    assert_eq!(exec::read_identity(&mut bus, DeviceMode::Normal, exec::Depth::Light).imei, Some(a_imei));

    // Both move to new paths at the same moment (USB3 → USB2). The followed module is
    // in fastboot, whose USB serial is its own: it is followed by that serial, and B,
    // which shows none, is never taken for it.
    let a = module(Model::Ec25, DeviceMode::Fastboot, "2-3", &[], &c);
    let b = module(Model::Ec25, DeviceMode::Normal, "2-4", &[], &c);
    let mut bus = MultiBus::new(vec![a.clone(), b.clone()], Some(Selector::parse("usb:2-3").unwrap()));
    assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Fastboot));
    a.set_port_path("1-8");
    b.set_port_path("1-9");
    a.power_cycle();
    b.power_cycle();
    follow_until(&mut bus, DeviceMode::Fastboot, "1-9");
    assert_eq!(bus.current().unwrap().port_path(), "1-8");
    let fb = a.with_core(|c| c.config.identity.fastboot_serial.clone()).unwrap();
    let id = exec::read_identity(&mut bus, DeviceMode::Fastboot, exec::Depth::Light);
    assert_eq!(id.fastboot_serial.as_deref(), Some(fb.as_str()));
    assert_eq!(id.usb_serial.as_deref(), Some(fb.as_str()));
}

/// A module swapped in between identification and the run (or adopted by mistake on a
/// re-enumeration) is stopped as soon as it shows an identity, before anything is written:
/// here the Firehose programmer's chip serial right after the upload.
#[test]
fn another_module_found_mid_run_is_stopped_before_any_write() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = ec25_package(tmp.path());
    let journal = tmp.path().join("journal.json");
    let c = clock();
    let a = module(Model::Ec25, DeviceMode::Normal, "1-1", &["disconnect@step=firehose:program:modem"], &c);
    assert!(update(&mut SimBus::new(a.clone()), &pkg, &journal, false).result.is_err());
    settle(&a);
    let mut j = Journal::open(&journal);
    let fp = plan::fingerprint(&pkg);
    let found = exec::identify_module_waiting(&mut SimBus::new(a.clone()), WAIT, j.depth_needed(&fp))
        .unwrap()
        .unwrap();
    assert!(j.select(&fp, &found.identity, found.state.mode, false).unwrap().resume);
    let resume = j.resume_for(&fp);
    let plan = plan::build(
        &pkg,
        &found.state,
        &PlanOptions::default(),
        resume.as_ref().map(|(f, d)| (f, d.as_slice())),
    )
    .unwrap();
    // B, in EDL on the same port, is what the run meets.
    a.shutdown();
    let b = module(Model::Ec25, DeviceMode::Edl, "1-1", &[], &c);
    let e = exec::run(&plan, &pkg, &mut SimBus::new(b.clone()), &mut j, &mut Quiet, &opts()).unwrap_err();
    assert_eq!(e.kind, exec::FailureKind::WrongModule, "{e}");
    assert_eq!(e.step, "sahara:upload");
    assert!(e.message().contains("chip serial"), "{e}");
    assert!(written(&b).is_empty(), "{:?}", written(&b));
    // A's record did not take B's identity.
    let chip_a = Journal::open(&journal).records()[0].module.chip_serial;
    assert_ne!(chip_a, Some(b.with_core(|c| c.config.identity.chip_serial)));
}
