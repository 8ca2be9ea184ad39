//! `modemflash doctor [--json]`: what stands between this host and the module, and what to
//! do about each thing. The library finds; this file words.

use std::io::Write;

use clap::Args;
use modemflash::doctor::{self, Check, CheckId, Fact, Finding, Remedy, Report, Status};

use super::host::RootArg;
use super::list::role_name;
use crate::exit;

/// Check this host for what gets in the way of flashing, each with its remedy.
///
/// Linux: ModemManager / eg25-manager (running, and holding the module's ports), the
/// qcserial / option / qmi_wwan binding of every interface, read-write access to the usbfs
/// nodes and ttys (plugdev / dialout, or udev `uaccess`), the modemflash udev rules, and USB
/// autosuspend. Windows: the driver bound to each module (raw USB needs WinUSB).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash doctor\n  \
  modemflash doctor --json | jq '.checks[] | select(.status == \"problem\")'\n\n\
Exit codes: 0 nothing in the way, 1 at least one problem, 64 usage error.")]
pub struct DoctorArgs {
    /// Print the findings as one JSON document (facts and remedies as data).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub root: RootArg,
}

fn title(id: CheckId) -> &'static str {
    match id {
        CheckId::Modules => "Modules on USB",
        CheckId::ModemManager => "ModemManager and other port grabbers",
        CheckId::Drivers => "Kernel drivers",
        CheckId::Permissions => "Access to device nodes",
        CheckId::UdevRules => "udev rules",
        CheckId::Autosuspend => "USB autosuspend",
        CheckId::WindowsDriver => "Windows drivers",
    }
}

fn tag(s: Status) -> &'static str {
    match s {
        Status::Skipped => "skip",
        Status::Ok => "ok",
        Status::Info => "info",
        Status::Warning => "WARN",
        Status::Problem => "PROBLEM",
    }
}

