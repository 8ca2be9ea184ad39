//! `modemflash demo`: the whole update against a built-in virtual module (EC20 R1 on the
//! legacy path, or EC25 on the Firehose path), on any machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use modemflash::exec::{ExecOptions, Journal};
use modemflash::module::DeviceMode;
use modemflash::plan::PlanOptions;
use modemflash_sim::builder::{self, FirehoseSpec, LegacySpec};
use modemflash_sim::{Model, Module, ModuleConfig, RealClock, SimBus};

use crate::exit;

/// Update a virtual module with a sample package, showing exactly what a real update
/// shows. No module or package needed.
///
/// The default is the case that started the project: an EC20 R1 (MDM9615) at
/// EC20AQAR02A03E2G and a legacy package (DMSS, streaming DLOAD, fastboot). `--model ec25`
/// runs the MDM9x07 path instead (EDL, Sahara, Firehose).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  modemflash demo\n  modemflash demo --start-mode fastboot   # the field user's stuck module\n  modemflash demo --model ec25\n  modemflash demo --model ec25 --start-mode edl --json"
)]
pub struct DemoCmd {
    /// Which virtual module: ec20-r1 (legacy MDM9615 path) or ec25 (MDM9x07 Firehose path).
    #[arg(long, default_value = "ec20-r1")]
    pub model: String,
    /// Start the virtual module in this mode: normal, or a half-done update: fastboot,
    /// dload, streaming (EC20 R1) or edl (EC25).
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
    let Some(model) = Model::parse(&args.model) else {
        error!("--model {}: expected ec20-r1 or ec25", args.model);
        return exit::USAGE;
    };
    let allowed: &[DeviceMode] = match model {
        Model::Ec20R1 => {
            &[DeviceMode::Normal, DeviceMode::Fastboot, DeviceMode::Dload, DeviceMode::Streaming]
        }
        Model::Ec25 => &[DeviceMode::Normal, DeviceMode::Edl],
    };
    let Some(start_mode) = DeviceMode::parse(&args.start_mode).filter(|m| allowed.contains(m)) else {
        let names: Vec<&str> = allowed.iter().map(|m| m.key()).collect();
        error!("--start-mode {}: expected one of {} for {}", args.start_mode, names.join(", "), model.name());
        return exit::USAGE;
    };
    let started = Instant::now();
    let tmp = match tempfile::Builder::new().prefix("modemflash-demo-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            error!("cannot create a temporary directory: {e}");
            return exit::FAILED;
        }
    };
    let size = args.size_mib << 20;
    let (root, written) = match model {
        Model::Ec20R1 => {
            let root = tmp.path().join("EC20AQAR02A04E2G");
            let r = builder::write_legacy(&root, &LegacySpec::with_total_size(size));
            (root, r)
        }
        Model::Ec25 => {
            let spec = FirehoseSpec::with_total_size(size);
            let root = tmp.path().join(&spec.revision);
            let r = builder::write_firehose(&root, &spec);
            (root, r)
        }
    };
    if let Err(e) = written {
        error!("cannot write the sample package: {e}");
        return exit::FAILED;
    }
    let pkg = match super::target::package(&root, args.json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let config =
        ModuleConfig { start_mode, reenum_delay: Duration::from_millis(500), ..ModuleConfig::new(model) };
    let module = Module::start(config, Arc::new(RealClock::default()));
    // What the module itself reports: only the running firmware (normal mode) tells its
    // revision, so the summary agrees with what `update` could read.
    let before = if start_mode == DeviceMode::Normal {
        module.revision()
    } else {
        format!("? (a module in {} mode reports no revision)", start_mode.key())
    };
    if !args.json {
        let chip = match model {
            Model::Ec20R1 => "EC20 R1 (MDM9615)",
            Model::Ec25 => "EC25 (MDM9x07)",
        };
        say!("Virtual {chip} in {} mode, firmware {before}.", start_mode.key());
        say!(
            "Sample package: {} — {} ({} files).\n",
            root.display(),
            pkg.report.description,
            pkg.report.files.len()
        );
    }
    let mut bus = SimBus::new(module.clone());
    let mut journal = Journal::in_memory();
    let opts = ExecOptions { mode_timeout: Duration::from_secs(30), ..ExecOptions::default() };
    let how =
        super::update::How { json: args.json, yes: true, rerun: None, fresh: false, ..Default::default() };
    let code = super::update::update(&pkg, &mut bus, &mut journal, &PlanOptions::default(), &opts, &how);
    let after = module.revision();
    if !args.json && code == exit::OK {
        say!(
            "\nRevision before: {before}\nRevision after:  {after}\nTime taken:      {:.1}s",
            started.elapsed().as_secs_f64()
        );
    } else if !args.json {
        tell!("\nThe demo did not finish; the virtual module still runs {after}.");
    }
    module.shutdown();
    code
}
