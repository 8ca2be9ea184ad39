//! DMSS download protocol ("DLOAD"/"QDL"): the PBL/SBL download mode of the MDM9615
//! (EC20 R1), used to upload and start the NPRG/ENPRG streaming programmer.
//!
//! References: `docs/facts/dmss.md` (commands docs/facts/dmss.md, NAK reasons docs/facts/dmss.md, upload docs/facts/dmss.md) and
//! `docs/facts/dmss.md`–docs/facts/dmss.md (mode probe, getting into download mode, the QDL phase).
//! HDLC-framed with a leading flag from the host; every multi-byte field is big-endian.

pub mod client;
pub mod codec;
pub mod probe;

pub use client::{DmssClient, GO_ACK_TIMEOUT, GoOutcome, PROBE_TIMEOUT, RECV_ATTEMPTS, REPLY_TIMEOUT};
pub use codec::{
    DmssReply, DmssRequest, MAX_WRITE32_DATA, NakReason, Params, encode_reply, encode_request, parse_reply,
    parse_request,
};
pub use probe::{PROBE_NOP, ProbedMode, classify_probe};

use crate::protocol::hdlc::LinkError;
use crate::transport::TransportError;

/// Render an optional address for error messages.
fn at(addr: Option<u32>) -> String {
    addr.map(|a| format!(" at {a:#010x}")).unwrap_or_default()
}

/// Everything that can go wrong in the DMSS codec or client.
#[derive(Debug, thiserror::Error)]
pub enum DmssError {
    /// The link failed (transport error or corrupt HDLC frame).
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A message with no bytes at all.
    #[error("empty DMSS message (expected at least the opcode byte)")]
    Empty,
    /// A message shorter than its layout.
    #[error("DMSS {what} too short: expected {expected} bytes, got {got}")]
    Short { what: &'static str, expected: usize, got: usize },
    /// A message longer than its layout.
    #[error("DMSS {what} too long: expected {expected} bytes, got {got}")]
    Long { what: &'static str, expected: usize, got: usize },
    /// A host request with an opcode this codec does not handle.
    #[error("unknown DMSS command opcode {0:#04x} (expected NOP, PARAM_REQ, WRITE_32BIT, GO, RESET)")]
    UnknownCommand(u8),
    /// A reply whose opcode is not a DMSS reply.
    #[error("expected {expected}, got a message with opcode {got:#04x}")]
    UnexpectedReply { expected: &'static str, got: u8 },
    /// Data too long for one WRITE_32BIT packet.
    #[error("WRITE_32BIT data of {len} bytes exceeds the {max}-byte limit")]
    DataTooLarge { len: usize, max: usize },
    /// A segment would run past the end of the 32-bit address space.
    #[error("segment at {addr:#010x} of {len} bytes runs past the 32-bit address space")]
    AddressOverflow { addr: u32, len: usize },
    /// The target refused a command.
    #[error("target NAKed {command}{}: reason {reason}", at(*.addr))]
    Nak { command: &'static str, addr: Option<u32>, reason: NakReason },
    /// A well-formed frame that is not the awaited reply.
    #[error("expected {expected} to {command}{}, got frame {got:02x?}", at(*.addr))]
    Unexpected { command: &'static str, expected: &'static str, addr: Option<u32>, got: Vec<u8> },
    /// No usable reply after every receive attempt.
    #[error("no {expected} to {command}{} after {attempts} receive attempts: {last}", at(*.addr))]
    NoReply {
        command: &'static str,
        expected: &'static str,
        addr: Option<u32>,
        attempts: u32,
        last: LinkError,
    },
}

impl From<TransportError> for DmssError {
    fn from(e: TransportError) -> Self {
        Self::Link(LinkError::Transport(e))
    }
}
