//! `modemflash update PKG`: identify the module, plan, confirm, run with a journal,
//! verify. A rerun after any interruption continues from the journal.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use modemflash::discovery::ModuleBus;
use modemflash::exec::{self, ExecError, ExecOptions, FailureKind, Journal, Observer};
use modemflash::package::Package;
use modemflash::plan::{self, DeviceMode, Plan};

use super::target::{self, EndpointArgs, PlanArgs};
use crate::out::RunResult;
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
  modemflash update ./fw.zip --port /dev/ttyUSB0 --yes --json     # NDJSON events for machines\n  \
  modemflash update ./fw.zip --port /dev/ttyUSB0 --record run.jsonl   # keep every transfer\n  \
  modemflash update ./fw.zip --replay run.jsonl                    # that run again, no module\n  \
  modemflash update ./fw.zip --all --yes                           # every module on USB at once\n\n\
Exit codes: 0 updated, 1 failed (the error says whether a rerun continues), 2 invalid package,\n\
3 no module found, 4 declined at the prompt (nothing written), 64 usage error,\n\
130 stopped by Ctrl-C or SIGTERM between steps (rerun the same command to continue).\n\
With several modules (--all, or --device/--port more than once): 0 every module updated,\n\
5 some updated and some not, 1 none updated, 3 none found, 130 stopped; docs/json.md.")]
pub struct UpdateCmd {
    /// Package directory or .zip.
    pub package: PathBuf,
    #[command(flatten)]
    pub endpoints: super::target::Targets,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// NDJSON events on stdout: step_started, progress, step_done, device_log, warning, result.
    #[arg(long)]
    pub json: bool,
    /// Journal file (default: $XDG_STATE_HOME/modemflash/journal-<fingerprint>.json, one per package).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Seconds to wait for each re-enumeration.
    #[arg(long, value_name = "SECS", default_value_t = 90)]
    pub timeout: u64,
    /// Fastboot download block size in bytes, 64 to 16777216 (picky bootloaders such as EG25
    /// want 16384).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(64..=16 << 20))]
    pub fastboot_block: Option<u32>,
    /// Pause between fastboot download blocks, in milliseconds (at most 10000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub fastboot_pacing: Option<u64>,
    /// Discard the journal of this package for this module and start the update over
    /// from the mode the module is in (other modules' records stay).
    #[arg(long)]
    pub fresh: bool,
    /// Back the module up into DIR before the update (`modemflash backup`), and compare
    /// its NV identity with the backup's afterwards. A DIR that already holds a backup is
    /// used as it is. Default in normal mode: a new folder under
    /// $XDG_STATE_HOME/modemflash/backups/. With several modules each gets DIR/<module id>/.
    #[arg(long, value_name = "DIR", conflicts_with = "no_backup")]
    pub backup: Option<PathBuf>,
    /// Update without taking a backup first (and without the NV comparison after).
    #[arg(long)]
    pub no_backup: bool,
    #[command(flatten)]
    pub session: super::session::SessionArgs,
}

impl UpdateCmd {
    /// The executor's options these flags ask for (one module or several).
    pub fn exec_options(&self) -> ExecOptions {
        let mut opts =
            ExecOptions { mode_timeout: Duration::from_secs(self.timeout), ..ExecOptions::default() };
        if let Some(b) = self.fastboot_block {
            opts.fastboot.block_size = usize::try_from(b).unwrap_or(16 << 20);
        }
        if let Some(ms) = self.fastboot_pacing {
            opts.fastboot.pacing = Duration::from_millis(ms);
        }
        opts
    }

    /// `--backup DIR` / `--no-backup` / neither.
    pub fn backup_choice(&self) -> BackupChoice {
        match (&self.backup, self.no_backup) {
            (_, true) => BackupChoice::Off,
            (Some(dir), false) => BackupChoice::Into(dir.clone()),
            (None, false) => BackupChoice::Default,
        }
    }
}

/// How long `update` waits for a module that is not on the bus yet.
const IDENTIFY_PATIENCE: Duration = Duration::from_secs(15);

