//! Where `list`, `info` and `doctor` look: the real system, or a tree under `--root DIR`
//! (a hidden test hook: `DIR/sys/bus/usb/devices`, `DIR/dev`, `DIR/proc`, `DIR/etc`).

use std::path::{Path, PathBuf};

use clap::Args;
use modemflash::discovery::sysfs::{DEFAULT_DEV_ROOT, DEFAULT_SYSFS_ROOT, Found, Roots};
use modemflash::doctor::Env;

/// The hidden `--root` flag.
#[derive(Debug, Clone, Args)]
pub struct RootArg {
    /// Read sysfs, /dev, /proc and /etc under DIR instead of / (for tests).
    #[arg(long, value_name = "DIR", hide = true)]
    pub root: Option<PathBuf>,
}

fn under(root: Option<&Path>, path: &str) -> PathBuf {
    match root {
        Some(r) => r.join(path.trim_start_matches('/')),
        None => PathBuf::from(path),
    }
}

impl RootArg {
    pub fn roots(&self) -> Roots {
        let r = self.root.as_deref();
        Roots { sysfs: under(r, DEFAULT_SYSFS_ROOT), dev: under(r, DEFAULT_DEV_ROOT) }
    }

    pub fn doctor_env(&self) -> Env {
        let r = self.root.as_deref();
        let d = Env::default();
        Env {
            roots: self.roots(),
            proc_root: under(r, "/proc"),
            group_file: under(r, "/etc/group"),
            udev_dirs: d.udev_dirs.iter().map(|p| under(r, &p.to_string_lossy())).collect(),
            // Opening nodes to test ACLs only makes sense on the real system.
            try_open: r.is_none(),
        }
    }
}

/// `2c7c:0125`.
pub fn usb_id(f: &Found) -> String {
    format!("{:04x}:{:04x}", f.vid, f.pid)
}

/// Every catalogue module, or the error worded for people.
pub fn scan(root: &RootArg) -> Result<Vec<Found>, String> {
    modemflash::discovery::usbbus::scan_modules(&root.roots())
        .map_err(|e| format!("cannot list USB devices: {e}"))
}

/// What to say when no module is on USB.
pub const NO_MODULE_HINT: &str = "Check the cable and power; a module in EDL shows as 05c6:9008, an EC20 R1 in DLOAD \
as 05c6:9215 with one interface, in fastboot as 18d1:d00d. `modemflash doctor` tells what else may be in the way. A module on a UART or \
behind a network is reached with --device serial:PATH or --device tcp:HOST:PORT.";
