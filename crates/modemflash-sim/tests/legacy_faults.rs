//! The legacy update under every fault switch of the virtual module: each run must end in
//! a completed, verified update, by itself or after reruns that the journal resumes (with
//! a power cycle in between, as a user would unplug a stalled module). Prints the matrix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use modemflash::exec::{self, ExecOptions, Journal, Quiet};
use modemflash::module::DeviceMode;
use modemflash::package;
use modemflash::plan::{self, PlanOptions};
use modemflash_sim::builder::{self, LegacySpec};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, SimBus, VirtualClock};

const NEW_REV: &str = "EC20AQAR02A04E2G";
const MAX_RUNS: usize = 4;

/// Run update attempts until one succeeds; returns (runs, first error).
fn update_until_done(pkg: &package::Package, m: &Module, mode_timeout: Duration) -> (usize, Option<String>) {
    let mut journal = Journal::in_memory();
    let opts = ExecOptions { mode_timeout, ..ExecOptions::default() }
        .with_reply_timeouts(Duration::from_millis(400));
    let mut first_err = None;
    for run in 1..=MAX_RUNS {
        let mut bus = SimBus::new(m.clone());
        let attempt = (|| -> Result<(), String> {
            m.bus()
                .wait_for(
                    &[DeviceMode::Normal, DeviceMode::Dload, DeviceMode::Streaming, DeviceMode::Fastboot],
                    Duration::from_secs(300),
                )
                .map_err(|e| e.to_string())?;
            let state = exec::identify(&mut bus).map_err(|e| e.to_string())?.ok_or("no module")?;
            let fp = plan::fingerprint(pkg);
            let resume = journal.resume_for(&fp);
            let plan = plan::build(
                pkg,
                &state,
                &PlanOptions::default(),
                resume.as_ref().map(|(f, d)| (f, d.as_slice())),
            )
            .map_err(|e| e.to_string())?;
            exec::run(&plan, pkg, &mut bus, &mut journal, &mut Quiet, &opts).map_err(|e| e.to_string())?;
            Ok(())
        })();
        match attempt {
            Ok(()) => return (run, first_err),
            Err(e) => {
                first_err.get_or_insert(e);
                // What a user does with a module that stopped answering: replug it.
                m.power_cycle();
            }
        }
    }
    (usize::MAX, first_err)
}

#[test]
fn every_fault_ends_in_a_completed_update() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(NEW_REV);
    builder::write_legacy(&root, &LegacySpec::default()).unwrap();
    let pkg = package::open(&root).unwrap();
    let faults = [
        "disconnect@step=diag:dload",
        "disconnect@bytes=20000",
        "disconnect@step=streaming:write:0:RPM",
        "disconnect@step=fastboot:flash:system",
        "corrupt@frame=3",
        "corrupt@frame=60",
        "nak@step=dmss:write",
        "nak@step=streaming:open:0:APPSBL",
        "nak@step=fastboot:flash:boot",
        "stall@step=streaming:write:0:SBL2",
        "stall@step=fastboot:flash:dsp1",
        "slow-reenum=60",
        "power-loss@step=streaming:write:0:SBL1",
        "power-loss@step=streaming:write:0:APPSBL",
        "power-loss@step=fastboot:flash:system",
        "power-loss@step=fastboot:flash:boot",
    ];
    let mut table =
        vec![format!("{:<44} {:>5}  {}", "fault", "runs", "first failure (then resumed from the journal)")];
    let mut failed = Vec::new();
    for spec in faults {
        let cfg =
            ModuleConfig { faults: vec![Fault::parse(spec).unwrap()], ..ModuleConfig::new(Model::Ec20R1) };
        let m = Module::start(cfg, Arc::new(VirtualClock::default()));
        let (runs, err) = update_until_done(&pkg, &m, Duration::from_secs(120));
        let ok =
            runs <= MAX_RUNS && m.revision() == NEW_REV && m.bus().current().mode == Some(DeviceMode::Normal);
        let first = err.as_deref().map_or("-".to_owned(), |e| e.chars().take(90).collect());
        table.push(format!("{spec:<44} {:>5}  {first}", if ok { runs.to_string() } else { "FAIL".into() }));
        eprintln!("{}", table.last().map_or("", String::as_str));
        if !ok {
            failed.push(spec);
        }
        m.shutdown();
    }
    println!("\nlegacy update fault matrix (EC20 R1, flow A):\n{}\n", table.join("\n"));
    assert!(
        failed.is_empty(),
        "faults that did not end in a completed update: {failed:?}\n{}",
        table.join("\n")
    );
}
