//! Telling the mode behind a tty by what answers, listening before speaking.
//!
//! A 9x07 boot ROM in EDL sends its Sahara HELLO as soon as the port is opened and expects
//! Sahara packets only; edl users report Sahara error states after stray bytes that only a
//! power cycle clears (docs/facts/sahara.md; bkerler/edl #335, #398, #752). A running
//! Firehose programmer sends its `<log>` XML unprompted too. So the port is read first
//! for [`LISTEN_BEFORE_PROBE`]:
//!
//! - a HELLO (or END_IMAGE_TX) → EDL; `<?xml …</data>` → EDL with a programmer running;
//! - other bytes → unknown, and nothing is written;
//! - silence → only then Quectel's DMSS NOP probe (docs/facts/dmss.md: ACK → DLOAD,
//!   `13 06` → normal DIAG, `7E 0E` → streaming programmer).
//!
//! What was heard is returned with the link, so a HELLO read here reaches the Sahara
//! client instead of being lost (the ROM does not repeat it by itself).

use std::time::{Duration, Instant};

use crate::module::DeviceMode;
use crate::protocol::dmss::{DmssClient, ProbedMode, classify_probe};
use crate::transport::{Transport, TransportError};

/// How long a port is read before anything is written to it. [I] inferred: a boot ROM
/// sends HELLO within milliseconds of the open (fwupd and QFirehose read it at once); the
/// value leaves a loaded host room and stays well under QFlash's 2 s probe read.
pub const LISTEN_BEFORE_PROBE: Duration = Duration::from_millis(800);
/// Most bytes kept while listening.
const LISTEN_LIMIT: usize = 64 * 1024;

/// Timing of [`listen_then_probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// Silence needed before the DMSS probe is written.
    pub listen: Duration,
    /// How long the DMSS probe collects its answer.
    pub probe: Duration,
}

impl ListenOptions {
    pub fn new(probe: Duration) -> Self {
        ListenOptions { listen: LISTEN_BEFORE_PROBE, probe }
    }
}

/// What a port said.
#[derive(Debug)]
pub struct Heard {
    /// The mode, when what answered was recognised.
    pub mode: Option<DeviceMode>,
    /// Bytes that came unprompted (a HELLO, a programmer's logs), for whoever speaks next.
    pub unprompted: Vec<u8>,
    /// Whether the DMSS probe was written.
    pub probed: bool,
}

/// A verdict on bytes that came unprompted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not decided yet: read on.
    Undecided,
    /// Something we know (EDL), or something we do not (`None`) and leave alone.
    Decided(Option<DeviceMode>),
}

/// Judge bytes that came unprompted.
fn judge_unprompted(raw: &[u8]) -> Verdict {
    if raw.starts_with(b"<?xml") || raw.starts_with(b"\n<?xml") {
        return if raw.windows(7).any(|w| w == b"</data>") {
            Verdict::Decided(Some(DeviceMode::Edl))
        } else {
            Verdict::Undecided
        };
    }
    match classify_probe(raw) {
        None => Verdict::Undecided,
        Some(ProbedMode::SaharaHello | ProbedMode::SaharaEndImageTx) => {
            Verdict::Decided(Some(DeviceMode::Edl))
        }
        // Anything else said unprompted is not a DMSS/DIAG answer: leave the port alone.
        Some(_) => Verdict::Decided(None),
    }
}

fn probed_mode(p: &ProbedMode) -> Option<DeviceMode> {
    match p {
        ProbedMode::Dload => Some(DeviceMode::Dload),
        ProbedMode::NormalDiag => Some(DeviceMode::Normal),
        ProbedMode::StreamingProgrammer => Some(DeviceMode::Streaming),
        ProbedMode::SaharaHello | ProbedMode::SaharaEndImageTx => Some(DeviceMode::Edl),
        ProbedMode::Unknown(_) => None,
    }
}

