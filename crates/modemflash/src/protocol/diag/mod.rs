//! Qualcomm DIAG: the few normal-mode commands a flasher needs: read the firmware revision
//! (EXT_BUILD_ID 0x7C), switch to DMSS download (0x3A, MDM9615) or to EDL/Sahara
//! (`4B 65 01 00`, MDM9x07), and recognise the DIAG task's rejections (0x13/0x14/0x15/0x18).
//!
//! References: `docs/facts/hdlc-diag.md` (command table) and docs/facts/hdlc-diag.md (framing: the host sends DIAG without a
//! leading flag, normal-mode replies carry none either), `docs/facts/quectel.md` (EDL switch,
//! build ID) and docs/facts/firehose.md (revision strings).

pub mod client;
pub mod codec;
pub mod nv;

pub use client::{DRAIN_QUIET, DiagClient, REPLY_TIMEOUT, SwitchOutcome};
pub use codec::{
    DiagReply, DiagRequest, EDL_REQUEST, ExtBuildId, RejectKind, encode_reply, encode_request,
    parse_ext_build_id, parse_reply, parse_request, reject,
};

use std::time::Duration;

use crate::protocol::hdlc::LinkError;
use crate::transport::TransportError;

/// Everything that can go wrong in the DIAG codec or client.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// The link failed (transport error or corrupt HDLC frame).
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A message with no bytes.
    #[error("empty DIAG message (expected at least the command code)")]
    Empty,
    /// A message shorter than its layout.
    #[error("DIAG {what} too short: expected at least {expected} bytes, got {got}")]
    Short { what: &'static str, expected: usize, got: usize },
    /// A message longer than its layout.
    #[error("DIAG {what} too long: expected {expected} bytes, got {got}")]
    Long { what: &'static str, expected: usize, got: usize },
    /// A message with another command code than the one being parsed.
    #[error("DIAG {what}: expected code {expected:#04x}, got {got:#04x}")]
    WrongCode { what: &'static str, expected: u8, got: u8 },
    /// A message whose content breaks its layout.
    #[error("DIAG {what} malformed: {detail}")]
    Malformed { what: &'static str, detail: &'static str },
    /// The DIAG task refused the command.
    #[error("DIAG refused {command}: {kind}, echo {request:02x?}")]
    Rejected { command: &'static str, kind: codec::RejectKind, request: Vec<u8> },
    /// A reply to the command that is not the awaited one.
    #[error("expected {expected} to {command}, got {got:02x?}")]
    Unexpected { command: &'static str, expected: &'static str, got: Vec<u8> },
    /// Nothing matching came in time.
    #[error("no {expected} to {command} within {timeout:?}{}", skipped(.last_skipped.as_deref()))]
    NoReply {
        command: &'static str,
        expected: &'static str,
        timeout: Duration,
        last_skipped: Option<Vec<u8>>,
    },
}

fn skipped(frame: Option<&[u8]>) -> String {
    frame.map(|f| format!(" (last unrelated frame {f:02x?})")).unwrap_or_default()
}

impl From<TransportError> for DiagError {
    fn from(e: TransportError) -> Self {
        Self::Link(LinkError::Transport(e))
    }
}
