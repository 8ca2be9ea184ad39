//! `modemflash update PKG --all`, or several `--device`/`--port`: every module at once, one
//! thread each. Each module has its own bus, journal record, identity and plan; modules on
//! USB share one [`Watcher`], which never hands a module a neighbour's device. One
//! module's failure never stops the others; the exit code sums them up (`EXIT_HELP`).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use modemflash::discovery::ModuleBus;
use modemflash::discovery::ports::PortsBus;
use modemflash::discovery::selector::Selector;
use modemflash::discovery::sysfs::Roots;
use modemflash::discovery::watcher::{HostUsb, Watcher};
use modemflash::exec::{self, Event, ExecError, ExecOptions, Journal, JournalMatch, Observer};
use modemflash::module::DeviceMode;
use modemflash::package::Package;
use modemflash::plan::{self, Plan, PlanOptions};

use super::target::Targets;
use super::update::{BackupChoice, UpdateCmd};
use super::update_view::ModuleResult;
use crate::out::RunResult;
use crate::ui::{self, ModuleRef};
use crate::{exit, hints};

/// Some modules were updated and some were not.
pub const PARTIAL: u8 = 5;

/// How long a module may take to show up before it counts as not found.
const IDENTIFY_PATIENCE: Duration = Duration::from_secs(15);

/// One module of the run, before it is identified.
struct Slot {
    /// What picks it, as a `--device` selector (for messages and the rerun command).
    selector: String,
    bus: Box<dyn ModuleBus>,
}

/// A module identified and planned.
struct Ready {
    plan: Plan,
    matched: JournalMatch,
    journal: Journal,
    revision_before: Option<String>,
    /// Where this module is backed up before its update (the plan then compares its NV
    /// identity afterwards), as `update` does for one module.
    backup: Option<PathBuf>,
}

fn usage(text: &str) -> u8 {
    error!("{text}");
    exit::USAGE
}

/// The modules the flags name, each with its bus.
fn slots(t: &Targets) -> Result<Vec<Slot>, u8> {
    if t.at_port.is_some() || t.fastboot.is_some() {
        return Err(usage(
            "--at-port and --fastboot name one module's ports; with several modules use one --device or --port per module",
        ));
    }
    // One watcher for every module on USB, created when the first one is named.
    let mut watcher: Option<Watcher> = None;
    let mut out = Vec::new();
    if t.all {
        let w = Watcher::new(Box::new(HostUsb::new(Roots::default())));
        let found = w.modules().map_err(|e| {
            error!("{e}");
            exit::NO_MODULE
        })?;
        if found.is_empty() {
            error!(
                "--all: no module found on USB; `modemflash list` shows what USB sees and `modemflash doctor` checks \
                 drivers and permissions"
            );
            return Err(exit::NO_MODULE);
        }
        for f in found {
            let text = format!("usb:{}", f.usb_path);
            out.push(usb_slot(&w, Selector::UsbPath(f.usb_path), text)?);
        }
        return Ok(out);
    }
    for d in &t.device {
        match Selector::parse(d) {
            Ok(Selector::Serial(p)) => out.push(ports(Some(p), None, d)?),
            Ok(Selector::Tcp { host, port }) => out.push(ports(None, Some(&format!("{host}:{port}")), d)?),
            Ok(sel) => {
                let w = watcher.get_or_insert_with(|| Watcher::new(Box::new(HostUsb::new(Roots::default()))));
                out.push(usb_slot(w, sel, d.clone())?);
            }
            Err(e) => return Err(usage(&format!("--device {d}: {e}"))),
        }
    }
    for p in &t.port {
        out.push(ports(Some(p.clone()), None, &format!("serial:{}", p.display()))?);
    }
    let mut seen: Vec<&str> = out.iter().map(|s| s.selector.as_str()).collect();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w.first() == w.get(1)) {
        return Err(usage(&format!("{} is named twice; name each module once", w.first().unwrap_or(&""))));
    }
    Ok(out)
}

fn usb_slot(w: &Watcher, sel: Selector, text: String) -> Result<Slot, u8> {
    match w.bus(sel) {
        Ok(mut b) => {
            // As with one module: ModemManager is kept off each module while it is updated.
            b.inhibit_modemmanager(None);
            Ok(Slot { selector: text, bus: Box::new(b) })
        }
        Err(e) => {
            error!("--device {text}: {e}");
            Err(exit::USAGE)
        }
    }
}

