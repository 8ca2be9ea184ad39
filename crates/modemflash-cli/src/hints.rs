//! Remedies for people, by failure kind and step. The library reports what failed and
//! where; what to do about it is the CLI's business.

use modemflash::exec::{ExecError, FailureKind};

/// What the user can do next.
pub fn remedy(e: &ExecError) -> String {
    let rerun = "The journal keeps what is done: rerun the same command to continue.";
    match e.kind {
        FailureKind::ModeTimeout if e.step.contains("fastboot") => format!(
            "The module did not come up in fastboot. Check that fastboot (18d1:d00d) is reachable: on Linux install the udev rule \
             (`modemflash setup udev`) or run as root; with --fastboot tcp:HOST:PORT check the address. {rerun}"
        ),
        FailureKind::ModeTimeout => format!(
            "The module did not re-enumerate in time. Replug it or power-cycle it, check `dmesg` for the new ttys and that \
             ModemManager is not holding them (`modemflash doctor`). {rerun}"
        ),
        FailureKind::Open => format!(
            "The port exists but could not be opened: check permissions (dialout group or udev rule), and that no other \
             program (ModemManager, another flasher) holds it. {rerun}"
        ),
        FailureKind::Protocol => format!("The module refused or answered unexpectedly; see the device log above. {rerun}"),
        FailureKind::Package => "A package file could not be read: run `modemflash inspect PKG`.".into(),
        FailureKind::NotSupported => "This firmware lacks the command; rerun with `--flow a` (the DLOAD path), which every legacy module supports.".into(),
        FailureKind::Verify => "The module booted, but not into the package's revision. Run `modemflash info` and check that the package matches the module.".into(),
        FailureKind::Journal => "The journal could not be written: pass --journal PATH on a writable disk.".into(),
        FailureKind::WrongChipset => "Nothing was written. Use a package built for the module's chipset (`modemflash info` shows the module, `modemflash inspect PKG` the package); rerunning with this package will not help.".into(),
    }
}
