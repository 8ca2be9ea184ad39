#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! End to end: plan + exec of the MDM9x07 Firehose flow against the in-process virtual
//! EC25 (issue 6): from normal mode, from EDL, journal resume, a programmer left running,
//! package fit, and a fault matrix.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modemflash::exec::{self, Collect, Event, ExecError, ExecOptions, Journal};
use modemflash::package::{self, Package};
use modemflash::plan::{self, DeviceMode, Flow, Op, PlanError, PlanOptions};
use modemflash::protocol::fastboot::sparse::{ChunkKind, SparseReader};
use modemflash_sim::builder::{self, FirehoseSpec};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, SimBus, VirtualClock};
use sha2::{Digest, Sha256};

mod common;

const NEW_REV: &str = "EC25EFAR06A11M4G";
const WAIT: Duration = Duration::from_secs(120);

fn full_spec(revision: &str) -> FirehoseSpec {
    FirehoseSpec {
        revision: revision.into(),
        vendor_line: true,
        sparse_system: true,
        disk_patch: true,
        ..FirehoseSpec::default()
    }
}

/// A package in `dir/<revision>` (the revision is read from the name).
fn package_at(dir: &Path, spec: &FirehoseSpec) -> Package {
    let root = dir.join(&spec.revision);
    builder::write_firehose(&root, spec).unwrap();
    let pkg = package::open(&root).unwrap();
    assert!(pkg.is_valid(), "{:#?}", pkg.report.findings);
    pkg
}

fn start(mode: DeviceMode, faults: Vec<Fault>) -> (Module, SimBus) {
    let cfg = ModuleConfig { start_mode: mode, faults, ..ModuleConfig::new(Model::Ec25) };
    let m = Module::start(cfg, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[mode], WAIT).unwrap();
    let bus = SimBus::new(m.clone());
    (m, bus)
}

fn opts() -> ExecOptions {
    ExecOptions { mode_timeout: WAIT, ..ExecOptions::default() }
}