fn ports(tty: Option<PathBuf>, fastboot: Option<&str>, text: &str) -> Result<Slot, u8> {
    match PortsBus::new(tty, None, fastboot) {
        Ok(b) => Ok(Slot { selector: text.to_owned(), bus: Box::new(b) }),
        Err(e) => Err(usage(&format!("{text}: {e}"))),
    }
}

/// `update` over several modules.
pub fn run(args: &UpdateCmd) -> u8 {
    if args.session.record.is_some() || args.session.replaying() {
        return usage("--record and --replay follow one module; name one --device or --port with them");
    }
    let pkg = match super::target::package(&args.package, args.json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let slots = match slots(&args.endpoints) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = args.exec_options();
    let journal_path =
        args.journal.clone().unwrap_or_else(|| Journal::default_path(&plan::fingerprint(&pkg)));
    let fleet = Fleet { pkg: &pkg, plan_opts: args.plan.options(), opts, journal_path, args };
    fleet.run(slots)
}

struct Fleet<'a> {
    pkg: &'a Package,
    plan_opts: PlanOptions,
    opts: ExecOptions,
    journal_path: PathBuf,
    args: &'a UpdateCmd,
}

type Prepared = (Slot, ModuleRef, Instant, Result<Ready, ModuleResult>);

impl Fleet<'_> {
    fn run(&self, slots: Vec<Slot>) -> u8 {
        let json = self.args.json;
        // Identify and plan every module at once (a module in EDL may take a while).
        let prepared: Vec<Prepared> = std::thread::scope(|s| {
            let handles: Vec<_> = slots.into_iter().map(|slot| s.spawn(move || self.prepare(slot))).collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (_, module, _, ready) in &prepared {
            match ready {
                Ok(r) if json => {
                    let ev = serde_json::json!({"event": "plan", "plan": super::plan::plan_json(&r.plan, &r.matched)});
                    ui::emit(&ui::stamped(&ev, Some(module)));
                }
                Ok(r) => say!(
                    "{}: {} in {} mode, {} steps to run, {} done earlier",
                    module.id,
                    r.revision_before.as_deref().unwrap_or("revision unknown"),
                    r.plan.found_in.name(),
                    r.plan.steps.len(),
                    r.plan.skipped.len()
                ),
                Err(failed) => tell!("{}: {}", module.id, failed.error.as_deref().unwrap_or("failed")),
            }
        }
        let ready = prepared.iter().filter(|p| p.3.is_ok()).count();
        if ready > 0 && !self.args.yes && !json && !confirm(ready) {
            return exit::DECLINED;
        }
        crate::signals::install(&self.opts.cancel);
        let (tx, rx) = mpsc::channel::<(usize, Event)>();
        let modules: Vec<ModuleRef> = prepared.iter().map(|p| p.1.clone()).collect();
        let results: Vec<ModuleResult> = std::thread::scope(|s| {
            let handles: Vec<_> = prepared
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let tx = tx.clone();
                    s.spawn(move || self.execute(p, &mut Forward { index: i, tx }))
                })
                .collect();
            drop(tx);
            super::update_view::render(&rx, &modules, json);
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let code = run_exit(&results, self.opts.cancel.requested());
        if json {
            for r in &results {
                ui::emit(r);
            }
            let mut r = RunResult::new(code);
            let failed: Vec<&str> = results.iter().filter(|r| !r.ok).map(|r| r.module.id.as_str()).collect();
            if !failed.is_empty() {
                r.error = Some(format!(
                    "{} of {} modules not updated: {}",
                    failed.len(),
                    results.len(),
                    failed.join(", ")
                ));
            }
            r.modules = Some(results.iter().filter_map(|m| serde_json::to_value(m).ok()).collect());
            r.journal = Some(self.journal_path.display().to_string());
            r.emit();
        } else {
            super::update_view::summary(&results);
        }
        code
    }

    /// Identify the module, choose its journal record and plan.
    fn prepare(&self, mut slot: Slot) -> Prepared {
        let started = Instant::now();
        let mut journal = Journal::open(&self.journal_path);
        let fp = plan::fingerprint(self.pkg);
        let depth = journal.depth_needed(&fp);
        let found = exec::identify_module_waiting(slot.bus.as_mut(), IDENTIFY_PATIENCE, depth);
        let (state, identity) = match found {
            Ok(Some(f)) => (f.state, f.identity),
            other => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(_) => {
                        format!("no module answers at {}", slot.bus.endpoint(modemflash::discovery::Port::Dm))
                    }
                };
                let module = ModuleRef::new(
                    slot.selector.clone(),
                    modemflash::discovery::module_id::ModuleIdentity::default(),
                );
                let r = ModuleResult::new(module.clone(), &slot.selector).failed(
                    exit::NO_MODULE,
                    why,
                    Some("Check the cable and power; `modemflash list` shows what USB sees.".into()),
                );
                return (slot, module, started, Err(r));
            }
        };
        let place = identity
            .port_path
            .clone()
            .or(slot.bus.location().port_path)
            .unwrap_or_else(|| slot.selector.clone());
        let module = ModuleRef::new(place, identity.clone());
        let fail =
            |text: String| ModuleResult::new(module.clone(), &slot.selector).failed(exit::FAILED, text, None);
        let matched = match journal.select(&fp, &identity, state.mode, self.args.fresh) {
            Ok(m) => m,
            Err(e) => {
                let r = fail(format!(
                    "journal {}: {e}; pass --journal PATH on a writable disk",
                    self.journal_path.display()
                ));
                return (slot, module, started, Err(r));
            }
        };
        let resume = journal.resume_for(&fp);
        let resuming = resume.as_ref().is_some_and(|(_, d)| !d.is_empty());
        let backup = self.backup_dir(&module, state.mode == DeviceMode::Normal && !resuming);
        match plan::build(self.pkg, &state, &self.plan_opts, resume.as_ref().map(|(f, d)| (f, d.as_slice())))
        {
            Ok(plan) => {
                let plan = match &backup {
                    Some(dir) => plan::backup::with_nv_check(plan, dir),
                    None => plan,
                };
                let ready = Ready { plan, matched, journal, revision_before: state.revision.clone(), backup };
                (slot, module, started, Ok(ready))
            }
            Err(e) => {
                let r = fail(e.to_string());
                (slot, module, started, Err(r))
            }
        }
    }

    fn execute(
        &self,
        (mut slot, module, started, ready): Prepared,
        observer: &mut dyn Observer,
    ) -> ModuleResult {
        let mut ready = match ready {
            Ok(r) => r,
            Err(r) => return ModuleResult { elapsed_ms: ms(started), ..r },
        };
        if let Some(dir) = &ready.backup
            && let Err(why) = self.back_up(slot.bus.as_mut(), dir, observer)
        {
            let remedy = "Nothing was written to this module. Fix what stopped the backup, or pass --no-backup to \
                          update without one.";
            let r = ModuleResult::new(module, &slot.selector).failed(exit::FAILED, why, Some(remedy.into()));
            return ModuleResult { elapsed_ms: ms(started), revision_before: ready.revision_before, ..r };
        }
        let result =
            exec::run(&ready.plan, self.pkg, slot.bus.as_mut(), &mut ready.journal, observer, &self.opts);
        let mut r = ModuleResult::new(module, &slot.selector);
        r.revision_before = ready.revision_before;
        r.journal = ready.journal.path().map(|p| p.display().to_string());
        // Every identity the run learnt, for the result (the id stays as identified).
        if let Some(rec) = ready.journal.active() {
            r.module.identity.merge(&rec.module);
        }
        match result {
            Ok(out) => {
                r.ok = true;
                r.exit = exit::OK;
                r.revision_after.clone_from(&out.revision_after);
                if out.revision_before.is_some() {
                    r.revision_before.clone_from(&out.revision_before);
                }
                r.outcome = Some(out);
            }
            Err(e) => r = self.failure(r, &e),
        }
        r.elapsed_ms = ms(started);
        r
    }

    /// The folder a module is backed up into, by `--backup`/`--no-backup`: one folder per
    /// module, named after its id (`--backup DIR` gets `DIR/<id>`; the default a folder of
    /// its own under the state directory). `fresh`: the module is in normal mode and no
    /// update of it is half-done (the default only backs such a module up, as for one).
    fn backup_dir(&self, module: &ModuleRef, fresh: bool) -> Option<PathBuf> {
        let name: String = module
            .id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
            .collect();
        match self.args.backup_choice() {
            BackupChoice::Off => None,
            BackupChoice::Default if !fresh => None,
            BackupChoice::Default => {
                let base = super::update::default_backup_dir();
                let stem = base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                Some(base.with_file_name(format!("{stem}-{name}")))
            }
            BackupChoice::Into(dir) => Some(dir.join(name)),
        }
    }

    /// Take the module's backup into `dir`, or check the one already there.
    fn back_up(
        &self,
        bus: &mut dyn ModuleBus,
        dir: &Path,
        observer: &mut dyn Observer,
    ) -> Result<(), String> {
        if dir.join(modemflash::backup::MANIFEST).exists() {
            return modemflash::backup::load(dir)
                .map(|_| ())
                .map_err(|e| format!("the backup in {}: {e}", dir.display()));
        }
        exec::backup(self.pkg, bus, dir, observer, &self.opts)
            .map(|_| ())
            .map_err(|e| format!("backup into {} failed: {e}", dir.display()))
    }

    fn failure(&self, r: ModuleResult, e: &ExecError) -> ModuleResult {
        let cancelled = e.kind == exec::FailureKind::Cancelled;
        let rerun = format!(
            "modemflash update {} --device {} --yes",
            hints_quote(&self.args.package.display().to_string()),
            r.selector
        );
        let code = if cancelled { exit::INTERRUPTED } else { exit::FAILED };
        let mut r = r.failed(code, e.to_string(), Some(hints::remedy(e, &rerun)));
        r.step = Some(e.step.clone());
        r.kind = serde_json::to_value(e.kind).ok();
        r.repeated_failure = e.repeated_failure;
        r
    }
}

