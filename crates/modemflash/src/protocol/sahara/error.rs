//! The one error type of the Sahara codec, state machine and client.

use std::time::Duration;

use crate::transport::TransportError;

/// What went wrong in Sahara.
#[derive(Debug, thiserror::Error)]
pub enum SaharaError {
    /// A header whose length field is outside what any packet can be.
    #[error("sahara: {name} ({cmd:#x}) header announces {length} bytes; expected {min}..={max}")]
    BadFrameLength { cmd: u32, name: &'static str, length: u32, min: u32, max: u32 },
    /// A known packet with the wrong length.
    #[error("sahara: {name} ({cmd:#x}) must be {expected} bytes, header says {got}")]
    BadLength { cmd: u32, name: &'static str, expected: u32, got: u32 },
    /// Fewer bytes than a packet needs.
    #[error("sahara: {what} truncated: need {expected} bytes, got {got}")]
    Truncated { what: &'static str, expected: usize, got: usize },
    /// A packet that does not fit the current state.
    #[error("sahara: expected {expected}, got {got} ({cmd:#x})")]
    Unexpected { expected: &'static str, got: &'static str, cmd: u32 },
    /// END_IMAGE_TX with a non-zero status.
    #[error("sahara: target ended image {image_id} with status {status:#04x} ({name})")]
    ImageTransfer { image_id: u32, status: u32, name: &'static str },
    /// The target asked for another image than the one we serve.
    #[error("sahara: target asked for image {got}, expected image {expected}")]
    UnexpectedImageId { expected: u32, got: u64 },
    /// A READ_DATA beyond the end of the image.
    #[error(
        "sahara: target read {length} bytes at offset {offset} of image {image_id}, which has only {image_size} bytes"
    )]
    ReadOutOfRange { image_id: u64, offset: u64, length: u64, image_size: u64 },
    /// A READ_DATA of zero or of an absurd number of bytes.
    #[error("sahara: target read length {length} is not in 1..={max}")]
    BadReadLength { length: u64, max: u64 },
    /// DONE_RESP "pending" (0) where it is not accepted.
    #[error("sahara: target reports more images pending after image {image_id:?}; not accepted by policy")]
    PendingRejected { image_id: Option<u64> },
    /// DONE_RESP with neither 0 nor 1.
    #[error("sahara: DONE_RESP status {status}; expected 0 (pending) or 1 (complete)")]
    BadDoneStatus { status: u32 },
    /// No HELLO came, even after the 1-byte nudge.
    #[error("sahara: no HELLO from the target within {waited:?} (tried twice, with a 1-byte nudge)")]
    NoHello { waited: Duration },
    /// No packet within the per-command timeout.
    #[error("sahara: timed out after {after:?} waiting for {waiting_for}")]
    Timeout { waiting_for: &'static str, after: Duration },
    /// EXECUTE_RESP for another client command.
    #[error("sahara: EXECUTE {sent:#x} answered for command {got:#x}")]
    ExecuteMismatch { sent: u32, got: u32 },
    /// EXECUTE_RESP announcing more data than we accept.
    #[error("sahara: EXECUTE {name} would return {len} bytes; at most {max} accepted")]
    ExecuteTooLong { name: &'static str, len: u32, max: u32 },
    /// EXECUTE data too short for its format.
    #[error("sahara: {name} returned {got} bytes; need at least {expected}")]
    ExecuteData { name: &'static str, expected: usize, got: usize },
    /// The target refused an EXECUTE (END_IMAGE_TX with a status in command mode).
    #[error("sahara: EXECUTE {name} failed with status {status:#04x} ({status_name})")]
    ExecuteFailed { name: &'static str, status: u32, status_name: &'static str },
    /// Reading the image failed.
    #[error("sahara: reading the image at offset {offset} failed: {source}")]
    ImageRead { offset: u64, source: std::io::Error },
    /// The link failed.
    #[error("sahara: {0}")]
    Transport(#[from] TransportError),
}