/// Identify, plan (resuming from `journal`) and run once.
fn attempt(
    m: &Module,
    bus: &mut SimBus,
    pkg: &Package,
    journal: &mut Journal,
    events: &mut Collect,
) -> Result<exec::Outcome, String> {
    m.bus().wait_for(&[DeviceMode::Normal, DeviceMode::Edl], WAIT).map_err(|e| e.to_string())?;
    let state = exec::identify(bus).unwrap().unwrap();
    let fp = plan::fingerprint(pkg);
    let resume = journal.resume_for(&fp);
    let plan =
        plan::build(pkg, &state, &PlanOptions::default(), resume.as_ref().map(|(f, d)| (f, d.as_slice())))
            .map_err(|e| e.to_string())?;
    exec::run(&plan, pkg, bus, journal, events, &opts()).map_err(|e: ExecError| e.to_string())
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the NAND should hold for a plain image: the file padded to whole sectors.
fn padded_sha256(path: &Path, sector: usize) -> String {
    let mut data = Vec::new();
    std::fs::File::open(path).unwrap().read_to_end(&mut data).unwrap();
    data.resize(data.len().div_ceil(sector) * sector, 0);
    hex(&Sha256::digest(&data))
}

/// What the NAND should hold for a sparse image: its RAW and FILL data, in order.
fn sparse_sha256(path: &Path) -> String {
    let mut sr = SparseReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let blk = sr.header().blk_sz as usize;
    let mut h = Sha256::new();
    while let Some(c) = sr.next_chunk().unwrap() {
        let len = c.blocks as usize * blk;
        match c.kind {
            ChunkKind::Raw => {
                let mut buf = vec![0u8; len];
                let mut at = 0;
                while at < len {
                    at += sr.read_raw(&mut buf[at..]).unwrap();
                }
                h.update(&buf);
            }
            ChunkKind::Fill(p) => h.update(p.repeat(len / 4)),
            _ => {}
        }
    }
    hex(&h.finalize())
}

/// Every program's image landed.
fn check_nand(m: &Module, pkg: &Package) {
    for op in &pkg.firehose.as_ref().unwrap().ops {
        if let package::XmlOp::Program(p) = op {
            let path = pkg.path_of(&p.file);
            let want =
                if p.sparse { sparse_sha256(&path) } else { padded_sha256(&path, p.sector_size as usize) };
            assert_eq!(m.with_core(|c| c.nand.sha256(&p.label)), Some(want), "{}", p.label);
        }
    }
}

fn ids(plan: &plan::Plan) -> Vec<&str> {
    plan.steps.iter().map(|s| s.id.as_str()).collect()
}

#[test]
fn from_normal_mode_updates_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_at(tmp.path(), &full_spec(NEW_REV));
    let (m, mut bus) = start(DeviceMode::Normal, vec![]);
    let state = exec::identify(&mut bus).unwrap().unwrap();
    assert_eq!(state.mode, DeviceMode::Normal);
    assert_eq!(state.revision.as_deref(), Some("EC25EFAR06A08M4G"));
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    assert_eq!(plan.flow, Flow::Firehose9x07);
    let ids = ids(&plan);
    // QFirehose's NAND order (`docs/facts/firehose.md`).
    assert_eq!(
        &ids[..6],
        [
            "diag:edl",
            "sahara:upload",
            "firehose:configure",
            "firehose:geometry",
            "firehose:erase:0",
            "firehose:vendor:1"
        ]
    );
    let first_program = ids.iter().position(|i| i.starts_with("firehose:program:")).unwrap();
    assert!(ids[6..first_program].iter().all(|i| i.starts_with("firehose:erase:")));
    let last_program = ids.iter().rposition(|i| i.starts_with("firehose:program:")).unwrap();
    assert_eq!(ids[last_program], "firehose:program:sbl");
    assert!(ids[first_program..last_program].iter().all(|i| *i != "firehose:program:sbl"));
    assert_eq!(&ids[last_program + 1..], ["firehose:patch:1", "firehose:power", "verify"]);
    assert!(plan.steps.iter().find(|s| s.id == "sahara:upload").is_some_and(|s| !s.durable));
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["steps"][1]["op"], "sahara-upload");

    let mut events = Collect::default();
    let mut journal = Journal::in_memory();
    let out = exec::run(&plan, &pkg, &mut bus, &mut journal, &mut events, &opts()).unwrap();
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    assert_eq!(m.revision(), NEW_REV);
    check_nand(&m, &pkg);
    assert!(journal.active().unwrap().completed);
    let logs: Vec<&str> = events
        .0
        .iter()
        .filter_map(|e| if let Event::DeviceLog { text, .. } = e { Some(text.as_str()) } else { None })
        .collect();
    assert!(logs.iter().any(|l| l.starts_with("programmer sent as image 13")), "{logs:?}");
    assert!(logs.iter().any(|l| l.starts_with("configured NAND: 8192 bytes")), "{logs:?}");
    assert!(
        events
            .0
            .iter()
            .any(|e| matches!(e, Event::Progress { step, .. } if step == "firehose:program:system"))
    );
    // The sparse system image went as one program per data run, never expanded.
    let pieces = m
        .history()
        .iter()
        .filter(|e| matches!(e, modemflash_sim::SimEvent::PartitionWritten { name, .. } if name == "system"))
        .count();
    assert_eq!(pieces, 2, "RAW+FILL, then RAW after the DONT_CARE gap");
}

#[test]
fn from_edl_start_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_at(tmp.path(), &FirehoseSpec::default());
    let (m, mut bus) = start(DeviceMode::Edl, vec![]);
    let state = exec::identify(&mut bus).unwrap().unwrap();
    assert_eq!((state.mode, state.revision.as_deref()), (DeviceMode::Edl, None));
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    // 05c6:9008 does not tell the chip: the Sahara HW id is checked before the upload.
    assert_eq!(ids(&plan)[..2], ["check:chipset", "sahara:upload"]);
    let mut journal = Journal::in_memory();
    let out = exec::run(&plan, &pkg, &mut bus, &mut journal, &mut Collect::default(), &opts()).unwrap();
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    check_nand(&m, &pkg);
}

