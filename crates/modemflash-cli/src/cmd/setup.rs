//! `modemflash setup udev [--print]`: print or install the udev rules generated from the
//! catalogue (the same text as `packaging/udev/70-modemflash.rules`).

use std::path::PathBuf;
use std::process::Command;

use clap::{Args, Subcommand};
use modemflash::doctor::{UDEV_RULES_FILE, udev};

use crate::exit;

/// Set this host up for modemflash.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  sudo modemflash setup udev\n  \
  modemflash setup udev --print | sudo tee /etc/udev/rules.d/70-modemflash.rules\n\n\
Exit codes: 0 done, 1 failed (e.g. not root), 64 usage error.")]
pub struct SetupArgs {
    #[command(subcommand)]
    pub what: SetupWhat,
}

#[derive(Debug, Subcommand)]
pub enum SetupWhat {
    /// Install udev rules for every module id modemflash knows (Linux).
    ///
    /// The rules give the usbfs nodes group plugdev and the ttys group dialout, tag both
    /// `uaccess` (the user at the seat gets access), hide 05c6:9008 and 18d1:d00d from
    /// ModemManager and turn USB autosuspend off for them. After installing, udev is
    /// reloaded and re-triggered; replug the module if it was connected.
    Udev(UdevArgs),
}

#[derive(Debug, Args)]
pub struct UdevArgs {
    /// Print the rules instead of installing them.
    #[arg(long)]
    pub print: bool,
    /// Directory to install into.
    #[arg(long, value_name = "DIR", default_value = "/etc/udev/rules.d")]
    pub dir: PathBuf,
    /// Do not run `udevadm control --reload-rules` and `udevadm trigger` afterwards.
    #[arg(long)]
    pub no_reload: bool,
}

fn udevadm(args: &[&str]) -> Result<(), String> {
    match Command::new("udevadm").args(args).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("`udevadm {}` exited with {s}", args.join(" "))),
        Err(e) => Err(format!("cannot run udevadm: {e}")),
    }
}

fn install(args: &UdevArgs) -> u8 {
    let path = args.dir.join(UDEV_RULES_FILE);
    if let Err(e) = std::fs::create_dir_all(&args.dir).and_then(|()| std::fs::write(&path, udev::rules())) {
        error!("cannot write {}: {e}", path.display());
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            tell!(
                "Run it as root (`sudo modemflash setup udev`), or: modemflash setup udev --print | sudo tee {}",
                path.display()
            );
        }
        return exit::FAILED;
    }
    say!("Installed {}", path.display());
    if !args.no_reload {
        let r = udevadm(&["control", "--reload-rules"]).and_then(|()| {
            udevadm(&["trigger", "--action=add", "--subsystem-match=usb", "--subsystem-match=tty"])
        });
        match r {
            Ok(()) => say!("Reloaded udev rules."),
            Err(e) => {
                tell!(
                    "warning: {e}; reload by hand: sudo udevadm control --reload-rules && sudo udevadm trigger"
                );
            }
        }
    }
    say!(
        "Desktop users get access through uaccess. Others: `sudo usermod -aG plugdev,dialout $USER`, then log in again. \
         Replug the module, then check with `modemflash doctor`."
    );
    exit::OK
}

pub fn run(args: &SetupArgs) -> u8 {
    match &args.what {
        SetupWhat::Udev(u) if u.print => {
            say_part!("{}", udev::rules());
            exit::OK
        }
        SetupWhat::Udev(u) => install(u),
    }
}