fn hints_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The run's exit code from every module's (documented in [`EXIT_HELP`]).
pub fn run_exit(results: &[ModuleResult], cancelled: bool) -> u8 {
    let ok = results.iter().filter(|r| r.ok).count();
    if cancelled && ok < results.len() {
        return exit::INTERRUPTED;
    }
    if ok == results.len() {
        return exit::OK;
    }
    if ok > 0 {
        return PARTIAL;
    }
    if results.iter().all(|r| r.exit == exit::NO_MODULE) {
        return exit::NO_MODULE;
    }
    exit::FAILED
}

fn confirm(n: usize) -> bool {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        error!("refusing to flash without confirmation; pass --yes to run non-interactively");
        return false;
    }
    say_part!("Flash these {n} modules? [y/N] ");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    let yes = matches!(line.trim(), "y" | "Y" | "yes");
    if !yes {
        say!("Nothing was written.");
    }
    yes
}

/// Sends a module's events to the thread that draws them.
struct Forward {
    index: usize,
    tx: mpsc::Sender<(usize, Event)>,
}

impl Observer for Forward {
    fn event(&mut self, event: &Event) {
        let _ = self.tx.send((self.index, event.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(ok: bool, exit: u8) -> ModuleResult {
        let m = ModuleRef::new("usb:1-1".into(), modemflash::discovery::module_id::ModuleIdentity::default());
        ModuleResult { ok, exit, ..ModuleResult::new(m, "usb:1-1") }
    }

    #[test]
    fn the_exit_code_sums_up_every_module() {
        let (ok, failed, none) = (result(true, 0), result(false, 1), result(false, 3));
        assert_eq!(run_exit(&[ok.clone(), ok.clone()], false), exit::OK);
        assert_eq!(run_exit(&[ok.clone(), failed.clone()], false), PARTIAL);
        assert_eq!(run_exit(&[failed.clone(), none.clone()], false), exit::FAILED);
        assert_eq!(run_exit(&[none.clone(), none.clone()], false), exit::NO_MODULE);
        assert_eq!(run_exit(&[ok.clone(), failed], true), exit::INTERRUPTED);
        assert_eq!(run_exit(&[ok.clone(), ok], true), exit::OK);
    }
}
