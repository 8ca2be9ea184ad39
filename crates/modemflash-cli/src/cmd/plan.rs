//! `modemflash plan PKG`: the steps an update would take, without touching the module
//! beyond identifying it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use modemflash::discovery::module_id::ModuleIdentity;
use modemflash::exec::{self, Basis, Journal, JournalMatch};
use modemflash::plan::{self, DeviceMode, ModuleState, Plan};

use super::target::{self, EndpointArgs, PlanArgs};
use crate::exit;

/// Show the update plan for a package and the connected module (a dry run).
///
/// The module is only identified (its mode, and in normal mode its revision); nothing is
/// written. Without a module, pass --assume-mode to see the plan for a module in that mode.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  modemflash plan ./EC20_fw --port /dev/ttyUSB0\n  modemflash plan ./EC20_fw --assume-mode fastboot --json"
)]
pub struct PlanCmd {
    /// Package directory or .zip.
    pub package: PathBuf,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Plan for a module in this mode instead of identifying one.
    #[arg(long, value_enum)]
    pub assume_mode: Option<ModeArg>,
    /// The module's current revision, with --assume-mode normal.
    #[arg(long, requires = "assume_mode")]
    pub assume_revision: Option<String>,
    /// Print the plan as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Journal file to plan against (default: the one `update` uses,
    /// $XDG_STATE_HOME/modemflash/journal-<fingerprint>.json).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    #[command(flatten)]
    pub session: super::session::SessionArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Normal,
    Dload,
    Streaming,
    Fastboot,
    Edl,
}

impl From<ModeArg> for DeviceMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Normal => DeviceMode::Normal,
            ModeArg::Dload => DeviceMode::Dload,
            ModeArg::Streaming => DeviceMode::Streaming,
            ModeArg::Fastboot => DeviceMode::Fastboot,
            ModeArg::Edl => DeviceMode::Edl,
        }
    }
}

/// How long `plan` waits for a module that is not on the bus yet.
const IDENTIFY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(args: &PlanCmd) -> u8 {
    let pkg = match target::package(&args.package, args.json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let fingerprint = plan::fingerprint(&pkg);
    let path = args.journal.clone().unwrap_or_else(|| Journal::default_path(&fingerprint));
    let mut journal = if args.session.replaying() && args.journal.is_none() {
        Journal::in_memory()
    } else {
        Journal::open(&path)
    };
    let (state, identity) = if let Some(m) = args.assume_mode {
        (ModuleState::new(m.into(), args.assume_revision.clone()), ModuleIdentity::default())
    } else {
        let resumable = journal.records().iter().any(|r| r.package == fingerprint && !r.completed);
        if !args.session.replaying()
            && let Err(code) = target::check_tty(&args.endpoints, resumable)
        {
            return code;
        }
        let (mut bus, session) = match super::session::bus(&args.endpoints, &args.session, "plan", false) {
            Ok(b) => b,
            Err(code) => return code,
        };
        // A module may still be re-enumerating (right after an interrupted update).
        match exec::identify_module_waiting(
            bus.as_mut(),
            IDENTIFY_PATIENCE,
            journal.depth_needed(&fingerprint),
        ) {
            Ok(Some(s)) => {
                drop(bus);
                if session.finish(exit::OK) != exit::OK {
                    return exit::FAILED;
                }
                (s.state, s.identity)
            }
            Ok(None) => {
                error!("no module answers on the given endpoints");
                return session.finish(exit::NO_MODULE);
            }
            Err(e) => {
                error!("{e}");
                return session.finish(exit::NO_MODULE);
            }
        }
    };
    // A dry run: select() only reads the file.
    let matched = match journal.select(&fingerprint, &identity, state.mode, false) {
        Ok(m) => m,
        Err(e) => {
            error!("journal {}: {e}", path.display());
            return exit::FAILED;
        }
    };
    let resume = journal.resume_for(&fingerprint);
    match plan::build(&pkg, &state, &args.plan.options(), resume.as_ref().map(|(f, d)| (f, d.as_slice()))) {
        Ok(p) => {
            if args.json {
                crate::ui::emit(&plan_json(&p, &matched));
            } else {
                print_plan(&p);
                print_journal(&p, &matched);
            }
            exit::OK
        }
        Err(e) => {
            error!("{}", crate::hints::plan_error(&e));
            exit::FAILED
        }
    }
}

pub fn print_plan(p: &Plan) {
    say!("Package:  {} ({})", p.package, p.kind.describe().split(',').next().unwrap_or_default());
    say!(
        "Module:   {} mode{}",
        p.found_in.name(),
        p.revision_before.as_deref().map(|r| format!(", revision {r}")).unwrap_or_default()
    );
    if let Some(r) = &p.expected_revision {
        say!("Installs: {r}");
    }
    say!("Flow:     {}", p.flow.name());
    say!("Steps:");
    for (i, s) in p.steps.iter().enumerate() {
        say!("  {:>2}. [{}] {}", i + 1, s.needs.name(), s.title);
    }
    for s in &p.skipped {
        say!("  skip: {s} (done, per the journal)");
    }
    for n in &p.notes {
        say!("note: {n}");
    }
}

/// The plan as JSON with the journal's decision beside it: `journal.resume`, `journal.basis`
/// (why it is trusted or not) and `journal.skips` (the steps it skips).
pub fn plan_json(p: &Plan, m: &JournalMatch) -> serde_json::Value {
    let mut v = serde_json::to_value(p).unwrap_or(serde_json::Value::Null);
    let mut j = serde_json::to_value(m).unwrap_or(serde_json::Value::Null);
    if let Some(o) = j.as_object_mut() {
        o.insert("skips".into(), serde_json::json!(p.skipped));
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("journal".into(), j);
    }
    v
}

/// What the journal will skip, and why it is trusted (or why not).
pub fn print_journal(p: &Plan, m: &JournalMatch) {
    let file = m.path.as_deref().unwrap_or("(in memory)");
    let why = match &m.basis {
        Basis::NoRecord => "no earlier run of this package".to_string(),
        Basis::Identity { matched } => {
            let ids: Vec<String> = matched.iter().map(|(k, v)| format!("{} {v}", k.name())).collect();
            format!("resuming: the same module ({} matches the journal)", ids.join(", "))
        }
        Basis::PortAndMode { port_path, mode } => format!(
            "resuming: {} mode shows no identity, so the journal is trusted because the module is at the same \
             place ({port_path}) and in the mode it expects. If this is another module, rerun with --fresh",
            mode.name()
        ),
        Basis::OtherModule { kind, recorded, seen } => format!(
            "starting over: this is another module (its {} is {seen}; the journal's unfinished update is for {recorded}, \
             and is kept for that module)",
            kind.name()
        ),
        Basis::Unidentified { recorded, seen } => format!(
            "starting over: nothing shows this is the module of the unfinished update in the journal ({recorded}); \
             this one is {seen}. That update's record is kept"
        ),
        Basis::Completed => {
            "starting over: the journal says this module's update of this package finished".into()
        }
        Basis::Discarded => "starting over: this module's journal was discarded (--fresh)".into(),
    };
    say!("Journal:  {file}");
    say!("          {why}.");
    say!("Identity: {}", m.module.describe());
    if m.resume && !p.skipped.is_empty() {
        say!("          skips {} step(s) done earlier: {}", p.skipped.len(), p.skipped.join(", "));
    }
    if m.other_modules > 0 {
        say!("          unfinished updates of other modules kept: {}", m.other_modules);
    }
}