/// One module (`endpoints`: what `args` names, as one module's flags); several go through
/// `update_many` (the choice is `cmd::update`).
pub fn run(args: &UpdateCmd, endpoints: &EndpointArgs) -> u8 {
    let endpoints = endpoints.clone();
    let pkg = match target::package(&args.package, args.json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let journal_path =
        args.journal.clone().unwrap_or_else(|| Journal::default_path(&plan::fingerprint(&pkg)));
    // A replay starts from an empty journal unless one is named (docs/recording.md).
    let mut journal = if args.session.replaying() && args.journal.is_none() {
        Journal::in_memory()
    } else {
        Journal::open(&journal_path)
    };
    let fingerprint = plan::fingerprint(&pkg);
    let resumable = journal.records().iter().any(|r| r.package == fingerprint && !r.completed);
    if !args.session.replaying()
        && let Err(code) = target::check_tty(&endpoints, resumable)
    {
        return code;
    }
    let (mut bus, session) = match super::session::bus(&endpoints, &args.session, "update", true) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let opts = args.exec_options();
    let backup = args.backup_choice();
    let how =
        How { json: args.json, yes: args.yes, rerun: Some(hints::this_command()), fresh: args.fresh, backup };
    let code = update(&pkg, bus.as_mut(), &mut journal, &args.plan.options(), &opts, &how);
    drop(bus);
    session.finish(code)
}

/// How to run and report an update.
#[derive(Debug, Clone, Default)]
pub struct How {
    /// NDJSON events instead of text.
    pub json: bool,
    /// No confirmation prompt.
    pub yes: bool,
    /// The exact command that continues this update (`None`: nothing can, as in the demo).
    pub rerun: Option<String>,
    /// Discard this module's journal record first.
    pub fresh: bool,
    /// Whether to back the module up first.
    pub backup: BackupChoice,
}

/// `update --backup DIR` / `--no-backup` / neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BackupChoice {
    /// No backup, no NV comparison (the demo, `--no-backup`).
    #[default]
    Off,
    /// A new backup folder when the module is in normal mode and no update is half-done.
    Default,
    /// This folder: used when it holds a backup, else the backup is taken into it.
    Into(PathBuf),
}

/// Where a default backup goes: `$XDG_STATE_HOME/modemflash/backups/<when>`.
pub(super) fn default_backup_dir() -> PathBuf {
    let journal = Journal::default_path("x");
    let base = journal.parent().map_or_else(std::env::temp_dir, Path::to_path_buf);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    base.join("backups").join(format!("backup-{}-{}", now.as_secs(), std::process::id()))
}

