//! What a legacy update says about the revision (issue 10 item 5): the module reports the
//! revision found in what was written, a resumed run keeps the revision from before, and a
//! re-flash, a downgrade and an unconfirmed result are named as such.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use modemflash::catalog::RevisionChange;
use modemflash::exec::{self, Collect, ExecOptions, Journal};
use modemflash::package;
use modemflash::plan::{self, DeviceMode, Flow, PlanOptions};
use modemflash_sim::builder::{self, LegacySpec};
use modemflash_sim::{Model, Module, ModuleConfig, SimBus, VirtualClock};

fn package(dir: &std::path::Path, revision: &str) -> package::Package {
    let root = dir.join("fw");
    builder::write_legacy(&root, &LegacySpec { revision: revision.into(), ..LegacySpec::default() }).unwrap();
    package::open(&root).unwrap()
}

fn start(mode: DeviceMode, revision: &str) -> (Module, SimBus) {
    let cfg = ModuleConfig {
        start_mode: mode,
        revision: revision.into(),
        qfastboot: modemflash_sim::core::qfastboot_default(revision),
        ..ModuleConfig::new(Model::Ec20R1)
    };
    let m = Module::start(cfg, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[mode], Duration::from_secs(10)).unwrap();
    let bus = SimBus::new(m.clone());
    (m, bus)
}

fn opts() -> ExecOptions {
    ExecOptions { mode_timeout: Duration::from_secs(120), ..ExecOptions::default() }
}

fn update(pkg: &package::Package, bus: &mut SimBus, journal: &mut Journal) -> exec::Outcome {
    let state = exec::identify(bus).unwrap().unwrap();
    let resume = journal.resume_for(&plan::fingerprint(pkg));
    let plan =
        plan::build(pkg, &state, &PlanOptions::default(), resume.as_ref().map(|(f, d)| (f, d.as_slice())))
            .unwrap();
    exec::run(&plan, pkg, bus, journal, &mut Collect::default(), &opts()).unwrap()
}

#[test]
fn a_newer_package_is_an_update_and_the_module_reports_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), "EC20AQAR02A04E2G");
    let (m, mut bus) = start(DeviceMode::Normal, "EC20AQAR02A03E2G");
    let out = update(&pkg, &mut bus, &mut Journal::in_memory());
    assert_eq!(out.revision_before.as_deref(), Some("EC20AQAR02A03E2G"));
    assert_eq!(out.revision_after.as_deref(), Some("EC20AQAR02A04E2G"));
    assert_eq!(out.change, RevisionChange::Newer);
    // Found in the dsp2 partition as written, not in any marker.
    assert_eq!(
        m.with_core(|c| c.nand.get("dsp2").unwrap().content.revision.clone()).as_deref(),
        Some("EC20AQAR02A04E2G")
    );
}

#[test]
fn the_same_revision_again_and_an_older_one_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), "EC20AQAR02A04E2G");
    let (_m, mut bus) = start(DeviceMode::Normal, "EC20AQAR02A04E2G");
    assert_eq!(update(&pkg, &mut bus, &mut Journal::in_memory()).change, RevisionChange::Same);
    let (_m, mut bus) = start(DeviceMode::Normal, "EC20AQAR02A05E2G");
    let out = update(&pkg, &mut bus, &mut Journal::in_memory());
    assert_eq!(out.change, RevisionChange::Older);
    assert_eq!(out.revision_after.as_deref(), Some("EC20AQAR02A04E2G"));
}

#[test]
fn a_package_without_a_revision_that_changes_nothing_is_unconfirmed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    // A modem image without a version record (as dsp1 has none).
    std::fs::copy(root.join("dsp1.mbn"), root.join("dsp2.mbn")).unwrap();
    let pkg = package::open(&root).unwrap();
    assert!(pkg.report.revision.is_none());
    let (_m, mut bus) = start(DeviceMode::Normal, "EC20AQAR02A03E2G");
    let out = update(&pkg, &mut bus, &mut Journal::in_memory());
    assert_eq!(out.revision_after.as_deref(), Some("EC20AQAR02A03E2G"));
    assert_eq!(out.change, RevisionChange::Unconfirmed);
}

#[test]
fn a_resumed_run_reports_the_revision_before_from_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path(), "EC20AQAR02A04E2G");
    // The first run got through the streaming pass of flow A, then the cable was pulled:
    // the module is in fastboot and the journal holds the revision it reported before.
    let mut journal = Journal::open(&tmp.path().join("journal.json"));
    journal
        .begin(&plan::fingerprint(&pkg), &pkg.report.path, Flow::LegacyA, Some("EC20AQAR02A03E2G".into()))
        .unwrap();
    let normal = plan::ModuleState::new(DeviceMode::Normal, Some("EC20AQAR02A03E2G".into()));
    let full = plan::build(&pkg, &normal, &PlanOptions::default(), None).unwrap();
    for s in full.steps.iter().take_while(|s| s.needs != DeviceMode::Fastboot) {
        journal.mark(&s.id).unwrap();
    }
    let (_m, mut bus) = start(DeviceMode::Fastboot, "EC20AQAR02A03E2G");
    let out = update(&pkg, &mut bus, &mut journal);
    assert!(out.steps_skipped > 0 || out.steps_run < full.steps.len(), "{out:?}");
    assert_eq!(out.revision_before.as_deref(), Some("EC20AQAR02A03E2G"));
    assert_eq!(out.change, RevisionChange::Newer);
}

#[test]
fn a_module_that_reports_another_revision_than_the_package_names_fails_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fw");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    // contents.xml (trusted first) names A05; the modem image written carries A04.
    std::fs::write(
        root.join("contents.xml"),
        "<contents><product_name>EC20AQAR02A05E2G</product_name></contents>",
    )
    .unwrap();
    let pkg = package::open(&root).unwrap();
    assert_eq!(pkg.report.revision.as_ref().unwrap().raw, "EC20AQAR02A05E2G");
    let (_m, mut bus) = start(DeviceMode::Normal, "EC20AQAR02A03E2G");
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    let err = exec::run(&plan, &pkg, &mut bus, &mut Journal::in_memory(), &mut Collect::default(), &opts())
        .unwrap_err();
    assert_eq!(err.step, "verify");
    assert_eq!(err.kind, exec::FailureKind::Verify);
    assert!(
        err.message().contains("reports EC20AQAR02A04E2G, the package installs EC20AQAR02A05E2G"),
        "{err:?}"
    );
}
