//! Why a step failed, as a typed cause: the protocol client's own error (a Firehose NAK,
//! a Sahara end-of-transfer status, a lost link), a package file, or one of the
//! executor's own findings ([`StepFailure`]). [`Cause::kind`] names what happened (the
//! module went away, stopped answering, said no) so a program picks its remedy by type.

use super::FailureKind;
use crate::discovery::BusError;
use crate::package::ihex::HexError;
use crate::protocol::at::AtError;
use crate::protocol::diag::DiagError;
use crate::protocol::dmss::DmssError;
use crate::protocol::fastboot::FastbootError;
use crate::protocol::fastboot::sparse::SparseError;
use crate::protocol::firehose::FirehoseError;
use crate::protocol::hdlc::LinkError;
use crate::protocol::sahara::SaharaError;
use crate::protocol::streaming::StreamingError;
use crate::protocol::streaming::codes::PartitionStatus;
use crate::transport::TransportError;

/// The typed cause of a failed step.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Diag(#[from] DiagError),
    #[error(transparent)]
    Dmss(#[from] DmssError),
    #[error(transparent)]
    Streaming(#[from] StreamingError),
    #[error(transparent)]
    Fastboot(#[from] FastbootError),
    #[error(transparent)]
    At(#[from] AtError),
    #[error(transparent)]
    Sahara(#[from] SaharaError),
    #[error(transparent)]
    Firehose(#[from] FirehoseError),
    /// A programmer file that no longer parses (it did when the package was opened).
    #[error("{path}: {source}")]
    Hex { path: String, source: HexError },
    /// A package file that cannot be read.
    #[error("{path}: {source}")]
    File { path: String, source: std::io::Error },
    /// A sparse image that cannot be sent as it is.
    #[error("sparse image {path}: {problem}")]
    Sparse { path: String, problem: SparseProblem },
    /// The journal file could not be written.
    #[error(transparent)]
    Journal(std::io::Error),
    /// What the executor itself found.
    #[error(transparent)]
    Step(#[from] StepFailure),
}

/// Why a sparse image cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum SparseProblem {
    #[error("{0}")]
    Format(#[from] SparseError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(
        "a data run at byte {offset} ({len} bytes) is not a whole number of {sector}-byte sectors; it cannot be sent as a separate <program>"
    )]
    Unaligned { offset: u64, len: u64, sector: u64 },
    #[error("it holds no data")]
    Empty,
}

/// The executor's own findings.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    #[error("stopped on request before this step; every earlier step is done and journaled")]
    Cancelled,
    /// An identity the module shows differs from the one the run knows.
    #[error("this is another module: its {what} is {seen}, the module this update {} has {recorded}", if *.journaled { "was journaled on" } else { "started on" })]
    OtherModule { what: &'static str, seen: String, recorded: String, journaled: bool },
    #[error("the module reports {reported}, the package installs {expected}")]
    Verify { reported: String, expected: String },
    #[error(
        "the package is for {package}, and the module in {mode} mode does not tell its chipset; nothing was written"
    )]
    ChipsetUntold { package: String, mode: &'static str },
    #[error("the package is for {package}; the module is {module}. Nothing was written")]
    OtherChipset { package: String, module: String },
    #[error("no programmer could be started ({})", join(.tries))]
    NoProgrammerStarted { tries: Vec<(String, Cause)> },
    #[error("no entry address")]
    NoEntryAddress,
    #[error("no partition table")]
    NoPartitionTable,
    #[error("the programmer refused every partition table ({}; override: {overridden:?})", statuses(.tried))]
    TablesRefused { tried: Vec<(String, PartitionStatus)>, overridden: PartitionStatus },
    #[error("cannot read the revision through DIAG or AT: {0}")]
    NoRevision(#[source] Box<Cause>),
    #[error("a Firehose programmer already runs on the EDL interface and the plan does not reuse one")]
    ProgrammerRunning,
    /// The EDL interface said nothing: no HELLO, no answer to a `<nop>`, no HELLO after the
    /// Sahara client's nudge (`protocol::edl::Found::Silent`).
    #[error(
        "the EDL interface is silent: no Sahara HELLO, no answer to a Firehose <nop>, nothing after a nudge. \
         Either a programmer left by an interrupted run is still taking the data of a <program> (it takes every \
         byte as sector data and answers nothing until that program's sectors are in), or the boot ROM is in a \
         Sahara error state. Only a power cycle clears either; the 9x07 flow erased the SBL first, so the module \
         comes back in EDL and the update resumes from the journal"
    )]
    EdlSilent(#[source] Box<Cause>),
    #[error("{0} session lost")]
    SessionLost(&'static str),
    /// The plan has a 9x07 step and the package no Firehose layout.
    #[error("the package has no Firehose layout")]
    NoFirehoseLayout,
    /// The package's NAND geometry does not fit the chip (`package::geometry`).
    #[error(
        "the package was built for another NAND ({mismatches}); nothing was erased. Use the package made for this module's NAND{}",
        .chip.as_deref().map_or(String::new(), |n| format!(" ({n})"))
    )]
    WrongGeometry { mismatches: String, chip: Option<String> },
    /// A backup file could not be written.
    #[error("{path}: {source}")]
    BackupWrite { path: String, source: std::io::Error },
    /// A backup's `nv.json` could not be read.
    #[error("{0}")]
    BackupRead(String),
    /// An NV item could not be read through DIAG (the link failed; a refused item is
    /// recorded, not an error).
    #[error("NV_READ of item {item} ({name}): {source}")]
    NvRead { item: u16, name: &'static str, source: DiagError },
    /// An identity NV item differs from the backup's after the update.
    #[error(
        "the module's NV identity changed during the update ({changes}). The firmware is written; write the NV items back from the backup in {backup} (QPST/QCN tools) before using the module"
    )]
    NvIdentityChanged { changes: String, backup: String },
}

fn join(tries: &[(String, Cause)]) -> String {
    // File and HEX errors name their file already.
    tries
        .iter()
        .map(|(f, e)| match e {
            Cause::File { .. } | Cause::Hex { .. } => e.to_string(),
            _ => format!("{f}: {e}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn statuses(tried: &[(String, PartitionStatus)]) -> String {
    tried.iter().map(|(t, s)| format!("{t}: {s:?}")).collect::<Vec<_>>().join(", ")
}

fn transport(e: &TransportError) -> FailureKind {
    match e {
        TransportError::Timeout(_) => FailureKind::Timeout,
        TransportError::Disconnected | TransportError::Io(_) => FailureKind::Disconnected,
    }
}

fn diag(e: &DiagError) -> FailureKind {
    match e {
        DiagError::Link(l) => link(l),
        DiagError::Rejected { .. } => FailureKind::Refused,
        DiagError::NoReply { .. } => FailureKind::Timeout,
        _ => FailureKind::Protocol,
    }
}

fn link(e: &LinkError) -> FailureKind {
    match e {
        LinkError::Transport(t) => transport(t),
        LinkError::Hdlc(_) => FailureKind::Protocol,
    }
}

impl Cause {
    /// What kind of failure a protocol client's error is: the module went away
    /// (disconnected), stopped answering (timeout) or said no (refused); anything else is
    /// an answer that does not fit the protocol.
    #[must_use]
    pub fn kind(&self) -> FailureKind {
        match self {
            Cause::Transport(t) => transport(t),
            Cause::Firehose(e) => match e {
                FirehoseError::Transport(t) => transport(t),
                FirehoseError::Nak { .. } => FailureKind::Refused,
                FirehoseError::NoResponse { .. } => FailureKind::Timeout,
                _ => FailureKind::Protocol,
            },
            Cause::Fastboot(e) => match e {
                FastbootError::Transport(t) => transport(t),
                FastbootError::Fail { .. } => FailureKind::Refused,
                FastbootError::NoReply { .. } => FailureKind::Timeout,
                _ => FailureKind::Protocol,
            },
            Cause::Streaming(e) => match e {
                StreamingError::Transport(t) => transport(t),
                StreamingError::Device { .. }
                | StreamingError::PartitionTable { .. }
                | StreamingError::OpenMulti { .. }
                | StreamingError::DownloadFlag { .. } => FailureKind::Refused,
                StreamingError::NoReply { .. } => FailureKind::Timeout,
                _ => FailureKind::Protocol,
            },
            Cause::Dmss(e) => match e {
                DmssError::Link(l) => link(l),
                DmssError::Nak { .. } => FailureKind::Refused,
                DmssError::NoReply { .. } => FailureKind::Timeout,
                _ => FailureKind::Protocol,
            },
            Cause::Diag(e) => diag(e),
            Cause::Sahara(e) => match e {
                SaharaError::Transport(t) => transport(t),
                SaharaError::ImageTransfer { .. } | SaharaError::ExecuteFailed { .. } => FailureKind::Refused,
                SaharaError::NoHello { .. } | SaharaError::Timeout { .. } => FailureKind::Timeout,
                _ => FailureKind::Protocol,
            },
            Cause::At(e) => match e {
                AtError::Transport(t) => transport(t),
                AtError::Rejected { .. } => FailureKind::Refused,
                AtError::NoResponse { .. } => FailureKind::Timeout,
                AtError::NotSupported { .. } => FailureKind::NotSupported,
                _ => FailureKind::Protocol,
            },
            Cause::Bus(BusError::Timeout { .. }) => FailureKind::ModeTimeout,
            Cause::Bus(_) => FailureKind::Open,
            Cause::Hex { .. } | Cause::File { .. } | Cause::Sparse { .. } => FailureKind::Package,
            Cause::Journal(_) => FailureKind::Journal,
            Cause::Step(s) => match s {
                StepFailure::Cancelled => FailureKind::Cancelled,
                StepFailure::OtherModule { .. } => FailureKind::WrongModule,
                StepFailure::Verify { .. }
                | StepFailure::BackupRead(_)
                | StepFailure::NvIdentityChanged { .. } => FailureKind::Verify,
                StepFailure::ChipsetUntold { .. } | StepFailure::OtherChipset { .. } => {
                    FailureKind::WrongChipset
                }
                StepFailure::NoPartitionTable
                | StepFailure::NoFirehoseLayout
                | StepFailure::WrongGeometry { .. } => FailureKind::Package,
                StepFailure::BackupWrite { .. } => FailureKind::Journal,
                StepFailure::NvRead { source, .. } => diag(source),
                StepFailure::SessionLost(_) => FailureKind::Open,
                StepFailure::NoProgrammerStarted { .. }
                | StepFailure::NoEntryAddress
                | StepFailure::TablesRefused { .. }
                | StepFailure::NoRevision(_)
                | StepFailure::ProgrammerRunning => FailureKind::Protocol,
                // Still on the bus, answering nothing: what a power cycle mends.
                StepFailure::EdlSilent(_) => FailureKind::Timeout,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn disconnect_timeout_and_nak_are_named() {
        let k = |c: Cause| c.kind();
        assert_eq!(
            k(FirehoseError::Transport(TransportError::Disconnected).into()),
            FailureKind::Disconnected
        );
        let nak = FirehoseError::Nak { cmd: "<erase/>".into(), device_log: vec![] };
        assert_eq!(k(nak.into()), FailureKind::Refused);
        let silent = FastbootError::NoReply { cmd: "flash:system".into(), timeout: Duration::from_secs(1) };
        assert_eq!(k(silent.into()), FailureKind::Timeout);
        let fail = FastbootError::Fail { cmd: "flash:system".into(), message: "too large".into() };
        assert_eq!(k(fail.into()), FailureKind::Refused);
        assert_eq!(k(TransportError::Timeout(Duration::from_secs(1)).into()), FailureKind::Timeout);
        assert_eq!(k(StepFailure::Cancelled.into()), FailureKind::Cancelled);
    }

    #[test]
    fn the_typed_cause_is_the_source() {
        use std::error::Error;
        let nak = FirehoseError::Nak { cmd: "<erase/>".into(), device_log: vec![] };
        let e = super::super::ExecError {
            step: "firehose:erase:0".into(),
            title: "erase".into(),
            endpoint: "edl".into(),
            kind: FailureKind::Refused,
            mode: crate::plan::DeviceMode::Edl,
            cause: Arc::new(nak.into()),
            repeated_failure: None,
        };
        let src = e.source().and_then(|s| s.downcast_ref::<Arc<Cause>>()).map(|c| &**c);
        assert!(matches!(src, Some(Cause::Firehose(FirehoseError::Nak { .. }))), "{src:?}");
        assert!(e.to_string().ends_with("firehose target refused <erase/>: expected ACK, got NAK"), "{e}");
    }
}