#[test]
fn journal_resume_after_a_disconnect_skips_done_programs() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_at(tmp.path(), &full_spec(NEW_REV));
    let (m, mut bus) =
        start(DeviceMode::Normal, vec![Fault::parse("disconnect@step=firehose:program:system").unwrap()]);
    let mut journal = Journal::in_memory();
    let e = attempt(&m, &mut bus, &pkg, &mut journal, &mut Collect::default()).unwrap_err();
    assert!(e.contains("firehose:program:system"), "{e}");
    // The SBL was erased first: the module can only come back in EDL.
    m.bus().wait_for(&[DeviceMode::Edl], WAIT).unwrap();
    let state = exec::identify(&mut bus).unwrap().unwrap();
    let (flow, done) = journal.resume_for(&plan::fingerprint(&pkg)).unwrap();
    let plan = plan::build(&pkg, &state, &PlanOptions::default(), Some((&flow, &done))).unwrap();
    assert_eq!(ids(&plan)[..2], ["check:chipset", "sahara:upload"]);
    for label in ["mibib", "tz", "rpm", "aboot", "boot", "modem", "recoveryfs", "usrdata"] {
        assert!(plan.skipped.contains(&format!("firehose:program:{label}")), "{label}: {:?}", plan.skipped);
    }
    // NAND: the partitions still to be written are erased again, the others are not.
    let erases: Vec<&str> = ids(&plan).into_iter().filter(|i| i.starts_with("firehose:erase:")).collect();
    let sys_start =
        builder::partition_layout(&full_spec(NEW_REV)).iter().find(|p| p.0 == "system").unwrap().1;
    assert_eq!(erases, ["firehose:erase:0".to_string(), format!("firehose:erase:{sys_start}")]);
    let mut events = Collect::default();
    let out = exec::run(&plan, &pkg, &mut bus, &mut journal, &mut events, &opts()).unwrap();
    assert_eq!(out.revision_after.as_deref(), Some(NEW_REV));
    assert!(
        events.0.iter().any(|e| matches!(e, Event::StepSkipped { step } if step == "firehose:program:boot"))
    );
    check_nand(&m, &pkg);
}

#[test]
fn a_programmer_left_running_is_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_at(tmp.path(), &FirehoseSpec::default());
    let (m, mut bus) =
        start(DeviceMode::Normal, vec![Fault::parse("nak@step=firehose:program:modem").unwrap()]);
    let mut journal = Journal::in_memory();
    let e = attempt(&m, &mut bus, &pkg, &mut journal, &mut Collect::default()).unwrap_err();
    assert!(e.contains("NAK"), "{e}");
    assert_eq!(m.bus().current().mode, Some(DeviceMode::Edl));
    let mut events = Collect::default();
    attempt(&m, &mut bus, &pkg, &mut journal, &mut events).unwrap();
    assert!(
        events
            .0
            .iter()
            .any(|e| matches!(e, Event::DeviceLog { text, .. } if text.contains("already answers")))
    );
    assert_eq!(m.revision(), NEW_REV);
    check_nand(&m, &pkg);
}

