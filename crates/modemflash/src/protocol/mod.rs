//! Wire protocols, one folder each: a pure `codec` (bytes in, bytes out; no I/O, no clock)
//! and, where the host drives the protocol, a thin blocking `client` over a
//! [`Transport`](crate::transport::Transport).
//!
//! Facts come from `docs/facts/` (one file per protocol, each fact with its source and tag).

pub mod at;
pub mod diag;
pub mod dmss;
pub mod edl;
pub mod fastboot;
pub mod firehose;
pub mod hdlc;
pub(crate) mod millis;
pub mod sahara;
pub mod streaming;

#[cfg(test)]
mod clock_tests;
