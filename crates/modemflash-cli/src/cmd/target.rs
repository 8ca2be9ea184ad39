//! What `update` and `plan` share: which module (endpoints), which package, and the
//! flags that shape a plan.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use modemflash::discovery::ModuleBus;
use modemflash::discovery::choose::{ChooseError, Endpoints, FastbootAt, choose};
use modemflash::discovery::selector::Selector;
use modemflash::discovery::sysfs::Roots;
use modemflash::package::{self, Package};
use modemflash::plan::{Flow, PlanOptions};

use crate::exit;

/// How to reach the module.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Module selector: `usb:BUS-PORT` or `usb:VID:PID[:SERIAL]` (USB discovery, the default
    /// when no endpoint is given), `serial:/dev/ttyUSB0` (same as --port) or `tcp:HOST:PORT`
    /// (a fastboot endpoint, same as --fastboot tcp:HOST:PORT).
    #[arg(long, value_name = "SEL")]
    pub device: Option<String>,
    /// The module's DM (DIAG) tty, e.g. /dev/ttyUSB0. The AT tty is taken as the one two
    /// numbers up (ttyUSB2), or `at` next to a simulator's `dm` link.
    #[arg(long, value_name = "TTY")]
    pub port: Option<PathBuf>,
    /// The AT tty, when it is not where --port implies.
    #[arg(long, value_name = "TTY")]
    pub at_port: Option<PathBuf>,
    /// Where fastboot is: `usb` (18d1:d00d found by USB discovery) or `tcp:HOST:PORT` (AOSP
    /// fastboot over TCP).
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

/// Build the bus from the endpoint flags; `Err(exit code)` after printing why. Which bus
/// is the library's choice (`discovery::choose`); this only reads the flags and words the
/// refusals with them.
pub fn bus(args: &EndpointArgs) -> Result<Box<dyn ModuleBus>, u8> {
    let device = match args.device.as_deref().map(Selector::parse).transpose() {
        Ok(d) => d,
        Err(e) => {
            error!("--device: {e}");
            return Err(exit::USAGE);
        }
    };
    let fastboot = match args.fastboot.as_deref() {
        Some("usb") => Some(FastbootAt::Usb),
        Some(s) => {
            let Some(addr) = s.strip_prefix("tcp:") else {
                error!("--fastboot {s}: expected usb or tcp:HOST:PORT");
                return Err(exit::USAGE);
            };
            Some(FastbootAt::Tcp(addr.to_owned()))
        }
        None => None,
    };
    let endpoints = Endpoints { device, port: args.port.clone(), at_port: args.at_port.clone(), fastboot };
    let choice = match choose(&endpoints, &Roots::default()) {
        Ok(c) => c,
        Err(ChooseError::NoModuleOnUsb) => {
            error!(
                "no module found on USB. Pass the module's DM tty with --port (e.g. --port /dev/ttyUSB0), \
                 or --device serial:PATH / tcp:HOST:PORT; `modemflash list` and `modemflash doctor` show what USB \
                 sees. To try modemflash without a module, run `modemflash demo`."
            );
            return Err(exit::NO_MODULE);
        }
        Err(ChooseError::UsbAndTcp) => {
            error!("a USB module and --fastboot tcp:... cannot be combined; pick one");
            return Err(exit::USAGE);
        }
        Err(ChooseError::TtyNotOnUsb(tty)) => {
            error!(
                "--fastboot usb: {} is not a tty of a module on USB; pass --device usb:BUS-PORT (see `modemflash list`)",
                tty.display()
            );
            return Err(exit::USAGE);
        }
    };
    choice.open().map_err(|e| {
        error!("{}", crate::hints::bus_error(&e));
        exit::USAGE
    })
}

/// Open and validate a package; print every problem and return exit 2 when invalid.
pub fn package(path: &std::path::Path, json: bool) -> Result<Package, u8> {
    let pkg = match package::open(path) {
        Ok(p) => p,
        Err(e) => {
            error!("{e}");
            if json {
                crate::out::RunResult::new(exit::INVALID_PACKAGE).emit();
            }
            return Err(exit::INVALID_PACKAGE);
        }
    };
    if !pkg.is_valid() {
        error!("{} is not a valid package:", path.display());
        for f in pkg.report.errors() {
            crate::out::problem(f.file.as_deref(), &f.message);
        }
        if json {
            let mut r = crate::out::RunResult::new(exit::INVALID_PACKAGE);
            r.remedy = Some(format!("`modemflash inspect {}` shows the whole report", path.display()));
            r.emit();
        }
        return Err(exit::INVALID_PACKAGE);
    }
    Ok(pkg)
}