/// The host dies in the data phase of a `<program>` while the module keeps power (an OTA
/// engine restarted, the gateway not rebooted): the programmer is left waiting for the rest of
/// that program's sectors and answers nothing. The rerun says so at once, names the power
/// cycle as the remedy, and after it the update resumes from the journal.
#[test]
fn a_host_that_died_mid_program_leaves_a_silent_interface_that_a_power_cycle_mends() {
    use modemflash::discovery::{ModuleBus, Port};
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_at(tmp.path(), &FirehoseSpec::default());
    let (m, mut bus) =
        start(DeviceMode::Normal, vec![Fault::parse("nak@step=firehose:program:modem").unwrap()]);
    let mut journal = Journal::in_memory();
    attempt(&m, &mut bus, &pkg, &mut journal, &mut Collect::default()).unwrap_err();
    // The dying host: a <program> of 64 sectors, its ACK, a third of the data, gone.
    common::die_in_a_program(bus.open(Port::Edl).unwrap(), 64 * 4096 / 3, WAIT);

    let mut events = Collect::default();
    let e = attempt(&m, &mut bus, &pkg, &mut journal, &mut events).unwrap_err();
    assert!(e.contains("the EDL interface is silent") && e.contains("power cycle"), "{e}");
    assert_eq!(m.bus().current().mode, Some(DeviceMode::Edl), "still on the bus");

    // The power cycle: the SBL was erased first, so the module comes back in EDL.
    m.power_cycle();
    attempt(&m, &mut bus, &pkg, &mut journal, &mut Collect::default()).unwrap();
    assert_eq!(m.revision(), NEW_REV);
    check_nand(&m, &pkg);
}

#[test]
fn cross_line_package_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    // The module runs R06; this package is from line R05.
    let pkg = package_at(
        tmp.path(),
        &FirehoseSpec { revision: "EC25EFAR05A03M4G".into(), ..FirehoseSpec::default() },
    );
    let (m, mut bus) = start(DeviceMode::Normal, vec![]);
    let state = exec::identify(&mut bus).unwrap().unwrap();
    match plan::build(&pkg, &state, &PlanOptions::default(), None) {
        Err(e @ PlanError::DoesNotFit { .. }) => {
            let text = e.to_string();
            assert!(
                // The library names no CLI flag: the CLI adds --force (`hints::plan_error`).
                text.contains("release line") && !text.contains("--"),
                "{text}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let forced = PlanOptions { force: true, ..PlanOptions::default() };
    let plan = plan::build(&pkg, &state, &forced, None).unwrap();
    let out = exec::run(&plan, &pkg, &mut bus, &mut Journal::in_memory(), &mut Collect::default(), &opts())
        .unwrap();
    assert_eq!(out.revision_after.as_deref(), Some("EC25EFAR05A03M4G"));
    assert_eq!(m.revision(), "EC25EFAR05A03M4G");
    // Another model entirely is refused too.
    let other = package_at(
        tmp.path(),
        &FirehoseSpec { revision: "EG25GGBR07A08M2G".into(), ..FirehoseSpec::default() },
    );
    let state = exec::identify(&mut bus).unwrap().unwrap();
    assert!(matches!(
        plan::build(&other, &state, &PlanOptions::default(), None),
        Err(PlanError::DoesNotFit { .. })
    ));
}

#[test]
fn a_corrupt_image_fails_md5_and_the_plan_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(NEW_REV);
    builder::write_firehose(&root, &FirehoseSpec::default()).unwrap();
    let boot = root.join("update/mdm9607-boot.img");
    let mut data = std::fs::read(&boot).unwrap();
    data[5000] ^= 1;
    std::fs::write(&boot, data).unwrap();
    let pkg = package::open(&root).unwrap();
    let state = plan::ModuleState::new(DeviceMode::Normal, Some("EC25EFAR06A08M4G".into()));
    assert!(matches!(
        plan::build(&pkg, &state, &PlanOptions::default(), None),
        Err(PlanError::InvalidPackage(_))
    ));
}

#[test]
fn plan_entry_from_normal_mode_after_everything_was_written_is_verify_only() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_at(tmp.path(), &FirehoseSpec::default());
    let state = plan::ModuleState::new(DeviceMode::Normal, Some(NEW_REV.into()));
    let all = plan::build(&pkg, &state, &PlanOptions::default(), None).unwrap();
    let done: Vec<String> = all
        .steps
        .iter()
        .filter(|s| s.id != "firehose:power" && s.id != "verify")
        .map(|s| s.id.clone())
        .collect();
    let p = plan::build(&pkg, &state, &PlanOptions::default(), Some((&Flow::Firehose9x07, &done))).unwrap();
    assert_eq!(ids(&p), ["verify"]);
    // Half done: from the start, done programs skipped.
    let half: Vec<String> = done.iter().take(8).cloned().collect();
    let p = plan::build(&pkg, &state, &PlanOptions::default(), Some((&Flow::Firehose9x07, &half))).unwrap();
    assert_eq!(ids(&p)[0], "diag:edl");
    assert!(
        p.steps.iter().all(|s| !matches!(&s.op, Op::FirehoseProgram { program } if program.label == "mibib"))
            || half.iter().all(|h| h != "firehose:program:mibib")
    );
    // A module in fastboot has no place in this flow.
    let fb = plan::ModuleState::new(DeviceMode::Fastboot, None);
    assert!(matches!(
        plan::build(&pkg, &fb, &PlanOptions::default(), None),
        Err(PlanError::CannotStartFrom(..))
    ));
}

