//! AT commands on a module's AT tty: read the firmware revision and switch to fastboot.
//!
//! References: `docs/facts/quectel.md` (revision strings, `AT+QFASTBOOT`), `docs/facts/quectel.md`
//! (real EG25-G replies, fwupd's timeouts) and docs/facts/hdlc-diag.md (simulator checklist), and the transcript
//! `docs/facts/quectel.md`, "AT commands on a real EG25-G".

pub mod client;
pub mod codec;
pub mod revision;

pub use client::{AtClient, COMMAND_TIMEOUT, FASTBOOT_REPLY_TIMEOUT, FastbootOutcome};
pub use codec::{
    AtResponse, FinalResult, LineSplitter, ResponseAssembler, format_command, format_echo, format_response,
    format_urc, is_unsolicited,
};
pub use revision::{FullRevision, parse_ati_revision, parse_cgmr, parse_qgmr};

use std::time::Duration;

use crate::transport::TransportError;

/// Everything that can go wrong talking AT.
#[derive(Debug, thiserror::Error)]
pub enum AtError {
    /// The link failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A command that cannot be sent as one line.
    #[error("AT command {command:?} is not a single line (it contains CR or LF)")]
    InvalidCommand { command: String },
    /// The module answered with an error result.
    #[error("{command} failed: expected OK, got {result}")]
    Rejected { command: String, result: FinalResult },
    /// The module does not know the command (answered `ERROR`/`+CME ERROR`).
    #[error("{command} is not supported by this firmware (got {result})")]
    NotSupported { command: String, result: FinalResult },
    /// No final result code in time.
    #[error("no final result code to {command} within {timeout:?} (info lines so far: {lines:?})")]
    NoResponse { command: String, timeout: Duration, lines: Vec<String> },
    /// The response lacked the line being looked for.
    #[error("{command} answered OK but without {expected} (lines: {lines:?})")]
    MissingField { command: String, expected: &'static str, lines: Vec<String> },
}
