//! Remedies for people, by failure kind and step. The library reports what failed and
//! where; what to do about it is the CLI's business.

use modemflash::exec::{ExecError, FailureKind};

/// What the user can do next.
pub fn remedy(e: &ExecError) -> String {
    if let Some(n) = e.repeated_failure {
        return repeated(e, n);
    }
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
        FailureKind::WrongModule => "The module on the bus is not the one this update was working on. Nothing more was written \
             to it. Rerun the same command: the journal keeps each module's progress apart and starts over on this one. \
             With several modules attached, pick one with --device usb:BUS-PORT (see `modemflash list`).".into(),
    }
}

/// The same failure at the same step, `n` runs in a row: another plain rerun will not
/// help, so say what will.
fn repeated(e: &ExecError, n: u32) -> String {
    format!(
        "This is the {} run in a row that failed at step {} the same way ({}), so rerunning alone will not help. \
         Try, in this order: (1) power-cycle the module (unplug it or cut its power for 10 s) and rerun; \
         (2) rerun with --fresh, which discards this module's journal and starts the update over from the mode it is in; \
         (3) report it to the project ({}) with the output of this run, `--json` if you can, and `modemflash info --json`.",
        ordinal(n),
        e.step,
        kind_name(e.kind),
        env!("CARGO_PKG_REPOSITORY")
    )
}

fn ordinal(n: u32) -> String {
    match n {
        2 => "second".into(),
        3 => "third".into(),
        n => format!("{n}th"),
    }
}

fn kind_name(k: FailureKind) -> &'static str {
    match k {
        FailureKind::ModeTimeout => "the module did not reach the mode in time",
        FailureKind::Open => "a port could not be opened",
        FailureKind::Protocol => "the module refused or answered unexpectedly",
        FailureKind::Package => "a package file could not be read",
        FailureKind::NotSupported => "the firmware lacks a command",
        FailureKind::Verify => "the module came back with another revision",
        FailureKind::Journal => "the journal could not be written",
        FailureKind::WrongModule => "another module was on the bus",
    }
}