/// One row of the fault matrix.
struct Row {
    fault: &'static str,
    first: String,
    second: String,
}

fn matrix_case(fault: &'static str) -> Row {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package_at(tmp.path(), &full_spec(NEW_REV));
    let (m, mut bus) = start(DeviceMode::Normal, vec![Fault::parse(fault).unwrap()]);
    let mut journal = Journal::in_memory();
    let first = attempt(&m, &mut bus, &pkg, &mut journal, &mut Collect::default());
    let (first, second) = match first {
        Ok(_) => ("completed".to_string(), "-".to_string()),
        Err(e) => {
            let step = e.split_whitespace().nth(1).unwrap_or("?").to_owned();
            // A stalled module answers nothing until it is power-cycled (the user replugs it).
            let stalled = m.with_core(|c| c.faults.stalled);
            if stalled {
                m.power_cycle();
            }
            let mut events = Collect::default();
            let second = attempt(&m, &mut bus, &pkg, &mut journal, &mut events);
            let skipped = events.0.iter().filter(|e| matches!(e, Event::StepSkipped { .. })).count();
            let how = if stalled { "after power cycle + rerun" } else { "after rerun" };
            (
                format!("failed at {step}"),
                match second {
                    Ok(_) => format!("completed {how} ({skipped} skipped)"),
                    Err(e) => format!("FAILED again: {e}"),
                },
            )
        }
    };
    if !second.starts_with("FAILED") {
        assert_eq!(m.revision(), NEW_REV, "{fault}");
        check_nand(&m, &pkg);
    }
    Row { fault, first, second }
}

#[test]
fn fault_matrix_completes_by_itself_or_after_one_rerun() {
    let faults = [
        "nak@step=diag:edl",
        "disconnect@step=sahara:hello",
        "nak@step=sahara:read",
        "disconnect@step=sahara:read",
        "nak@step=firehose:configure",
        "disconnect@step=firehose:configure",
        "stall@step=firehose:configure",
        "nak@step=firehose:erase",
        "disconnect@step=firehose:erase",
        "nak@step=firehose:program:boot",
        "disconnect@step=firehose:program:modem",
        "power-loss@step=firehose:program:system",
        "stall@step=firehose:program:usrdata",
        "power-loss@step=firehose:program:sbl",
        "disconnect@step=firehose:program:sbl",
        "disconnect@bytes=3000000",
        "corrupt@frame=30",
        "nak@step=firehose:patch",
        "nak@step=firehose:power",
        "disconnect@step=firehose:power",
    ];
    let rows: Vec<Row> = std::thread::scope(|s| {
        let handles: Vec<_> = faults.iter().map(|f| s.spawn(move || matrix_case(f))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!("{:<42} | {:<40} | second run", "fault", "first run");
    println!("{}", "-".repeat(130));
    for r in &rows {
        println!("{:<42} | {:<40} | {}", r.fault, r.first, r.second);
    }
    let bad: Vec<&str> = rows.iter().filter(|r| r.second.starts_with("FAILED")).map(|r| r.fault).collect();
    assert!(bad.is_empty(), "did not complete after one rerun: {bad:?}");
}
