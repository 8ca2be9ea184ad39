//! What answers on a 9x07 EDL interface: a boot ROM speaking Sahara, or a Firehose
//! programmer that is already running (a rerun after an interrupted update). The probe
//! listens before it speaks: a boot ROM says HELLO as soon as the interface is opened; a
//! running programmer says nothing until asked, so silence is answered with a `<nop>`
//! (a boot ROM answers garbage with a new HELLO or not at all). `docs/facts/sahara.md`,
//! `docs/facts/firehose.md`.
//!
//! The times are a policy ([`EdlProbe`]) carried by the plan's Sahara step, because they
//! are [inferred].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::protocol::firehose::{StartupDrain, build_nop};
use crate::protocol::sahara::{Packet, decode};
use crate::transport::{Transport, TransportError};

/// How long the EDL interface may stay silent before the host asks whether a Firehose
/// programmer (which never says HELLO) is already running there with a `<nop>`.
/// [inferred] a boot ROM sends HELLO as soon as the interface is opened; the value is
/// below QFirehose's 5 s HELLO wait so a running programmer is found quickly.
pub const PROBE_LISTEN: Duration = Duration::from_secs(2);
/// How long to wait for the answer to that `<nop>`.
pub const PROBE_REPLY: Duration = Duration::from_secs(3);
/// Bytes read while probing before giving up on recognising them.
pub const PROBE_LIMIT: usize = 64 * 1024;

/// How the EDL interface is probed, whether a programmer found running is used, and how a
/// programmer's start-up logs are drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdlProbe {
    /// Silence before the `<nop>` is sent.
    #[serde(with = "crate::protocol::millis")]
    pub listen: Duration,
    /// Wait for the answer to the `<nop>`.
    #[serde(with = "crate::protocol::millis")]
    pub reply: Duration,
    /// Bytes read before giving up on recognising them.
    pub limit: usize,
    /// A Firehose programmer found running is used instead of uploading one again (the
    /// programmer keeps running across connections, `docs/facts/firehose.md`) [inferred].
    pub reuse_running: bool,
    /// The start-up log drain after the programmer is uploaded (QFirehose's times, ended
    /// sooner by the function list [inferred], `firehose::startup`).
    pub startup: StartupDrain,
}

impl Default for EdlProbe {
    fn default() -> Self {
        EdlProbe {
            listen: PROBE_LISTEN,
            reply: PROBE_REPLY,
            limit: PROBE_LIMIT,
            reuse_running: true,
            startup: StartupDrain::default(),
        }
    }
}

/// What answers on the EDL interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A boot ROM: its first bytes (a HELLO), or nothing yet.
    Sahara(Vec<u8>),
    /// A Firehose programmer: bytes after its answer to our `<nop>` (or its logs).
    Firehose(Vec<u8>),
    /// Nothing at all: no HELLO, and no answer to the `<nop>`. A boot ROM whose HELLO an
    /// earlier host read (it waits for HELLO_RESP), a ROM in a Sahara error state (edl: "please
    /// reboot the device"), or a programmer an interrupted run left in the data phase of a
    /// `<program>`, taking every byte as sector data [inferred: the Firehose data phase counts
    /// bytes, `docs/facts/firehose.md`]. The Sahara client still gets its chance.
    Silent,
}

impl Found {
    /// Whether a Firehose programmer answered.
    #[must_use]
    pub fn is_firehose(&self) -> bool {
        matches!(self, Found::Firehose(_))
    }
}

fn is_hello(bytes: &[u8]) -> bool {
    matches!(decode(bytes), Some((Ok(Packet::Hello(_)), _)))
}

