//! `modemflash plan PKG`: the steps an update would take, without touching the module
//! beyond identifying it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use modemflash::exec;
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

pub fn run(args: &PlanCmd) -> u8 {
    let pkg = match target::package(&args.package, args.json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let state = if let Some(m) = args.assume_mode {
        ModuleState::new(m.into(), args.assume_revision.clone())
    } else {
        let mut bus = match target::bus(&args.endpoints) {
            Ok(b) => b,
            Err(code) => return code,
        };
        match exec::identify(bus.as_mut()) {
            Ok(Some(s)) => s,
            Ok(None) => {
                eprintln!("error: no module answers on the given endpoints");
                return exit::NO_MODULE;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::NO_MODULE;
            }
        }
    };
    match plan::build(&pkg, &state, &args.plan.options(), None) {
        Ok(p) => {
            if args.json {
                crate::ui::emit(&p);
            } else {
                print_plan(&p);
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

pub fn print_plan(p: &Plan) {
    println!("Package:  {} ({:?})", p.package, p.kind);
    println!(
        "Module:   {} mode{}",
        p.found_in.name(),
        p.revision_before.as_deref().map(|r| format!(", revision {r}")).unwrap_or_default()
    );
    if let Some(r) = &p.expected_revision {
        println!("Installs: {r}");
    }
    println!("Flow:     {}", p.flow.name());
    println!("Steps:");
    for (i, s) in p.steps.iter().enumerate() {
        println!("  {:>2}. [{}] {}", i + 1, s.needs.name(), s.title);
    }
    for s in &p.skipped {
        println!("  skip: {s} (done, per the journal)");
    }
    for n in &p.notes {
        println!("note: {n}");
    }
}
