//! The one error type of the streaming DLOAD codec and client.

use std::time::Duration;

use crate::protocol::hdlc::{HdlcError, LinkError};
use crate::transport::TransportError;

/// What went wrong while encoding, decoding or running streaming DLOAD.
#[derive(Debug, thiserror::Error)]
pub enum StreamingError {
    /// An empty payload where a packet was expected.
    #[error("streaming: empty packet (expected at least a command byte)")]
    Empty,
    /// A packet shorter than its fixed fields.
    #[error("streaming: {what} too short: need {expected} bytes, got {got}")]
    Truncated { what: &'static str, expected: usize, got: usize },
    /// A field longer than the protocol allows.
    #[error("streaming: {what} too long: at most {max} bytes allowed, got {got}")]
    TooLong { what: &'static str, max: usize, got: usize },
    /// A partition name that cannot be sent (it contains a NUL byte).
    #[error("streaming: partition name {name:?} contains a NUL byte")]
    BadName { name: String },
    /// The HELLO magic is wrong.
    #[error("streaming: bad HELLO magic: expected {expected:?}, got {got:?}")]
    BadMagic { expected: &'static str, got: String },
    /// A HELLO response announcing more sectors than we accept.
    #[error("streaming: HELLO response announces {count} sectors; at most {max} accepted")]
    TooManySectors { count: u16, max: usize },
    /// The target sent an ERROR (0x0D) packet.
    #[error("streaming: device error {code:#04x} ({name}): {text:?}")]
    Device { code: u32, name: &'static str, text: String },
    /// A reply with another command byte than the one awaited.
    #[error("streaming: expected {expected}, got {got} (command {cmd:#04x}, {len} bytes)")]
    Unexpected { expected: &'static str, got: &'static str, cmd: u8, len: usize },
    /// STREAM_WRITE / NOP echo does not match what was sent.
    #[error("streaming: {what} echo mismatch: sent {sent:#010x}, device echoed {got:#010x}")]
    EchoMismatch { what: &'static str, sent: u32, got: u32 },
    /// PARTITION_TABLE was refused.
    #[error("streaming: partition table refused: status {status} ({name})")]
    PartitionTable { status: u8, name: &'static str },
    /// OPEN_MULTI_IMAGE was refused.
    #[error("streaming: cannot open {partition:?}: status {status} ({name})")]
    OpenMulti { partition: String, status: u8, name: &'static str },
    /// The Quectel download flag command answered with a non-zero status.
    #[error("streaming: setting the download flag failed: status {status}")]
    DownloadFlag { status: u8 },
    /// No valid reply within the allowed tries.
    #[error("streaming: no valid {expected} after {tries} tries ({timeout:?} each)")]
    NoReply { expected: &'static str, tries: u32, timeout: Duration },
    /// An image larger than the 32-bit address space of STREAM_WRITE.
    #[error("streaming: image of {len} bytes does not fit the 32-bit write address")]
    ImageTooLarge { len: u64 },
    /// Reading the image to write failed.
    #[error("streaming: reading the image failed at offset {offset}: {source}")]
    ImageRead { offset: u64, source: std::io::Error },
    /// A corrupt HDLC frame.
    #[error("streaming: {0}")]
    Hdlc(#[from] HdlcError),
    /// The link failed.
    #[error("streaming: {0}")]
    Transport(#[from] TransportError),
}

impl From<LinkError> for StreamingError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Transport(t) => Self::Transport(t),
            LinkError::Hdlc(h) => Self::Hdlc(h),
        }
    }
}
