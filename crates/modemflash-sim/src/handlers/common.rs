//! Pieces shared by the normal-mode and 9615 download handlers: fault application per
//! command, the revision a module reports, and HDLC frame collection.

use std::time::Duration;

use crate::boot::Model;
use crate::fault::FaultKind;
use crate::handler::{Cx, ResetTo};

/// Revision reported under the `wrong-model` fault: an EG25-G build (`docs/facts/usb.md`
/// [confirmed]), another model than either simulated one.
pub const WRONG_MODEL_REVISION: &str = "EG25GGBR07A08M2G";

/// How long after answering a mode-switch command the module leaves the bus. [inferred]
/// long enough for the reply to go out; the real delay is not recorded.
pub const SWITCH_DELAY: Duration = Duration::from_millis(100);

/// The fault verdict on the command a handler is about to serve (every handler's one
/// vocabulary for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No fault: serve it.
    Go,
    /// Refuse it with the protocol's error or NAK.
    Nak,
    /// Power fails in the middle of this write (only from [`check_write`]).
    PowerLoss,
    /// The link drops in the middle of this write (only from [`check_write`]).
    Disconnect,
    /// The fault was applied (stall; from [`check`] also disconnect and power loss): send
    /// nothing.
    Stop,
}

/// Count a command at `step` and apply any fault that fires on it. A power loss here is a
/// plain power cycle.
pub fn check(cx: &mut Cx<'_>, step: &str) -> Verdict {
    check_maybe_write(cx, step, false)
}

/// [`check`] for a handler whose command may be a write: with `during_write`, a power loss
/// is returned (the caller leaves its write partial, then resets); a disconnect, and a
/// power loss outside a write, are applied here as a power cycle.
pub fn check_maybe_write(cx: &mut Cx<'_>, step: &str, during_write: bool) -> Verdict {
    match check_write(cx, step) {
        Verdict::PowerLoss if during_write => Verdict::PowerLoss,
        Verdict::PowerLoss | Verdict::Disconnect => {
            cx.reset(ResetTo::Boot, Duration::ZERO);
            Verdict::Stop
        }
        other => other,
    }
}

/// Like [`check`], but a power loss or disconnect is returned without resetting, so that the
/// caller can leave the partition it writes partial before it resets.
pub fn check_write(cx: &mut Cx<'_>, step: &str) -> Verdict {
    match cx.command(step) {
        None => Verdict::Go,
        Some(FaultKind::Nak) => Verdict::Nak,
        Some(FaultKind::PowerLoss) => Verdict::PowerLoss,
        Some(FaultKind::Stall) => {
            cx.core.faults.stalled = true;
            cx.log(format!("stalled at {step}: no more answers until a power cycle"));
            Verdict::Stop
        }
        Some(FaultKind::Disconnect) => Verdict::Disconnect,
        Some(other) => {
            // Corrupt frames are counted per reply, chip id and model faults are always
            // on, slow re-enumeration applies to resets: nothing to do per command.
            cx.log(format!("fault {other:?} has no effect at step {step}"));
            Verdict::Go
        }
    }
}

/// The revision the running firmware reports, or another model's under `wrong-model`.
pub fn reported_revision(cx: &Cx<'_>) -> String {
    if cx.has_fault(&FaultKind::WrongModel) {
        WRONG_MODEL_REVISION.to_owned()
    } else {
        cx.core.running_revision.clone()
    }
}

/// The model name a module prints (`ATI` line 2, EXT_BUILD_ID extra string): taken from
/// the revision (`EC20AQAR02A03E2G` → `EC20`), else from the simulated model.
pub fn model_name(model: Model, revision: &str) -> String {
    modemflash::catalog::Revision::parse(revision).model.unwrap_or_else(|| {
        match model {
            Model::Ec20R1 => "EC20",
            Model::Ec25 => "EC25",
        }
        .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_from_revision() {
        assert_eq!(model_name(Model::Ec25, "EG25GGBR07A08M2G"), "EG25");
        assert_eq!(model_name(Model::Ec20R1, "EC20AQAR02A03E2G"), "EC20");
        assert_eq!(model_name(Model::Ec25, "???"), "EC25");
    }
}
