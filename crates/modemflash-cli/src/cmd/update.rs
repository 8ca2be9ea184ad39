//! `modemflash update PKG`: identify the module, plan, confirm, run with a journal,
//! verify. A rerun after any interruption continues from the journal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use modemflash::discovery::ModuleBus;
use modemflash::exec::{self, ExecOptions, Journal, Observer};
use modemflash::package::Package;
use modemflash::plan;

use super::target::{self, EndpointArgs, PlanArgs};
use crate::{exit, hints, ui};

/// Update a module with a firmware package, or finish an update that stopped halfway.
///
/// The package is validated completely before anything is written. The module is found
/// in whatever mode it is in (normal, DLOAD, streaming programmer, fastboot) and only what
/// is left is done. Every finished step is journaled, so a rerun after a power cut or an
/// unplugged cable continues where it stopped.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash update ./EC20AQAR02A04E2G --port /dev/ttyUSB0 --fastboot tcp:192.168.1.1:5554\n  \
  modemflash update ./fw.zip --port /dev/ttyUSB0 --yes --json     # NDJSON events for machines\n\n\
Exit codes: 0 updated, 1 failed (the module is left resumable: rerun the same command),\n\
2 invalid package, 3 no module found, 64 usage error.")]
pub struct UpdateCmd {
    /// Package directory or .zip.
    pub package: PathBuf,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// NDJSON events on stdout: step_started, progress, step_done, device_log, warning, result.
    #[arg(long)]
    pub json: bool,
    /// Journal file (default: $XDG_STATE_HOME/modemflash/journal-<package>.json).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Seconds to wait for each re-enumeration.
    #[arg(long, value_name = "SECS", default_value_t = 90)]
    pub timeout: u64,
    /// Fastboot download block size in bytes (picky bootloaders such as EG25 want 16384).
    #[arg(long, value_name = "BYTES")]
    pub fastboot_block: Option<usize>,
    /// Pause between fastboot download blocks, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub fastboot_pacing: Option<u64>,
    /// Discard the journal of this package for this module and start the update over
    /// from the mode the module is in (other modules' records stay).
    #[arg(long)]
    pub fresh: bool,
    #[command(flatten)]
    pub session: super::session::SessionArgs,
}

/// How long `update` waits for a module that is not on the bus yet.
const IDENTIFY_PATIENCE: Duration = Duration::from_secs(15);

pub fn run(args: &UpdateCmd) -> u8 {
    let pkg = match target::package(&args.package, args.json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (mut bus, session) = match super::session::bus(&args.endpoints, &args.session, "update", true) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut opts = ExecOptions { mode_timeout: Duration::from_secs(args.timeout), ..ExecOptions::default() };
    if let Some(b) = args.fastboot_block {
        opts.fastboot.block_size = b;
    }
    if let Some(ms) = args.fastboot_pacing {
        opts.fastboot.pacing = Duration::from_millis(ms);
    }
    let journal_path =
        args.journal.clone().unwrap_or_else(|| Journal::default_path(&plan::fingerprint(&pkg)));
    // A replay starts from an empty journal unless one is named (docs/recording.md).
    let mut journal = if args.session.replaying() && args.journal.is_none() {
        Journal::in_memory()
    } else {
        Journal::open(&journal_path)
    };
    let flags = Flags { json: args.json, yes: args.yes, fresh: args.fresh };
    let code = update(&pkg, bus.as_mut(), &mut journal, &args.plan.options(), &opts, flags);
    drop(bus);
    session.finish(code)
}

/// How `update` talks and what it may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub json: bool,
    pub yes: bool,
    /// Discard this module's journal record first.
    pub fresh: bool,
}

