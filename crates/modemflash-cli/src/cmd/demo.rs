//! `modemflash demo`: the whole update against a built-in virtual EC20 R1, on any machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use modemflash::exec::{ExecOptions, Journal};
use modemflash::plan::PlanOptions;
use modemflash_sim::builder::{self, LegacySpec};
use modemflash_sim::{Model, Module, ModuleConfig, RealClock, SimBus, SimMode};

use crate::exit;

/// Update a virtual EC20 R1 (MDM9615, revision EC20AQAR02A03E2G) with a sample legacy
/// package, showing exactly what a real update shows. No module or package needed.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  modemflash demo\n  modemflash demo --start-mode fastboot   # the field user's stuck module\n  modemflash demo --json"
)]
pub struct DemoCmd {
    /// Start the virtual module in this mode: normal, or fastboot / dload (a half-done update).
    #[arg(long, default_value = "normal")]
    pub start_mode: String,
    /// Approximate package size in MiB.
    #[arg(long, default_value_t = 8)]
    pub size_mib: u64,
    /// NDJSON events instead of progress bars.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &DemoCmd) -> u8 {
    let Some(start_mode) = SimMode::parse(&args.start_mode)
        .filter(|m| matches!(m, SimMode::Normal | SimMode::Fastboot | SimMode::Dload | SimMode::Streaming))
    else {
        eprintln!("error: --start-mode {}: expected normal, dload, streaming or fastboot", args.start_mode);
        return exit::USAGE;
    };
    let started = Instant::now();
    let tmp = match tempfile::Builder::new().prefix("modemflash-demo-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return exit::FAILED;
        }
    };
    let root = tmp.path().join("EC20AQAR02A04E2G");
    let spec = LegacySpec::with_total_size(args.size_mib << 20);
    if let Err(e) = builder::write_legacy(&root, &spec) {
        eprintln!("error: cannot write the sample package: {e}");
        return exit::FAILED;
    }
    let pkg = match super::target::package(&root, args.json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let config = ModuleConfig {
        start_mode,
        reenum_delay: Duration::from_millis(500),
        ..ModuleConfig::new(Model::Ec20R1)
    };
    let module = Module::start(config, Arc::new(RealClock::default()));
    let before = module.revision();
    if !args.json {
        println!("Virtual EC20 R1 (MDM9615) in {} mode, firmware {before}.", start_mode.name());
        println!("Sample legacy package: {} ({} files).\n", root.display(), pkg.report.files.len());
    }
    let mut bus = SimBus::new(module.clone());
    let mut journal = Journal::in_memory();
    let opts = ExecOptions { mode_timeout: Duration::from_secs(30), ..ExecOptions::default() };
    let code =
        super::update::update(&pkg, &mut bus, &mut journal, &PlanOptions::default(), &opts, args.json, true);
    let after = module.revision();
    if !args.json {
        println!(
            "\nRevision before: {before}\nRevision after:  {after}\nTime taken:      {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    module.shutdown();
    code
}