/// Listen on `link` for `opts.listen`; write the DMSS probe only if it stayed silent.
/// Gives the link back with what was heard.
pub fn listen_then_probe(
    mut link: Box<dyn Transport>,
    opts: ListenOptions,
) -> Result<(Heard, Box<dyn Transport>), TransportError> {
    let deadline = Instant::now() + opts.listen;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || got.len() >= LISTEN_LIMIT {
            break;
        }
        match link.recv(&mut buf, left) {
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(TransportError::Timeout(_)) => break,
            Err(e) => return Err(e),
        }
        if let Verdict::Decided(mode) = judge_unprompted(&got) {
            return Ok((Heard { mode, unprompted: got, probed: false }, link));
        }
    }
    if !got.is_empty() {
        // Something spoke but said nothing we know (or not all of it yet): never answer it.
        let mode = match judge_unprompted(&got) {
            Verdict::Decided(mode) => mode,
            Verdict::Undecided => None,
        };
        return Ok((Heard { mode, unprompted: got, probed: false }, link));
    }
    let mut dmss = DmssClient::new(link);
    let verdict = match dmss.probe(opts.probe) {
        Ok(v) => v,
        Err(crate::protocol::dmss::DmssError::Link(crate::protocol::hdlc::LinkError::Transport(t))) => {
            return Err(t);
        }
        Err(other) => return Err(TransportError::Io(std::io::Error::other(other.to_string()))),
    };
    Ok((Heard { mode: probed_mode(&verdict), unprompted: Vec::new(), probed: true }, dmss.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::dmss::PROBE_NOP;
    use crate::transport::memory::stream_pair;

    const OPTS: ListenOptions =
        ListenOptions { listen: Duration::from_millis(300), probe: Duration::from_secs(2) };

    fn hello() -> Vec<u8> {
        let mut h = vec![0u8; 48];
        h[..4].copy_from_slice(&1u32.to_le_bytes());
        h[4..8].copy_from_slice(&48u32.to_le_bytes());
        h
    }

    #[test]
    fn a_hello_is_heard_and_nothing_is_written() {
        let (host, mut dev) = stream_pair("tty");
        dev.send(&hello()).unwrap();
        let (heard, _link) = listen_then_probe(Box::new(host), OPTS).unwrap();
        assert_eq!((heard.mode, heard.probed), (Some(DeviceMode::Edl), false));
        assert_eq!(heard.unprompted, hello(), "kept for the Sahara client");
        let mut b = [0u8; 8];
        assert!(matches!(dev.recv(&mut b, Duration::from_millis(200)), Err(TransportError::Timeout(_))));
    }

    #[test]
    fn a_running_programmer_is_heard_by_its_logs() {
        let (host, mut dev) = stream_pair("tty");
        dev.send(b"<?xml version=\"1.0\" ?><data><log value=\"hi\"/></data>").unwrap();
        let (heard, _link) = listen_then_probe(Box::new(host), OPTS).unwrap();
        assert_eq!((heard.mode, heard.probed), (Some(DeviceMode::Edl), false));
    }

    #[test]
    fn unknown_chatter_is_left_alone() {
        let (host, mut dev) = stream_pair("tty");
        dev.send(b"+QIND: SMS DONE\r\n").unwrap();
        let (heard, _link) = listen_then_probe(Box::new(host), OPTS).unwrap();
        assert_eq!((heard.mode, heard.probed), (None, false));
        let mut b = [0u8; 8];
        assert!(matches!(dev.recv(&mut b, Duration::from_millis(200)), Err(TransportError::Timeout(_))));
    }

    #[test]
    fn silence_then_the_dmss_probe() {
        let (host, mut dev) = stream_pair("tty");
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 16];
            let n = dev.recv(&mut b, Duration::from_secs(10)).unwrap();
            assert_eq!(&b[..n], &PROBE_NOP);
            dev.send(&[0x7E, 0x02, 0x6A, 0xD3, 0x7E]).unwrap();
            dev
        });
        let (heard, _link) = listen_then_probe(Box::new(host), OPTS).unwrap();
        assert_eq!((heard.mode, heard.probed), (Some(DeviceMode::Dload), true));
        drop(t.join().unwrap());
    }
}
