//! Remedies for people, by failure kind and step. The library reports what failed and
//! where; what to do about it is the CLI's business. "Rerun" is offered only where a rerun
//! can help; otherwise the remedy says what will.

use modemflash::exec::{ExecError, FailureKind};

/// What the user can do next. `rerun` is the exact command that continues the update.
pub fn remedy(e: &ExecError, rerun: &str) -> String {
    let again = format!("The journal keeps what is done: rerun `{rerun}` to continue from this step.");
    match e.kind {
        FailureKind::ModeTimeout if e.step.contains("fastboot") => format!(
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
        FailureKind::Cancelled => format!("Nothing is lost: {again}"),
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

    #[test]
    fn quoting() {
        assert_eq!(quote("/dev/ttyUSB0"), "/dev/ttyUSB0");
        assert_eq!(quote("my fw"), "'my fw'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
