#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Backups (issue 16) against the virtual modules: an EC25 updated then backed up (each
//! partition file starts with the bytes flashed), a package built for another NAND
//! refused before any erase, NV lost during an update caught, and the EC20 R1 as far as
//! its programmer reads (NV only).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modemflash::backup;
use modemflash::exec::{self, Collect, Event, ExecOptions, FailureKind, Journal};
use modemflash::package::{self, Package, XmlOp};
use modemflash::plan::{self, PlanOptions};
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, SimBus, VirtualClock};

const WAIT: Duration = Duration::from_secs(120);

fn firehose_package(dir: &Path, spec: &FirehoseSpec) -> Package {
    let root = dir.join(&spec.revision);
    builder::write_firehose(&root, spec).unwrap();
    let pkg = package::open(&root).unwrap();
    assert!(pkg.is_valid(), "{:#?}", pkg.report.findings);
    pkg
}

fn start(cfg: ModuleConfig) -> (Module, SimBus) {
    let mode = cfg.start_mode;
    let m = Module::start(cfg, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[mode], WAIT).unwrap();
    let bus = SimBus::new(m.clone());
    (m, bus)
}

fn opts() -> ExecOptions {
    ExecOptions { mode_timeout: WAIT, ..ExecOptions::default() }
}

fn update(
    bus: &mut SimBus,
    pkg: &Package,
    nv_backup: Option<&Path>,
) -> Result<exec::Outcome, exec::ExecError> {
    let state = exec::identify(bus).unwrap().unwrap();
    let mut p = plan::build(pkg, &state, &PlanOptions::default(), None).unwrap();
    if let Some(dir) = nv_backup {
        p = plan::backup::with_nv_check(p, dir);
    }
    exec::run(&p, pkg, bus, &mut Journal::in_memory(), &mut Collect::default(), &opts())
}

fn programs(pkg: &Package) -> Vec<package::ProgramEntry> {
    pkg.firehose
        .as_ref()
        .unwrap()
        .ops
        .iter()
        .filter_map(|op| if let XmlOp::Program(p) = op { Some(p.clone()) } else { None })
        .collect()
}

#[test]
fn an_updated_ec25_backs_up_what_was_flashed() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = firehose_package(tmp.path(), &FirehoseSpec::default());
    let (m, mut bus) = start(ModuleConfig::new(Model::Ec25));
    let imei = m.with_core(|c| c.config.identity.imei.clone());
    update(&mut bus, &pkg, None).unwrap();

    let out = tmp.path().join("bk");
    let mut events = Collect::default();
    let done = exec::backup(&pkg, &mut bus, &out, &mut events, &opts()).unwrap();
    let progs = programs(&pkg);
    assert_eq!(done.manifest.partitions.len(), progs.len());
    assert_eq!(done.manifest.identity.imei.as_deref(), Some(imei.as_str()));
    assert_eq!(done.manifest.identity.revision.as_deref(), Some("EC25EFAR06A11M4G"));
    for p in &progs {
        let flashed = std::fs::read(pkg.path_of(&p.file)).unwrap();
        let read = std::fs::read(out.join(backup::file_for(&p.label))).unwrap();
        // The partition's extent: its erase line's, whole blocks.
        assert!(read.len() as u64 >= p.num_partition_sectors * u64::from(p.sector_size), "{}", p.label);
        assert_eq!(read.len() % (64 * 4096), 0, "{}", p.label);
        assert!(read.starts_with(&flashed), "{}: the backup does not start with the flashed image", p.label);
        // Past the image: the last sector's padding, then erased NAND.
        let padded = flashed.len().div_ceil(p.sector_size as usize) * p.sector_size as usize;
        assert!(read[flashed.len()..padded].iter().all(|&b| b == 0), "{}", p.label);
        assert!(read[padded..].iter().all(|&b| b == 0xff), "{}", p.label);
        let entry = done.manifest.partitions.iter().find(|f| f.label == p.label).unwrap();
        assert_eq!(entry.offset, p.start_sector.number().unwrap() * u64::from(p.sector_size));
        assert_eq!(entry.length, read.len() as u64);
    }
    // Files are complete under their names; no temporary left; the manifest checks out.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(backup::load(&out).unwrap(), done.manifest);
    let nv = backup::load_nv(&out).unwrap().unwrap();
    assert_eq!(nv.imei.as_deref(), Some(imei.as_str()));
    assert!(
        events
            .0
            .iter()
            .any(|e| matches!(e, Event::Progress { step, .. } if step.starts_with("backup:read:")))
    );
    // The module is back in normal mode; a second backup into the same folder is refused.
    let again = exec::backup(&pkg, &mut bus, &out, &mut Collect::default(), &opts());
    assert!(matches!(again, Err(exec::BackupRunError::NotEmpty(_))), "{again:?}");
    // A damaged file is found.
    let first = out.join(&done.manifest.partitions[0].file);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&first, bytes).unwrap();
    assert!(matches!(backup::load(&out), Err(backup::BackupError::Damaged { .. })));
}

