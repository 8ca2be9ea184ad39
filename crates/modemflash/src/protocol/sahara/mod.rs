//! Sahara, the boot-ROM (PBL/SBL) image-transfer protocol of EDL mode 05C6:9008
//! (`docs/facts/sahara.md`–docs/facts/sahara.md; `docs/facts/sahara.md`; `docs/facts/sahara.md` item 2).
//! Raw USB bulk, no HDLC: every packet is `cmd LE32, length LE32, body`.
//!
//! - [`codec`]: every packet, both directions.
//! - [`framer`]: [`Framer`] reassembles packets from reads of any size (bounded by
//!   [`codec::MAX_PACKET_LEN`]).
//! - [`codes`]: command IDs, modes, status codes (all named), EXECUTE commands.
//! - [`machine`]: the pure host state machine for image upload.
//! - [`identity`]: decoding command-mode EXECUTE answers.
//! - [`client`]: [`SaharaClient`], the blocking host.

pub mod client;
pub mod codec;
pub mod codes;
pub mod error;
pub mod framer;
pub mod identity;
pub mod machine;

pub use client::{COMMAND_TIMEOUT, HELLO_TIMEOUT, SaharaClient, SaharaTimeouts, UploadReport};
pub use codec::{Hello, HelloResp, Packet};
pub use codes::{Mode, status_name};
pub use error::SaharaError;
pub use framer::{Framer, decode};
pub use identity::{HwId, Identity};
pub use machine::{Action, DoneStatus, PendingPolicy, ReadRequest, UploadConfig, UploadMachine};

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod machine_tests;