/// Identify, plan, confirm, run, report. Shared with `demo`.
pub fn update(
    pkg: &Package,
    bus: &mut dyn ModuleBus,
    journal: &mut Journal,
    plan_opts: &plan::PlanOptions,
    opts: &ExecOptions,
    how: &How,
) -> u8 {
    let (json, fresh) = (how.json, how.fresh);
    // A module may be re-enumerating (a rerun right after a failure): give it a moment.
    let depth = journal.depth_needed(&plan::fingerprint(pkg));
    let (state, identity) = match exec::identify_module_waiting(bus, IDENTIFY_PATIENCE, depth) {
        Ok(Some(s)) => (s.state, s.identity),
        Ok(None) => {
            error!("no module answers on {}", where_looked(bus));
            let mut r = RunResult::new(exit::NO_MODULE);
            r.remedy = Some(no_module_remedy(journal, &plan::fingerprint(pkg), bus));
            if !json && let Some(remedy) = &r.remedy {
                tell!("{remedy}");
            }
            emit(json, &r);
            return exit::NO_MODULE;
        }
        Err(e) => {
            error!("{}", hints::bus_error(&e));
            emit(json, &RunResult::new(exit::NO_MODULE));
            return exit::NO_MODULE;
        }
    };
    let fingerprint = plan::fingerprint(pkg);
    let matched = match journal.select(&fingerprint, &identity, state.mode, fresh) {
        Ok(m) => m,
        Err(e) => {
            let path = journal.path().map(|p| p.display().to_string()).unwrap_or_default();
            let text = format!("journal {path}: {e}; pass --journal PATH on a writable disk");
            error!("{text}");
            emit(json, &RunResult::new(exit::FAILED));
            return exit::FAILED;
        }
    };
    let resume = journal.resume_for(&fingerprint);
    let resuming = resume.as_ref().is_some_and(|(_, d)| !d.is_empty());
    let backup_dir = match &how.backup {
        BackupChoice::Off => None,
        BackupChoice::Default => (state.mode == DeviceMode::Normal && !resuming).then(default_backup_dir),
        BackupChoice::Into(dir) => Some(dir.clone()),
    };
    let plan = match plan::build(pkg, &state, plan_opts, resume.as_ref().map(|(f, d)| (f, d.as_slice()))) {
        Ok(p) => match &backup_dir {
            Some(dir) => plan::backup::with_nv_check(p, dir),
            None => p,
        },
        Err(e) => {
            error!("{}", hints::plan_error(&e));
            emit(json, &RunResult::new(exit::FAILED));
            return exit::FAILED;
        }
    };
    let module = ui::ModuleRef::new(
        identity.port_path.clone().unwrap_or_else(|| bus.endpoint(modemflash::discovery::Port::Dm)),
        identity.clone(),
    );
    if json {
        let plan_event =
            serde_json::json!({"event": "plan", "plan": super::plan::plan_json(&plan, &matched)});
        ui::emit(&ui::stamped(&plan_event, Some(&module)));
    } else {
        super::plan::print_plan(&plan);
        super::plan::print_journal(&plan, &matched);
        say!();
    }
    if !how.yes && !json {
        if !std::io::stdin().is_terminal() {
            error!("refusing to flash without confirmation; pass --yes to run non-interactively");
            return exit::USAGE;
        }
        say_part!("Flash this module? [y/N] ");
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            say!("Nothing was written.");
            return exit::DECLINED;
        }
    }
    // Ctrl-C and SIGTERM: the first stops between steps, the second at once.
    crate::signals::install(&opts.cancel);
    if let Some(dir) = &backup_dir {
        if dir.join(modemflash::backup::MANIFEST).exists() {
            match modemflash::backup::load(dir) {
                Ok(_) if json => {}
                Ok(_) => say!("Using the backup in {}.", dir.display()),
                Err(e) => {
                    error!("--backup {}: {e}; nothing was written", dir.display());
                    emit(json, &RunResult::new(exit::FAILED));
                    return exit::FAILED;
                }
            }
        } else {
            if !json {
                say!("Backing the module up into {} first (--no-backup skips this).", dir.display());
            }
            if let Err(code) = super::backup::take(pkg, bus, dir, json, opts, Some(&module)) {
                tell!(
                    "The update did not start: nothing was written. Fix what stopped the backup, or pass \
                     --no-backup to update without one."
                );
                emit(json, &RunResult::new(code));
                return code;
            }
        }
    }
    let mut human = ui::Human::new();
    let mut machine = ui::Json { module: Some(module.clone()) };
    let observer: &mut dyn Observer = if json { &mut machine } else { &mut human };
    let mut observer = super::session::observer(observer);
    let result = exec::run(&plan, pkg, bus, journal, observer.as_mut(), opts);
    drop(observer);
    if crate::out::stdout_closed() {
        tell!("note: standard output was closed early; the update went on to its end regardless.");
    }
    let journal_text = journal.path().map(|p| p.display().to_string());
    match result {
        Ok(out) => {
            if json {
                let mut r = RunResult::new(exit::OK);
                r.module = serde_json::to_value(&module).ok();
                r.outcome = serde_json::to_value(&out).ok();
                r.journal = journal_text;
                r.emit();
            } else {
                say!("\n{}", summary(&out));
            }
            exit::OK
        }
        Err(e) => failed(&e, &plan, journal_text, how, &module),
    }
}

/// The endpoints that were tried, leaving out the ones not given.
fn where_looked(bus: &dyn ModuleBus) -> String {
    use modemflash::discovery::Port;
    let given: Vec<String> = [Port::Dm, Port::Fastboot]
        .into_iter()
        .map(|p| bus.endpoint(p))
        .filter(|e| !e.starts_with("no ") || !e.ends_with(" given"))
        .collect();
    if given.is_empty() { "the given endpoints".into() } else { given.join(" or ") }
}