/// Identify, plan, confirm, run, report. Shared with `demo`.
pub fn update(
    pkg: &Package,
    bus: &mut dyn ModuleBus,
    journal: &mut Journal,
    plan_opts: &plan::PlanOptions,
    opts: &ExecOptions,
    flags: Flags,
) -> u8 {
    let Flags { json, yes, fresh } = flags;
    // A module may be re-enumerating (a rerun right after a failure): give it a moment.
    let depth = journal.depth_needed(&plan::fingerprint(pkg));
    let (state, identity) = match exec::identify_module_waiting(bus, IDENTIFY_PATIENCE, depth) {
        Ok(Some(s)) => (s.state, s.identity),
        Ok(None) => {
            eprintln!(
                "error: no module answers on {} or {}",
                bus.endpoint(modemflash::discovery::Port::Dm),
                bus.endpoint(modemflash::discovery::Port::Fastboot)
            );
            result_json(json, exit::NO_MODULE, None, Some("no module found"));
            return exit::NO_MODULE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            result_json(json, exit::NO_MODULE, None, Some(&e.to_string()));
            return exit::NO_MODULE;
        }
    };
    let fingerprint = plan::fingerprint(pkg);
    let matched = match journal.select(&fingerprint, &identity, state.mode, fresh) {
        Ok(m) => m,
        Err(e) => {
            let path = journal.path().map(|p| p.display().to_string()).unwrap_or_default();
            let text = format!("journal {path}: {e}; pass --journal PATH on a writable disk");
            eprintln!("error: {text}");
            result_json(json, exit::FAILED, None, Some(&text));
            return exit::FAILED;
        }
    };
    let resume = journal.resume_for(&fingerprint);
    let plan = match plan::build(pkg, &state, plan_opts, resume.as_ref().map(|(f, d)| (f, d.as_slice()))) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            result_json(json, exit::FAILED, None, Some(&e.to_string()));
            return exit::FAILED;
        }
    };
    if json {
        ui::emit(&serde_json::json!({"event": "plan", "plan": super::plan::plan_json(&plan, &matched)}));
    } else {
        super::plan::print_plan(&plan);
        super::plan::print_journal(&plan, &matched);
        println!();
    }
    if !yes && !json {
        if !std::io::stdin().is_terminal() {
            eprintln!("error: refusing to flash without confirmation; pass --yes to run non-interactively");
            return exit::USAGE;
        }
        print!("Flash this module? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            println!("Nothing was written.");
            return exit::OK;
        }
    }
    let mut human = ui::Human::new();
    let mut machine = ui::Json;
    let observer: &mut dyn Observer = if json { &mut machine } else { &mut human };
    let mut observer = super::session::observer(observer);
    match exec::run(&plan, pkg, bus, journal, observer.as_mut(), opts) {
        Ok(out) => {
            if json {
                ui::emit(
                    &serde_json::json!({"event": "result", "ok": true, "exit": exit::OK, "outcome": out}),
                );
            } else {
                println!(
                    "\nUpdated: {} → {} in {:.1}s ({} steps, {} skipped).",
                    out.revision_before.as_deref().unwrap_or("?"),
                    out.revision_after.as_deref().unwrap_or("?"),
                    out.elapsed_ms as f64 / 1000.0,
                    out.steps_run,
                    out.steps_skipped
                );
            }
            exit::OK
        }
        Err(e) => {
            let remedy = hints::remedy(&e);
            if json {
                ui::emit(
                    &serde_json::json!({"event": "result", "ok": false, "exit": exit::FAILED, "error": &e.to_string(), "step": &e.step, "endpoint": &e.endpoint, "kind": e.kind, "repeated_failure": e.repeated_failure, "remedy": remedy}),
                );
            } else {
                eprintln!("\nerror: {e}\n{remedy}");
                if let Some(p) = journal.path() {
                    eprintln!("journal: {}", p.display());
                }
            }
            exit::FAILED
        }
    }
}

fn result_json(json: bool, code: u8, outcome: Option<&exec::Outcome>, error: Option<&str>) {
    if json {
        ui::emit(
            &serde_json::json!({"event": "result", "ok": code == exit::OK, "exit": code, "outcome": outcome, "error": error}),
        );
    }
}
