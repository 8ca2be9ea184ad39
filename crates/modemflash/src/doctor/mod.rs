//! `doctor`: what stands between this host and the module, each finding with its remedy,
//! as data. The CLI words them; `--json` prints them as they are.
//!
//! The field failures this covers (`docs/facts/quectel.md`, `docs/facts/usb.md`,
//! `docs/benchmarks.md` takeaway 4): ModemManager (or eg25-manager) probing and
//! resetting the module during a flash; qcserial holding 05c6:9008; a root-only usbfs node
//! (`error: cannot open device`); ttys that need the `dialout` group; missing udev rules;
//! USB autosuspend dropping the link. On Windows the driver bound to each interface decides
//! everything (WinUSB or the Qualcomm COM driver).
//!
//! Every check reads files under injectable roots ([`Env`]), so the tests build fake
//! `/sys`, `/dev`, `/proc` and `/etc` trees.

mod checks;
#[cfg(test)]
mod tests;
pub mod udev;

pub use checks::{User, group_name, ids_missing_from_rules, port_grabbers, read_user};

use std::path::PathBuf;

use serde::Serialize;

use crate::catalog::{InterfaceRole, Mode};
use crate::discovery::sysfs::Roots;

/// The packaged udev rules file name (`packaging/udev/`).
pub const UDEV_RULES_FILE: &str = "70-modemflash.rules";

/// Process names that grab modem ports: ModemManager, and eg25-manager on PinePhones
/// (`docs/facts/quectel.md` [inferred]).
pub const PORT_GRABBERS: &[&str] = &["ModemManager", "eg25-manager"];

/// Where the checks look.
#[derive(Debug, Clone)]
pub struct Env {
    pub roots: Roots,
    /// `/proc`: processes, and `self/status` for the user's uid and groups.
    pub proc_root: PathBuf,
    /// `/etc/group`, for group names.
    pub group_file: PathBuf,
    /// udev rules directories, in udev's order of precedence.
    pub udev_dirs: Vec<PathBuf>,
    /// When mode bits deny access, try opening the node to see whether an ACL (udev
    /// `uaccess`) grants it. Off in tests, which run as root.
    pub try_open: bool,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            roots: Roots::default(),
            proc_root: PathBuf::from("/proc"),
            group_file: PathBuf::from("/etc/group"),
            udev_dirs: [
                "/etc/udev/rules.d",
                "/run/udev/rules.d",
                "/lib/udev/rules.d",
                "/usr/lib/udev/rules.d",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
            try_open: true,
        }
    }
}

/// How a finding or check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Not checked on this platform or in this situation.
    Skipped,
    Ok,
    /// Worth knowing; nothing to do.
    Info,
    /// May get in the way.
    Warning,
    /// Will get in the way.
    Problem,
}

/// Which check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    Modules,
    ModemManager,
    Drivers,
    Permissions,
    UdevRules,
    Autosuspend,
    WindowsDriver,
}

/// What was found. The CLI turns each into a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fact", rename_all = "kebab-case")]
pub enum Fact {
    NoModule,
    Module {
        usb_path: String,
        vid: u16,
        pid: u16,
        family: &'static str,
        mode: Mode,
    },
    NoPortGrabber,
    ProcessRunning {
        pid: u32,
        name: String,
    },
    ProcessHoldsPort {
        pid: u32,
        name: String,
        node: PathBuf,
    },
    /// Its open files could not be read (another user's process).
    ProcessPortsUnknown {
        pid: u32,
        name: String,
    },
    DriverBound {
        usb_path: String,
        interface: u8,
        role: Option<InterfaceRole>,
        driver: String,
        tty: Option<PathBuf>,
    },
    /// A serial-type interface with no driver, so no tty.
    NoDriver {
        usb_path: String,
        interface: u8,
        role: Option<InterfaceRole>,
        expected: &'static str,
    },
    /// qcserial (or another driver) on 05c6:9008: modemflash detaches it (Linux).
    QdloaderDriverDetachable {
        usb_path: String,
        driver: String,
    },
    /// A program has claimed the interface through usbfs.
    ClaimedByProgram {
        usb_path: String,
        interface: u8,
    },
    RunningAsRoot,
    Accessible {
        node: PathBuf,
    },
    /// Mode bits deny access but opening worked (an ACL, e.g. udev `uaccess`).
    AccessibleByAcl {
        node: PathBuf,
    },
    NotAccessible {
        node: PathBuf,
        mode: u32,
        uid: u32,
        gid: u32,
        group: Option<String>,
    },
    NodeMissing {
        node: PathBuf,
    },
    UdevRulesInstalled {
        path: PathBuf,
        missing_ids: Vec<String>,
    },
    UdevRulesMissing {
        looked_in: Vec<PathBuf>,
    },
    AutosuspendEnabled {
        usb_path: String,
    },
    AutosuspendDisabled {
        usb_path: String,
    },
    NotAvailable {
        platform: &'static str,
    },
    /// Windows: the driver bound to the device (nusb's view).
    WindowsDriver {
        usb_path: String,
        vid: u16,
        pid: u16,
        driver: Option<String>,
    },
}

/// What to do about a finding. The CLI turns each into instructions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "remedy", rename_all = "kebab-case")]
pub enum Remedy {
    /// Stop (or mask during the update) the service that grabs the ports.
    StopService {
        name: String,
    },
    InstallUdevRules,
    AddUserToGroup {
        group: String,
    },
    RunAsRoot,
    /// Teach a usb-serial driver the id (`new_id`).
    AddDriverId {
        driver: &'static str,
        vid: u16,
        pid: u16,
    },
    DisableAutosuspend {
        usb_path: String,
    },
    ReplugModule,
    CloseProgram {
        pid: Option<u32>,
        name: Option<String>,
    },
    BindWinUsb {
        vid: u16,
        pid: u16,
    },
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub status: Status,
    #[serde(flatten)]
    pub fact: Fact,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

impl Finding {
    pub fn new(status: Status, fact: Fact) -> Self {
        Finding { status, fact, remedy: None }
    }
    pub fn with(status: Status, fact: Fact, remedy: Remedy) -> Self {
        Finding { status, fact, remedy: Some(remedy) }
    }
}

/// One check and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: CheckId,
    /// The worst status of its findings (`ok` when it has none).
    pub status: Status,
    pub findings: Vec<Finding>,
}

impl Check {
    pub fn new(id: CheckId, findings: Vec<Finding>) -> Self {
        let status = findings.iter().map(|f| f.status).max().unwrap_or(Status::Ok);
        Check { id, status, findings }
    }
}

/// Everything `doctor` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub platform: &'static str,
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst status over all checks.
    pub fn status(&self) -> Status {
        self.checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
    }

    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// Run every check that this platform supports.
pub fn run(env: &Env) -> Report {
    #[cfg(target_os = "linux")]
    {
        checks::linux(env)
    }
    #[cfg(target_os = "windows")]
    {
        let _ = env;
        checks::windows()
    }
    #[cfg(not(any(target_os = "linux", target_os = "windows")))]
    {
        let _ = env;
        checks::other("this platform")
    }
}
