//! Remedies for people, by failure kind and step. The library reports what failed and
//! where; what to do about it is the CLI's business. "Rerun" is offered only where a rerun
//! can help; otherwise the remedy says what will.

use modemflash::discovery::{BusError, BusRemedy};
use modemflash::exec::{ExecError, FailureKind};
use modemflash::plan::{DeviceMode, PlanError};

/// A bus remedy with this program's option names.
pub fn bus_remedy(r: BusRemedy) -> &'static str {
    match r {
        BusRemedy::NameEndpoint => "pass --port TTY and/or --fastboot tcp:HOST:PORT",
        BusRemedy::NameDmTty => "pass --port TTY",
        BusRemedy::NameDmTtyForAt => "pass --port with the DM tty; the AT tty is found next to it",
        BusRemedy::NameFastboot => "pass --fastboot tcp:HOST:PORT, or --fastboot usb for 18d1:d00d on USB",
        BusRemedy::ChooseModule => "choose one with --device usb:BUS-PORT (see `modemflash list`)",
        BusRemedy::UseExplicitPorts => "use --port or --fastboot tcp:HOST:PORT for serial and TCP devices",
        BusRemedy::NoSuchModule => "check the module index",
    }
}

/// A bus error and, where there is one, what to pass.
pub fn bus_error(e: &BusError) -> String {
    match e.remedy() {
        Some(r) => format!("{e} ({})", bus_remedy(r)),
        None => e.to_string(),
    }
}

/// A planning error and, where an option changes the answer, which.
pub fn plan_error(e: &PlanError) -> String {
    match e {
        PlanError::DoesNotFit { .. } => {
            format!("{e} Pass --force to flash anyway (the module may end up stuck in its download mode)")
        }
        _ => e.to_string(),
    }
}

/// What the user can do next. `rerun` is the exact command that continues the update.
pub fn remedy(e: &ExecError, rerun: &str) -> String {
    if let Some(n) = e.repeated_failure {
        return repeated(e, n);
    }
    let again = format!("The journal keeps what is done: rerun `{rerun}` to continue from this step.");
    if e.step == "nv:compare" && e.kind == FailureKind::Verify {
        return "The firmware is written, but the module's NV identity is not what the backup holds (docs/backup.md). \
                Do not use the module until its NV items are written back from the backup's nv.json (QPST/QCN tools); \
                keep the backup folder."
            .into();
    }
    match e.kind {
        FailureKind::ModeTimeout if e.mode == DeviceMode::Fastboot => format!(
            "The module did not come up in fastboot. Check that fastboot (18d1:d00d) is reachable: on Linux install the udev rule \
             (`modemflash setup udev`) or run as root; with --fastboot tcp:HOST:PORT check the address. {again}"
        ),
        FailureKind::ModeTimeout => format!(
            "The module did not re-enumerate in time. Replug it or power-cycle it, check `dmesg` for the new ttys and that \
             ModemManager is not holding them (`modemflash doctor`). {again}"
        ),
        FailureKind::Open => format!(
            "The port exists but could not be opened: check permissions (dialout group or udev rule), and that no other \
             program (ModemManager, another flasher) holds it. {again}"
        ),
        FailureKind::Disconnected => format!(
            "The module went off the link mid-step (a loose cable, a power dip, or a reset). Check the cable and power, \
             wait until it is back on USB (`modemflash list`). {again}"
        ),
        FailureKind::Timeout => format!(
            "The module stopped answering but did not leave the bus. Power-cycle it (unplug, wait 5 s, plug in); {again}"
        ),
        FailureKind::Refused => "The module refused the command; its answer is quoted in the error above. A rerun \
             would be refused the same way: check that the package is meant for this module (`modemflash inspect PKG`, \
             `modemflash info`), and report the error text if it is."
            .into(),
        FailureKind::Protocol => format!(
            "The module answered something that does not fit the protocol. Power-cycle it; {again} If it happens again \
             at the same step, report the error text."
        ),
        FailureKind::Package => {
            "A package file could not be read: run `modemflash inspect PKG` and fix or re-download the package.".into()
        }
        FailureKind::NotSupported => {
            "This firmware lacks the command; rerun with `--flow a` (the DLOAD path), which every legacy module supports."
                .into()
        }
        FailureKind::Verify => "The module booted, but not into the package's revision. Run `modemflash info` and check \
             that the package matches the module."
            .into(),
        FailureKind::Journal => {
            "The journal could not be written: pass --journal PATH on a writable disk, then rerun.".into()
        }
        FailureKind::WrongModule => format!(
            "The module on the bus is not the one this update was working on. Nothing more was written to it. \
             Rerun `{rerun}`: the journal keeps each module's progress apart and starts over on this one. With several \
             modules attached, pick one with --device usb:BUS-PORT (see `modemflash list`)."
        ),
        FailureKind::Cancelled => format!("Nothing is lost: {again}"),
        FailureKind::WrongChipset => "Nothing was written. Use a package built for the module's chipset (`modemflash info` \
             shows the module, `modemflash inspect PKG` the package); rerunning with this package will not help."
            .into(),
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
        FailureKind::Protocol => "the module answered unexpectedly",
        FailureKind::Refused => "the module refused a command",
        FailureKind::Timeout => "the module stopped answering",
        FailureKind::Disconnected => "the module went off the link",
        FailureKind::Package => "a package file could not be read",
        FailureKind::NotSupported => "the firmware lacks a command",
        FailureKind::Verify => "the module came back with another revision",
        FailureKind::Journal => "the journal could not be written",
        FailureKind::WrongModule => "another module was on the bus",
        FailureKind::Cancelled => "it was stopped on request",
        FailureKind::WrongChipset => "the package is for another chipset",
    }
}

/// The command line of this process, quoted for a POSIX shell.
pub fn this_command() -> String {
    let mut args = std::env::args();
    let mut out = vec!["modemflash".to_owned()];
    let _ = args.next();
    out.extend(args.map(|a| quote(&a)));
    out.join(" ")
}

fn quote(a: &str) -> String {
    let plain = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain { a.to_owned() } else { format!("'{}'", a.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(step: &str, mode: DeviceMode, kind: FailureKind) -> ExecError {
        ExecError {
            step: step.into(),
            title: "t".into(),
            endpoint: "e".into(),
            kind,
            mode,
            cause: std::sync::Arc::new(modemflash::exec::StepFailure::Cancelled.into()),
            repeated_failure: None,
        }
    }

    #[test]
    fn the_remedy_follows_the_mode_waited_for_not_the_step_name() {
        // `at:fastboot` runs in normal mode: a timeout there is no fastboot problem.
        let normal = remedy(&failed("at:fastboot", DeviceMode::Normal, FailureKind::ModeTimeout), "x");
        assert!(normal.contains("did not re-enumerate"), "{normal}");
        let fb = remedy(&failed("flash:boot", DeviceMode::Fastboot, FailureKind::ModeTimeout), "x");
        assert!(fb.contains("did not come up in fastboot"), "{fb}");
    }

    #[test]
    fn library_remedies_are_rendered_with_the_flags() {
        let e = BusError::NotConfigured("DM port", BusRemedy::NameDmTty);
        assert!(!e.to_string().contains("--"), "{e}");
        assert_eq!(bus_error(&e), "no DM port is configured: name the module's DM tty (pass --port TTY)");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("/dev/ttyUSB0"), "/dev/ttyUSB0");
        assert_eq!(quote("my fw"), "'my fw'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
