//! Fastboot (`docs/facts/fastboot.md` and docs/facts/fastboot.md, `docs/facts/fastboot.md`, `docs/facts/quectel.md`):
//! the bootloader protocol of the EC20/EC25 aboot (18d1:d00d, interface ff/42/03) and of
//! the Android devices the traces come from.
//!
//! - [`codec`]: commands (≤ 64 bytes) and replies (≤ 256 bytes) both ways,
//!   `max-download-size` parsing.
//! - [`sparse`]: the Android sparse format, streaming parser and [`sparse::apply`].
//! - [`split`]: cutting images into sparse pieces no bigger than `max-download-size`.
//! - [`tcp`]: the `FB01` + u64-BE-length framing of fastboot over TCP, as a `Transport`.
//! - [`client`]: the blocking host driver.

pub mod client;
pub mod codec;
pub mod sparse;
pub mod split;
pub mod tcp;

use std::time::Duration;

use crate::transport::TransportError;

pub use client::{FastbootClient, FastbootOptions};
pub use codec::{Command, Reply, parse_command, parse_max_download_size, parse_reply};
pub use sparse::{SparseError, SparseHeader, SparseReader};
pub use split::{SparsePiece, split_raw, split_sparse};
pub use tcp::FastbootTcp;

/// Everything that can go wrong speaking fastboot.
#[derive(Debug, thiserror::Error)]
pub enum FastbootError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("fastboot command of {len} bytes: expected at most 64")]
    CommandTooLong { len: usize },
    #[error("bad fastboot command {text:?}: {why}")]
    BadCommand { text: String, why: &'static str },
    #[error("fastboot reply of {len} bytes: expected at most 256")]
    ReplyTooLong { len: usize },
    #[error("bad fastboot reply {reply:?}: {why}")]
    BadReply { reply: String, why: &'static str },
    #[error("bad {what} value {text:?}: expected {expected}")]
    BadNumber { what: &'static str, text: String, expected: &'static str },
    /// The device answered `FAIL`.
    #[error("fastboot {cmd:?} failed: expected OKAY, device said FAIL {message:?}")]
    Fail { cmd: String, message: String },
    #[error("no fastboot reply to {cmd:?} within {timeout:?}")]
    NoReply { cmd: String, timeout: Duration },
    #[error("unexpected fastboot reply to {cmd:?}: expected {expected}, got {got}")]
    UnexpectedReply { cmd: String, expected: &'static str, got: String },
    #[error("fastboot download of {asked} bytes: device answered DATA for {granted}")]
    DataSizeMismatch { asked: u32, granted: u32 },
    #[error("image of {len} bytes is larger than the {limit}-byte download limit")]
    TooLarge { len: u64, limit: u64 },
    #[error("image data ended early: expected {expected} bytes, got {got}")]
    ShortInput { expected: u64, got: u64 },
    #[error("fastboot TCP handshake: expected \"FB\" and two digits (at least 01), got {got:?}")]
    Handshake { got: String },
    #[error(transparent)]
    Sparse(#[from] SparseError),
    #[error("image I/O error: {0}")]
    Io(#[from] std::io::Error),
}
