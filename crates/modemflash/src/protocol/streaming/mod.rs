//! Qualcomm streaming DLOAD ("hostdl"), the protocol NPRG/ENPRG programmers speak once
//! running (`docs/facts/streaming.md`–docs/facts/streaming.md; `docs/facts/streaming.md` "Non-EDL fallback",
//! docs/facts/hdlc-diag.md). HDLC framed (docs/facts/hdlc-diag.md); the host sends every frame with a leading flag; all multi-byte
//! fields are little-endian.
//!
//! - [`codec`]: requests and replies, both directions, pure. No encoder exists for
//!   ERASE_FLASH (0x1D), which would erase the whole NAND.
//! - [`hello`]: HELLO request/response.
//! - [`codes`]: command bytes, ERROR codes, PARTITION_TABLE / OPEN_MULTI statuses, image types.
//! - [`client`]: [`StreamingClient`], the blocking host.

pub mod client;
pub mod codec;
pub mod codes;
pub mod error;
pub mod hello;

pub use client::{
    DownloadFlag, FlagPolicy, MismatchPolicy, PartitionTableOptions, PartitionTableOutcome, READ_TIMEOUT,
    StreamingClient, StreamingTimeouts,
};
pub use codec::{Reply, Request};
pub use codes::{ImageType, OpenMultiStatus, PartitionStatus, error_name};
pub use error::StreamingError;
pub use hello::{HelloOptions, HelloResponse};

#[cfg(test)]
mod client_tests;
