//! HDLC-like async framing shared by DIAG, DMSS DLOAD and streaming DLOAD
//! (`docs/facts/hdlc-diag.md`; all facts there tagged [confirmed]/[confirmed]).
//!
//! - A frame is an optional leading `0x7E`, then the escaped payload and CRC, then `0x7E`.
//! - `0x7E` and `0x7D` are escaped as `0x7D, byte ^ 0x20`; nothing else is.
//! - The CRC is CRC-16/X-25 over the unescaped payload, appended low byte first.

pub mod codec;
pub mod link;

pub use codec::{DEFAULT_MAX_FRAME, Decoder, HdlcError, crc16, encode, encode_into};
pub use link::{HdlcLink, LinkError};
