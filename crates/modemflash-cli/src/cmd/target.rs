//! What `update` and `plan` share: which module (endpoints), which package, and the
//! flags that shape a plan.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use modemflash::discovery::ModuleBus;
use modemflash::discovery::ports::PortsBus;
use modemflash::package::{self, Package};
use modemflash::plan::{Flow, PlanOptions};

use crate::exit;

/// How to reach the module.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Module selector: `serial:/dev/ttyUSB0` (same as --port) or `tcp:HOST:PORT` (a fastboot
    /// endpoint, same as --fastboot tcp:HOST:PORT). USB selectors need USB discovery.
    #[arg(long, value_name = "SEL")]
    pub device: Option<String>,
    /// The module's DM (DIAG) tty, e.g. /dev/ttyUSB0. The AT tty is taken as the one two
    /// numbers up (ttyUSB2), or `at` next to a simulator's `dm` link.
    #[arg(long, value_name = "TTY")]
    pub port: Option<PathBuf>,
    /// The AT tty, when it is not where --port implies.
    #[arg(long, value_name = "TTY")]
    pub at_port: Option<PathBuf>,
    /// Where fastboot is: `usb` (needs USB discovery) or `tcp:HOST:PORT` (AOSP fastboot over TCP).
    #[arg(long, value_name = "usb|tcp:HOST:PORT")]
    pub fastboot: Option<String>,
}

/// Plan-shaping flags.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Directory with Quectel's temporary loaders (sbl2_tmp.mbn, appsboot_tmp.mbn) for the
    /// legacy flow, as Quectel's own tool uses them.
    #[arg(long, value_name = "DIR")]
    pub loader_dir: Option<PathBuf>,
    /// Force a legacy flow: `a` (DLOAD first) or `b` (AT+QFASTBOOT first).
    #[arg(long, value_enum)]
    pub flow: Option<FlowArg>,
    /// Flash even when the package's model or release line differs from the module's
    /// (a cross-line flash can leave the module stuck in its download mode).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FlowArg {
    A,
    B,
}

impl PlanArgs {
    pub fn options(&self) -> PlanOptions {
        PlanOptions {
            loader_dir: self.loader_dir.clone(),
            flow: self.flow.map(|f| match f {
                FlowArg::A => Flow::LegacyA,
                FlowArg::B => Flow::LegacyB,
            }),
            qfastboot: None,
            force: self.force,
        }
    }
}

/// Build the bus from the endpoint flags; `Err(exit code)` after printing why.
pub fn bus(args: &EndpointArgs) -> Result<Box<dyn ModuleBus>, u8> {
    let mut port = args.port.clone();
    let mut fastboot = None;
    if let Some(sel) = &args.device {
        if let Some(path) = sel.strip_prefix("serial:") {
            port = Some(PathBuf::from(path));
        } else if let Some(addr) = sel.strip_prefix("tcp:") {
            fastboot = Some(addr.to_owned());
        } else if sel.starts_with("usb:") {
            eprintln!(
                "error: --device {sel}: USB selectors need USB discovery, which this build does not have yet; pass --port TTY and --fastboot tcp:HOST:PORT"
            );
            return Err(exit::USAGE);
        } else {
            eprintln!("error: --device {sel}: expected serial:/dev/ttyUSB0 or tcp:HOST:PORT");
            return Err(exit::USAGE);
        }
    }
    match args.fastboot.as_deref() {
        Some("usb") => {
            eprintln!(
                "error: --fastboot usb needs USB discovery, which this build does not have yet; pass --fastboot tcp:HOST:PORT"
            );
            return Err(exit::USAGE);
        }
        Some(s) => {
            if let Some(addr) = s.strip_prefix("tcp:") {
                fastboot = Some(addr.to_owned());
            } else {
                eprintln!("error: --fastboot {s}: expected usb or tcp:HOST:PORT");
                return Err(exit::USAGE);
            }
        }
        None => {}
    }
    if port.is_none() && fastboot.is_none() {
        eprintln!(
            "error: no module found: automatic USB discovery is not built yet. Pass the module's DM tty with --port \
             (e.g. --port /dev/ttyUSB0) and, for fastboot, --fastboot tcp:HOST:PORT. To try modemflash without a module, run `modemflash demo`."
        );
        return Err(exit::NO_MODULE);
    }
    match PortsBus::new(port, args.at_port.clone(), fastboot.as_deref()) {
        Ok(b) => Ok(Box::new(b)),
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::USAGE)
        }
    }
}

/// Open and validate a package; print every problem and return exit 2 when invalid.
pub fn package(path: &std::path::Path, json: bool) -> Result<Package, u8> {
    let pkg = match package::open(path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(exit::INVALID_PACKAGE);
        }
    };
    if !pkg.is_valid() {
        eprintln!("error: {} is not a valid package:", path.display());
        for f in pkg.report.errors() {
            eprintln!("  {}{}", f.file.as_deref().map(|p| format!("{p}: ")).unwrap_or_default(), f.message);
        }
        if json {
            crate::ui::emit(
                &serde_json::json!({"event": "result", "ok": false, "exit": exit::INVALID_PACKAGE, "error": "invalid package"}),
            );
        }
        return Err(exit::INVALID_PACKAGE);
    }
    Ok(pkg)
}
