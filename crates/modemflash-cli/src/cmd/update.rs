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
}

/// How long `update` waits for a module that is not on the bus yet.
const IDENTIFY_PATIENCE: Duration = Duration::from_secs(15);

pub fn run(args: &UpdateCmd) -> u8 {
    let pkg = match target::package(&args.package, args.json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut bus = match target::bus(&args.endpoints) {
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
    let mut journal = Journal::open(&journal_path);
    update(&pkg, bus.as_mut(), &mut journal, &args.plan.options(), &opts, args.json, args.yes)
}

/// Identify, plan, confirm, run, report. Shared with `demo`.
pub fn update(
    pkg: &Package,
    bus: &mut dyn ModuleBus,
    journal: &mut Journal,
    plan_opts: &plan::PlanOptions,
    opts: &ExecOptions,
    json: bool,
    yes: bool,
) -> u8 {
    // A module may be re-enumerating (a rerun right after a failure): give it a moment.
    let state = match exec::identify_waiting(bus, IDENTIFY_PATIENCE) {
        Ok(Some(s)) => s,
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
        ui::emit(&serde_json::json!({"event": "plan", "plan": &plan}));
    } else {
        super::plan::print_plan(&plan);
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
    match exec::run(&plan, pkg, bus, journal, observer, opts) {
        Ok(out) => {
            if json {
                ui::emit(
                    &serde_json::json!({"event": "result", "ok": true, "exit": exit::OK, "outcome": out}),
                );
            } else {
                println!("\n{}", summary(&out));
            }
            exit::OK
        }
        Err(e) => {
            let remedy = hints::remedy(&e);
            if json {
                ui::emit(
                    &serde_json::json!({"event": "result", "ok": false, "exit": exit::FAILED, "error": &e.to_string(), "step": &e.step, "endpoint": &e.endpoint, "kind": e.kind, "remedy": remedy}),
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

/// The last line of a successful run: what happened to the revision, in words.
fn summary(out: &exec::Outcome) -> String {
    use modemflash::catalog::RevisionChange;
    let before = out.revision_before.as_deref().unwrap_or("?");
    let after = out.revision_after.as_deref().unwrap_or("?");
    let head = match out.change {
        RevisionChange::Newer | RevisionChange::Different | RevisionChange::Unknown => {
            format!("Updated: {before} → {after}")
        }
        RevisionChange::Same => format!("Re-flashed the same revision: {before} → {after}"),
        RevisionChange::Older => format!("Downgraded to an older build: {before} → {after}"),
        RevisionChange::Unconfirmed => format!(
            "Finished, but the module still reports {after}: the package names no revision, \
             so whether new firmware was installed cannot be told"
        ),
    };
    format!(
        "{head} in {:.1}s ({} steps, {} skipped).",
        out.elapsed_ms as f64 / 1000.0,
        out.steps_run,
        out.steps_skipped
    )
}

fn result_json(json: bool, code: u8, outcome: Option<&exec::Outcome>, error: Option<&str>) {
    if json {
        ui::emit(
            &serde_json::json!({"event": "result", "ok": code == exit::OK, "exit": code, "outcome": outcome, "error": error}),
        );
    }
}

#[cfg(test)]
mod tests {
    use modemflash::catalog::RevisionChange;
    use modemflash::exec::Outcome;

    fn outcome(before: &str, after: &str, expected: Option<&str>) -> Outcome {
        Outcome {
            revision_before: Some(before.into()),
            revision_after: Some(after.into()),
            expected_revision: expected.map(str::to_owned),
            change: RevisionChange::between(Some(before), Some(after), expected),
            steps_run: 3,
            steps_skipped: 0,
            bytes_written: 0,
            elapsed_ms: 1500,
        }
    }

    #[test]
    fn the_summary_names_what_happened_to_the_revision() {
        let (a03, a04) = ("EC20AQAR02A03E2G", "EC20AQAR02A04E2G");
        let s = super::summary(&outcome(a03, a04, Some(a04)));
        assert!(s.starts_with("Updated: EC20AQAR02A03E2G → EC20AQAR02A04E2G in 1.5s"), "{s}");
        assert!(super::summary(&outcome(a04, a04, Some(a04))).starts_with("Re-flashed the same revision"));
        assert!(super::summary(&outcome(a04, a03, Some(a03))).starts_with("Downgraded to an older build"));
        let s = super::summary(&outcome(a03, a03, None));
        assert!(s.starts_with("Finished, but the module still reports EC20AQAR02A03E2G"), "{s}");
        assert!(!s.contains("Updated"), "{s}");
    }
}