#[test]
fn a_package_for_another_nand_is_refused_before_any_erase() {
    let tmp = tempfile::tempdir().unwrap();
    // Built for 256 KiB blocks (64 × 4 KiB); the chip has 128 KiB blocks (32 × 4 KiB).
    let pkg = firehose_package(tmp.path(), &FirehoseSpec::default());
    let mut cfg = ModuleConfig::new(Model::Ec25);
    cfg.edl.pages_per_block = 32;
    cfg.edl.total_blocks = 4096;
    let (m, mut bus) = start(cfg);
    let before = m.with_core(|c| c.nand.clone());
    let e = update(&mut bus, &pkg, None).unwrap_err();
    assert_eq!(e.step, "firehose:geometry", "{e}");
    assert_eq!(e.kind, FailureKind::Package);
    assert!(e.message().contains("PAGES_PER_BLOCK=64 (256 KiB blocks)"), "{}", e.message());
    assert!(e.message().contains("32 pages per block (128 KiB blocks)"), "{}", e.message());
    assert!(e.message().contains("nothing was erased"), "{}", e.message());
    assert_eq!(m.with_core(|c| c.nand.clone()), before, "the NAND was touched");
}

#[test]
fn nv_lost_during_an_update_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = firehose_package(tmp.path(), &FirehoseSpec::default());
    let cfg =
        ModuleConfig { faults: vec![Fault::parse("wipe-nv").unwrap()], ..ModuleConfig::new(Model::Ec25) };
    let (_m, mut bus) = start(cfg);
    let out = tmp.path().join("before");
    exec::backup(&pkg, &mut bus, &out, &mut Collect::default(), &opts()).unwrap();
    let e = update(&mut bus, &pkg, Some(&out)).unwrap_err();
    assert_eq!(e.step, "nv:compare", "{e}");
    assert_eq!(e.kind, FailureKind::Verify);
    assert!(e.message().contains("NV 550 (ue-imei, identity): IMEI"), "{}", e.message());
    assert!(e.message().contains("inactive now"), "{}", e.message());

    // Without the fault the same check passes.
    let (_m2, mut bus2) = start(ModuleConfig::new(Model::Ec25));
    let out2 = tmp.path().join("before2");
    exec::backup(&pkg, &mut bus2, &out2, &mut Collect::default(), &opts()).unwrap();
    update(&mut bus2, &pkg, Some(&out2)).unwrap();
}

#[test]
fn the_ec20_r1_backs_up_its_nv_and_says_why_not_its_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("EC20AQAR02A05E2G");
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let pkg = package::open(&root).unwrap();
    let (m, mut bus) = start(ModuleConfig::new(Model::Ec20R1));
    let imei = m.with_core(|c| c.config.identity.imei.clone());
    let out = tmp.path().join("bk");
    let done = exec::backup(&pkg, &mut bus, &out, &mut Collect::default(), &opts()).unwrap();
    assert!(done.manifest.partitions.is_empty());
    assert_eq!(done.manifest.identity.imei.as_deref(), Some(imei.as_str()));
    assert!(
        done.manifest.not_backed_up.iter().any(|n| n.contains("MDM9615")),
        "{:?}",
        done.manifest.not_backed_up
    );
    let nv = backup::load_nv(&out).unwrap().unwrap();
    let imei_item = nv.items.iter().find(|r| r.item == 550).unwrap();
    assert_eq!(imei_item.status, "ok");
    assert_eq!(nv.items.iter().find(|r| r.item == 1943).unwrap().status, "inactive");
}