/// Where the bytes after the first `<response …/>` document end, if one is complete.
/// Works on the raw bytes: an offset found in a lossy UTF-8 copy would not be an offset
/// into `bytes` once a non-UTF-8 byte came before the reply.
fn after_response(bytes: &[u8]) -> Option<usize> {
    const CLOSE: &[u8] = b"</data>";
    let at = find(bytes, b"<response")?;
    let end = find(bytes.get(at..)?, CLOSE)?;
    at.checked_add(end)?.checked_add(CLOSE.len()).filter(|&e| e <= bytes.len())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read what the EDL interface says first, and send a `<nop>` when it says nothing.
pub fn probe<T: Transport + ?Sized>(link: &mut T, policy: &EdlProbe) -> Result<Found, TransportError> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        match link.recv(&mut buf, policy.listen) {
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(TransportError::Timeout(_)) => break,
            Err(e) => return Err(e),
        }
        if is_hello(&got) || got.len() >= policy.limit {
            return Ok(Found::Sahara(got));
        }
        if got.starts_with(b"<?xml") && got.windows(7).any(|w| w == b"</data>") {
            // Logs of a programmer that is starting or running.
            return Ok(Found::Firehose(got));
        }
    }
    if !got.is_empty() {
        return Ok(Found::Sahara(got));
    }
    link.send(&build_nop())?;
    loop {
        match link.recv(&mut buf, policy.reply) {
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(TransportError::Timeout(_)) if got.is_empty() => return Ok(Found::Silent),
            Err(TransportError::Timeout(_)) => return Ok(Found::Sahara(got)),
            Err(e) => return Err(e),
        }
        if is_hello(&got) || got.len() >= policy.limit {
            return Ok(Found::Sahara(got));
        }
        if let Some(end) = after_response(&got) {
            return Ok(Found::Firehose(got.get(end..).unwrap_or_default().to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::memory::stream_pair;

    #[test]
    fn a_reply_after_non_utf8_bytes_is_split_on_the_raw_offset() {
        // Invalid UTF-8 before the reply: a lossy copy is longer than the bytes.
        let mut bytes = vec![0xff, 0xfe, 0xc3];
        bytes.extend_from_slice(b"<?xml version=\"1.0\" ?><data><response value=\"ACK\"/></data>");
        bytes.extend_from_slice(b"tail");
        let end = after_response(&bytes).unwrap();
        assert_eq!(&bytes[end..], b"tail");
        assert_eq!(after_response(b"\xff\xff<response"), None);
        assert_eq!(after_response(&[0xff; 64]), None);
    }

    #[test]
    fn a_running_programmer_answers_the_probe() {
        let (mut host, mut dev) = stream_pair("edl");
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let n = dev.recv(&mut buf, Duration::from_secs(5)).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).contains("<nop"));
            let none: &[(&str, &str)] = &[];
            let mut reply = crate::protocol::firehose::encode_response(true, None, none).unwrap();
            reply.extend_from_slice(&crate::protocol::firehose::encode_log("after"));
            dev.send(&reply).unwrap();
            dev
        });
        match probe(&mut host, &EdlProbe::default()) {
            Ok(Found::Firehose(rest)) => assert!(String::from_utf8_lossy(&rest).contains("after")),
            _ => panic!("expected a running programmer"),
        }
        t.join().unwrap();
    }

    #[test]
    fn a_boot_rom_hello_is_kept_for_sahara() {
        let (mut host, mut dev) = stream_pair("edl");
        let hello = Packet::Hello(crate::protocol::sahara::Hello {
            version: 2,
            version_supported: 1,
            max_cmd_len: 0x400,
            mode: 0,
            reserved: [0; 6],
            len: crate::protocol::sahara::codec::HELLO_LEN,
        })
        .encode();
        dev.send(&hello).unwrap();
        match probe(&mut host, &EdlProbe::default()) {
            Ok(Found::Sahara(bytes)) => assert_eq!(bytes, hello),
            _ => panic!("expected Sahara"),
        }
    }

    #[test]
    fn an_interface_that_answers_nothing_is_silent() {
        let (mut host, mut dev) = stream_pair("edl");
        let policy = EdlProbe {
            listen: Duration::from_millis(50),
            reply: Duration::from_millis(50),
            ..EdlProbe::default()
        };
        assert_eq!(probe(&mut host, &policy).unwrap(), Found::Silent);
        // The <nop> was written (a programmer in the data phase takes it as sector data).
        let mut b = [0u8; 256];
        let n = dev.recv(&mut b, Duration::from_secs(1)).unwrap();
        assert!(String::from_utf8_lossy(&b[..n]).contains("<nop"));
    }
}