/// What `backup` and `restore` start from: the package opened and checked, the module's
/// bus, and options with the re-enumeration timeout and Ctrl-C wired to a clean stop.
pub fn open_for_run(
    package: &std::path::Path,
    endpoints: &EndpointArgs,
    json: bool,
    timeout_secs: u64,
) -> Result<(Package, Box<dyn ModuleBus>, modemflash::exec::ExecOptions), u8> {
    let pkg = self::package(package, json)?;
    check_tty(endpoints, false)?;
    let bus = bus(endpoints)?;
    let opts = modemflash::exec::ExecOptions {
        mode_timeout: std::time::Duration::from_secs(timeout_secs),
        ..modemflash::exec::ExecOptions::default()
    };
    crate::signals::install(&opts.cancel);
    Ok((pkg, bus, opts))
}

/// `--port` (or `--device serial:PATH`) names a tty that does not exist: say so at once, with
/// the ttys that do. When a journal says an update is unfinished, the module may be
/// re-enumerating, so the wait goes on (with the note said up front). With a fastboot
/// endpoint as well the tty may rightly be absent (a module in fastboot has none).
pub fn check_tty(args: &EndpointArgs, resumable: bool) -> Result<(), u8> {
    if args.fastboot.is_some() {
        return Ok(());
    }
    let serial = args.device.as_deref().and_then(|d| match Selector::parse(d) {
        Ok(Selector::Serial(p)) => Some(p),
        _ => None,
    });
    let Some(tty) = args.port.clone().or(serial) else { return Ok(()) };
    if modemflash::transport::serial::tty_present(&tty) {
        return Ok(());
    }
    let present = ttys_near(&tty);
    let listing = if present.is_empty() {
        format!(
            "there is no serial port in {} at all: the module is not on USB, or its driver is missing \
             (`modemflash doctor` checks)",
            tty.parent().map_or_else(|| "/dev".into(), |p| p.display().to_string())
        )
    } else {
        format!("the ones that exist: {}", present.join(", "))
    };
    if resumable {
        tell!(
            "note: {} does not exist yet ({listing}); an unfinished update is journaled, so waiting a moment \
             for a module that is re-enumerating.",
            tty.display()
        );
        return Ok(());
    }
    error!(
        "{} does not exist; {listing}. Pass the module's DM tty with --port (`modemflash list` shows it).",
        tty.display()
    );
    Err(exit::NO_MODULE)
}

/// Serial ports next to `tty`: in /dev the usual USB serial names, elsewhere (a
/// simulator's tty directory) every entry.
fn ttys_near(tty: &std::path::Path) -> Vec<String> {
    let dir = tty.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("/dev"));
    let in_dev = dir == std::path::Path::new("/dev");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if in_dev {
                        ["ttyUSB", "ttyACM", "ttyHS", "cu.usb", "ttyMHI"].iter().any(|p| n.starts_with(p))
                    } else {
                        e.path().exists() && !e.path().is_dir()
                    }
                })
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Which modules: one, or several at once.
#[derive(Debug, Clone, Args)]
pub struct Targets {
    /// Module selector: `usb:BUS-PORT` or `usb:VID:PID[:SERIAL]` (USB discovery, the default
    /// when no endpoint is given), `serial:/dev/ttyUSB0` (same as --port) or `tcp:HOST:PORT`
    /// (a fastboot endpoint, same as --fastboot tcp:HOST:PORT). Repeat it to update several
    /// modules at once.
    #[arg(long, value_name = "SEL")]
    pub device: Vec<String>,
    /// The module's DM (DIAG) tty, e.g. /dev/ttyUSB0. The AT tty is taken as the one two
    /// numbers up (ttyUSB2), or `at` next to a simulator's `dm` link. Repeat it to update
    /// several modules at once.
    #[arg(long, value_name = "TTY")]
    pub port: Vec<PathBuf>,
    /// The AT tty, when it is not where --port implies (one module only).
    #[arg(long, value_name = "TTY")]
    pub at_port: Option<PathBuf>,
    /// Where fastboot is: `usb` (18d1:d00d found by USB discovery) or `tcp:HOST:PORT` (AOSP
    /// fastboot over TCP). One module only.
    #[arg(long, value_name = "usb|tcp:HOST:PORT")]
    pub fastboot: Option<String>,
    /// Update every module found on USB, all at once.
    #[arg(long, conflicts_with_all = ["device", "port", "at_port", "fastboot"])]
    pub all: bool,
}

impl Targets {
    /// The endpoints of a one-module run; `None` when several modules are asked for.
    pub fn single(&self) -> Option<EndpointArgs> {
        if self.all
            || self.device.len() > 1
            || self.port.len() > 1
            || (!self.device.is_empty() && !self.port.is_empty())
        {
            return None;
        }
        Some(EndpointArgs {
            device: self.device.first().cloned(),
            port: self.port.first().cloned(),
            at_port: self.at_port.clone(),
            fastboot: self.fastboot.clone(),
        })
    }
}