#[test]
fn a_restore_writes_every_partition_back_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let old = firehose_package(tmp.path(), &FirehoseSpec::default());
    let newer = FirehoseSpec { revision: "EC25EFAR06A12M4G".into(), seed: 7, ..FirehoseSpec::default() };
    let new = firehose_package(tmp.path(), &newer);
    let (m, mut bus) = start(ModuleConfig::new(Model::Ec25));
    update(&mut bus, &old, None).unwrap();
    let bk = tmp.path().join("bk1");
    let first = exec::backup(&old, &mut bus, &bk, &mut Collect::default(), &opts()).unwrap().manifest;
    update(&mut bus, &new, None).unwrap();
    assert_eq!(m.with_core(|c| c.running_revision.clone()), "EC25EFAR06A12M4G");

    // The plan: SBL erased first and written last.
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let p = plan::restore::restore(&old, &state, &first, &bk).unwrap();
    let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
    let first_erase = ids.iter().position(|i| i.starts_with("restore:erase:")).unwrap();
    assert_eq!(ids[first_erase], "restore:erase:sbl");
    let last_program = ids.iter().rposition(|i| i.starts_with("restore:program:")).unwrap();
    assert_eq!(ids[last_program], "restore:program:sbl");
    assert!(p.steps.iter().filter(|s| s.id.starts_with("restore:")).all(|s| s.durable));

    let mut journal = Journal::in_memory();
    let out =
        exec::restore(&old, &mut bus, &bk, false, &mut journal, &mut Collect::default(), &opts()).unwrap();
    assert_eq!(out.revision_after.as_deref(), Some("EC25EFAR06A11M4G"));
    // Read back again: every partition as it was backed up.
    let bk2 = tmp.path().join("bk2");
    let second = exec::backup(&old, &mut bus, &bk2, &mut Collect::default(), &opts()).unwrap().manifest;
    assert_eq!(first.partitions.len(), second.partitions.len());
    for (a, b) in first.partitions.iter().zip(&second.partitions) {
        assert_eq!((&a.label, a.length, &a.sha256), (&b.label, b.length, &b.sha256), "{} changed", a.label);
    }
}

#[test]
fn a_backup_of_another_module_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = firehose_package(tmp.path(), &FirehoseSpec::default());
    let (_a, mut bus_a) = start(ModuleConfig::new(Model::Ec25));
    let bk = tmp.path().join("bk");
    exec::backup(&pkg, &mut bus_a, &bk, &mut Collect::default(), &opts()).unwrap();
    let (b, mut bus_b) = start(ModuleConfig::new(Model::Ec25));
    let before = b.with_core(|c| c.nand.clone());
    let e = exec::restore(
        &pkg,
        &mut bus_b,
        &bk,
        false,
        &mut Journal::in_memory(),
        &mut Collect::default(),
        &opts(),
    )
    .unwrap_err();
    assert!(matches!(e, exec::RestoreError::OtherModule { .. }), "{e}");
    assert!(e.to_string().contains("Nothing was written"), "{e}");
    assert_eq!(b.with_core(|c| c.nand.clone()), before);
    exec::restore(&pkg, &mut bus_b, &bk, true, &mut Journal::in_memory(), &mut Collect::default(), &opts())
        .unwrap();
}

#[test]
fn a_module_in_edl_is_read_and_left_in_edl() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = firehose_package(tmp.path(), &FirehoseSpec::default());
    let cfg =
        ModuleConfig { start_mode: modemflash::module::DeviceMode::Edl, ..ModuleConfig::new(Model::Ec25) };
    let (m, mut bus) = start(cfg);
    let out = tmp.path().join("bk");
    let done = exec::backup(&pkg, &mut bus, &out, &mut Collect::default(), &opts()).unwrap();
    assert_eq!(done.manifest.nv, None);
    assert!(done.manifest.not_backed_up.iter().any(|n| n.starts_with("NV items: the module is in EDL")));
    assert_eq!(done.manifest.partitions.len(), programs(&pkg).len());
    assert_eq!(m.with_core(|c| c.mode), Some(modemflash::module::DeviceMode::Edl));
}