/// One sentence per fact.
pub fn fact_text(f: &Fact) -> String {
    match f {
        Fact::NoModule => "no Quectel/Qualcomm module is on USB".into(),
        Fact::Module { usb_path, vid, pid, family, mode } => {
            format!("{family} ({vid:04x}:{pid:04x}) at usb:{usb_path}, {} mode", mode.name())
        }
        Fact::NoPortGrabber => "neither ModemManager nor eg25-manager is running".into(),
        Fact::ProcessRunning { pid, name } => format!(
            "{name} is running (pid {pid}); it probes new modem ports and can reset a module in the middle of a flash"
        ),
        Fact::ProcessHoldsPort { pid, name, node } => {
            format!("{name} (pid {pid}) has {} open", node.display())
        }
        Fact::ProcessPortsUnknown { pid, name } => {
            format!("cannot see which ports {name} (pid {pid}) holds without root")
        }
        Fact::DriverBound { usb_path, interface, role, driver, tty } => format!(
            "usb:{usb_path} if{interface} ({}) is bound to {driver}{}",
            role_name(*role),
            tty.as_ref().map(|t| format!(" → {}", t.display())).unwrap_or_default()
        ),
        Fact::NoDriver { usb_path, interface, role, expected } => format!(
            "usb:{usb_path} if{interface} ({}) has no driver, so it has no tty ({expected} does not know this id)",
            role_name(*role)
        ),
        Fact::QdloaderDriverDetachable { usb_path, driver } => format!(
            "{driver} is bound to the QDLoader interface of usb:{usb_path}; modemflash detaches it for raw USB (Linux) or uses its tty"
        ),
        Fact::ClaimedByProgram { usb_path, interface } => {
            format!(
                "another program has claimed usb:{usb_path} if{interface} (usbfs): fastboot, adb, fwupd or another flasher"
            )
        }
        Fact::RunningAsRoot => "running as root: every node is accessible".into(),
        Fact::Accessible { node } => format!("{} is readable and writable", node.display()),
        Fact::AccessibleByAcl { node } => {
            format!("{} is accessible through an ACL (udev uaccess)", node.display())
        }
        Fact::NotAccessible { node, mode, group, gid, .. } => format!(
            "{} is not writable for you (mode {mode:04o}, group {})",
            node.display(),
            group.clone().unwrap_or_else(|| gid.to_string())
        ),
        Fact::NodeMissing { node } => format!("{} does not exist", node.display()),
        Fact::UdevRulesInstalled { path, missing_ids } if missing_ids.is_empty() => {
            format!("{} is installed and covers every catalogue id", path.display())
        }
        Fact::UdevRulesInstalled { path, missing_ids } => {
            format!("{} is out of date: it lacks {}", path.display(), missing_ids.join(", "))
        }
        Fact::UdevRulesMissing { looked_in } => format!(
            "{} is not installed (looked in {})",
            doctor::UDEV_RULES_FILE,
            looked_in.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
        Fact::AutosuspendEnabled { usb_path } => format!("USB autosuspend is on for usb:{usb_path}"),
        Fact::AutosuspendDisabled { usb_path } => format!("USB autosuspend is off for usb:{usb_path}"),
        Fact::NotAvailable { platform } => format!("not available on {platform}"),
        Fact::WindowsDriver { usb_path, vid, pid, driver } => {
            format!(
                "{vid:04x}:{pid:04x} at {usb_path} uses driver {}",
                driver.as_deref().unwrap_or("no driver")
            )
        }
    }
}

/// What to do, as instructions.
pub fn remedy_text(r: &Remedy) -> String {
    match r {
        Remedy::StopService { name } if name == "ModemManager" => format!(
            "`modemflash update` on a USB module inhibits ModemManager itself; with --port/serial:, stop it while \
             flashing: `sudo systemctl stop {name}` (start it again afterwards)"
        ),
        Remedy::StopService { name } => {
            format!("stop it while flashing: `sudo systemctl stop {name}` (start it again afterwards)")
        }
        Remedy::InstallUdevRules => {
            "install the udev rules: `sudo modemflash setup udev`, then replug the module".into()
        }
        Remedy::AddUserToGroup { group } => {
            format!("add yourself to {group}: `sudo usermod -aG {group} $USER`, then log out and in again")
        }
        Remedy::RunAsRoot => "run `sudo modemflash doctor` to see more".into(),
        Remedy::AddDriverId { driver, vid, pid } => {
            let usb_serial = if *driver == "option" { "option1" } else { driver };
            format!(
                "tell {driver} about the id: `echo {vid:04x} {pid:04x} | sudo tee /sys/bus/usb-serial/drivers/{usb_serial}/new_id` \
                 (or use a kernel that lists it)"
            )
        }
        Remedy::DisableAutosuspend { usb_path } => format!(
            "keep it awake while flashing: `echo on | sudo tee /sys/bus/usb/devices/{usb_path}/power/control` \
             (the udev rules do this for 05c6:9008 and 18d1:d00d)"
        ),
        Remedy::ReplugModule => {
            "check cable and power, then replug the module; `dmesg -w` shows what the kernel sees".into()
        }
        Remedy::CloseProgram { pid, name } => match (pid, name) {
            (Some(p), Some(n)) => format!("close {n} (pid {p})"),
            _ => "close the other program (`adb kill-server`; stop fwupd), then retry".into(),
        },
        Remedy::BindWinUsb { vid, pid } => format!(
            "bind WinUSB to {vid:04x}:{pid:04x} with Zadig (Options → List All Devices, pick the device, WinUSB, Replace Driver)"
        ),
    }
}

fn render_finding(f: &Finding, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "  [{:>7}] {}", tag(f.status), fact_text(&f.fact))?;
    if let Some(r) = &f.remedy
        && (f.status >= Status::Warning || matches!(f.fact, Fact::NoModule))
    {
        writeln!(out, "            → {}", remedy_text(r))?;
    }
    Ok(())
}

fn render_check(c: &Check, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{} [{}]", title(c.id), tag(c.status))?;
    if c.findings.is_empty() {
        writeln!(out, "  [{:>7}] nothing to check", tag(Status::Ok))?;
    }
    for f in &c.findings {
        render_finding(f, out)?;
    }
    Ok(())
}

pub fn render(r: &Report, out: &mut impl Write) -> std::io::Result<()> {
    for c in &r.checks {
        render_check(c, out)?;
        writeln!(out)?;
    }
    let problems: usize =
        r.checks.iter().flat_map(|c| &c.findings).filter(|f| f.status == Status::Problem).count();
    let warnings: usize =
        r.checks.iter().flat_map(|c| &c.findings).filter(|f| f.status == Status::Warning).count();
    match (problems, warnings) {
        (0, 0) => writeln!(out, "Result: nothing in the way."),
        (0, w) => writeln!(out, "Result: no problem, {w} warning(s)."),
        (p, w) => writeln!(out, "Result: {p} problem(s), {w} warning(s): see the → lines."),
    }
}

pub fn run(args: &DoctorArgs) -> u8 {
    let report = doctor::run(&args.root.doctor_env());
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => say!("{s}"),
            Err(e) => {
                error!("cannot encode the report: {e}");
                return exit::FAILED;
            }
        }
    } else {
        let _ = render(&report, &mut crate::out::Stdout);
    }
    if report.status() == Status::Problem { exit::FAILED } else { exit::OK }
}
