//! Firehose: the XML programmer protocol spoken after Sahara loads
//! `prog_nand_firehose_9x07.mbn` (`docs/facts/firehose.md`–5.5, `docs/facts/firehose.md`–4.6 and docs/facts/hdlc-diag.md).
//!
//! XML documents over a raw bulk pipe, no HDLC. Every document is
//! `<?xml version="1.0" encoding="UTF-8" ?>\n<data>\n<ELEMENT …/>\n</data>`; the target
//! answers each command with any number of `<log>` documents (before or after) and one
//! `<response value="ACK|NAK" …/>`. After `rawmode="true"` raw sector data follows.
//!
//! - [`xml`]: the flat-element reader/writer, escaping.
//! - [`codec`]: host command builders, the device-side command parser and response/log
//!   encoders, configure negotiation.
//! - [`scanner`]: streaming split of received bytes into documents and raw data.
//! - [`data`]: the program data phase (sector-padded chunks from a reader).
//! - [`client`]: the blocking host driver.
//! - [`storage`]: the `getstorageinfo` report (`block_size` in bytes).

pub mod client;
pub mod codec;
pub mod command;
pub mod data;
pub mod scanner;
pub mod startup;
pub mod storage;
pub mod xml;

use std::time::Duration;

use crate::transport::TransportError;

pub use client::{FirehoseClient, FirehoseTimeouts, Response};
pub use codec::{
    Command, CommandKind, ConfigureOptions, ConfigureStep, EraseSpec, Negotiated, PatchSpec, ProgramSpec,
    build_configure, build_element, build_erase, build_getstorageinfo, build_nop, build_patch, build_power,
    build_program, build_read, configure_step, encode_log, encode_response, parse_command,
};
pub use data::{DataChunker, sectors_for};
pub use scanner::{Event, Scanner};
pub use startup::StartupDrain;

/// Everything that can go wrong speaking Firehose.
#[derive(Debug, thiserror::Error)]
pub enum FirehoseError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The target answered `NAK`. `device_log` holds the `<log>` lines that arrived for
    /// this command (before the NAK and shortly after it).
    #[error("firehose target refused {cmd}: expected ACK, got NAK{}", log_suffix(.device_log))]
    Nak { cmd: String, device_log: Vec<String> },
    /// No response within the timeout.
    #[error("no firehose response to {cmd} within {timeout:?}{}", log_suffix(.device_log))]
    NoResponse { cmd: String, timeout: Duration, device_log: Vec<String> },
    /// A response that does not fit the step (e.g. ACK without `rawmode="true"` to a
    /// `<program>`).
    #[error("unexpected firehose response to {cmd}: expected {expected}, got {got}")]
    UnexpectedResponse { cmd: String, expected: &'static str, got: String },
    /// More than the scanner's capacity arrived without a `</data>`.
    #[error("firehose input: expected `</data>` within {limit} bytes, none came")]
    DocumentTooLong { limit: usize },
    /// Malformed document.
    #[error("malformed firehose XML: expected {expected}, found {found:?}")]
    BadXml { expected: String, found: String },
    /// An element or attribute name that cannot be written as XML.
    #[error("invalid XML {what} name {name:?}: expected a letter or `_` then letters, digits, `_-.:`")]
    InvalidName { what: &'static str, name: String },
    #[error("firehose <{element}> lacks the required attribute {attr}")]
    MissingAttribute { element: String, attr: String },
    #[error("firehose attribute {attr}={value:?}: expected {expected}")]
    BadAttribute { attr: String, value: String, expected: &'static str },
    /// Sector size / payload limit that cannot drive a data phase.
    #[error("cannot send sectors of {sector_size} bytes with a {max_payload}-byte payload limit: {why}")]
    BadGeometry { sector_size: u32, max_payload: u64, why: &'static str },
    /// The image ended before its declared length.
    #[error("image data ended early: expected {expected} bytes, got {got}")]
    ShortInput { expected: u64, got: u64 },
    /// Reading the image or writing read-back data failed.
    #[error("image I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn log_suffix(log: &[String]) -> String {
    if log.is_empty() { String::new() } else { format!(" (device log: {})", log.join(" | ")) }
}

impl FirehoseError {
    /// The device log lines carried by a NAK or a timeout, if any.
    pub fn device_log(&self) -> &[String] {
        match self {
            Self::Nak { device_log, .. } | Self::NoResponse { device_log, .. } => device_log,
            _ => &[],
        }
    }
}