/// What to do when nothing answers. An unfinished 9x07 update of this package in the
/// journal changes the likely cause: the module may be on the bus in EDL with a programmer
/// that an interrupted run left waiting for data, which answers nothing until a power cycle
/// (docs/facts/firehose.md, "A host that dies in the data phase").
fn no_module_remedy(journal: &Journal, fingerprint: &str, bus: &dyn ModuleBus) -> String {
    let place = bus.location().port_path;
    let left_in_edl = journal.records().iter().find(|r| {
        r.package == fingerprint
            && !r.completed
            && r.flow == modemflash::plan::Flow::Firehose9x07
            && r.expect_mode == Some(modemflash::module::DeviceMode::Edl)
            && (r.module.port_path.is_none() || r.module.port_path == place)
    });
    match left_in_edl {
        Some(r) => format!(
            "The journal holds an unfinished update of this package here ({} steps done; the module was last in \
             EDL). If that run was interrupted while the module kept power, its programmer is likely still waiting for \
             the rest of a <program> and answers nothing: power-cycle the module (unplug, wait 5 s, plug in), then rerun \
             the same command; the SBL was erased first, so it comes back in EDL and the update continues. \
             {NO_MODULE_REMEDY}",
            r.done.len()
        ),
        None => NO_MODULE_REMEDY.into(),
    }
}

const NO_MODULE_REMEDY: &str = "Check the cable and that the module is powered; `modemflash list` shows what USB \
     sees and `modemflash doctor` checks drivers and permissions.";

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

fn emit(json: bool, r: &RunResult) {
    if json {
        r.emit();
    }
}

/// Where the module is after the steps before `failed` (for the message after a stop).
fn module_state(plan: &Plan, failed: &str) -> String {
    let at = plan.steps.iter().position(|s| s.id == failed).unwrap_or(0);
    let done = plan.skipped.len() + at;
    let total = plan.skipped.len() + plan.steps.len();
    let mode = match at.checked_sub(1).and_then(|i| plan.steps.get(i)) {
        Some(prev) => prev.leads_to.unwrap_or(prev.needs),
        None => plan.found_in,
    };
    let what = match mode {
        DeviceMode::Normal => "running its firmware (normal mode)",
        DeviceMode::Dload => "in its download mode (DLOAD), waiting for a programmer",
        DeviceMode::Streaming => "running the streaming programmer, waiting for commands",
        DeviceMode::Fastboot => "in fastboot, waiting for commands",
        DeviceMode::Edl => "in EDL, waiting for the Firehose programmer or its commands",
    };
    format!("The module is {what}; {done} of {total} steps are done.")
}

fn failed(e: &ExecError, plan: &Plan, journal: Option<String>, how: &How, module: &ui::ModuleRef) -> u8 {
    let cancelled = e.kind == FailureKind::Cancelled;
    let code = if cancelled { exit::INTERRUPTED } else { exit::FAILED };
    let rerun = how.rerun.clone();
    let remedy = match (&rerun, cancelled) {
        (Some(cmd), _) => hints::remedy(e, cmd),
        (None, true) => "This was the demo: nothing to continue; run it again.".to_owned(),
        (None, false) => hints::remedy(e, "modemflash demo"),
    };
    let state = module_state(plan, &e.step);
    if cancelled {
        tell!("\nStopped before step {} ({}), as asked.", e.step, e.title);
        tell!("{state}");
        match (&journal, &rerun) {
            (Some(j), Some(cmd)) => {
                tell!("Nothing is lost: every finished step is recorded in the journal {j}.");
                tell!("To continue: {cmd}");
            }
            _ => tell!("{remedy}"),
        }
    } else {
        error!("{e}");
        tell!("{state}\n{remedy}");
        if let Some(j) = &journal {
            tell!("journal: {j}");
        }
    }
    if how.json {
        let mut r = RunResult::new(code);
        r.module = serde_json::to_value(module).ok();
        r.error = Some(e.to_string());
        r.step = Some(e.step.clone());
        r.endpoint = Some(e.endpoint.clone());
        r.kind = serde_json::to_value(e.kind).ok();
        r.repeated_failure = e.repeated_failure;
        r.remedy = Some(if cancelled { format!("{state} {remedy}") } else { remedy });
        r.journal = journal;
        r.emit();
    }
    code
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
