//! Thin blocking DIAG host driver over an [`HdlcLink`].

use std::time::Duration;

use crate::time::Due;

use super::DiagError;
use super::codec::{
    DiagReply, DiagRequest, ExtBuildId, RejectKind, SUBSYS_EDL_CMD, SUBSYS_EDL_ID, encode_request,
    parse_reply,
};
use crate::protocol::hdlc::HdlcLink;
use crate::transport::{Transport, TransportError};

/// Time allowed for a DIAG reply: 5 s, QFlash's `receive_packet` wall-clock limit
/// (`docs/facts/quectel.md`) [confirmed].
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Input is drained until the line stays quiet this long. [inferred] QFirehose drains
/// before the EDL command (`docs/facts/quectel.md`) but its read timeout is not recorded.
pub const DRAIN_QUIET: Duration = Duration::from_millis(50);
/// Upper bound on one drain, so a chatty port cannot hold the caller. [inferred] inferred.
pub const DRAIN_MAX: Duration = Duration::from_secs(1);

/// The request a device sees for [`DiagClient::probe_bad_command`]: 0x06, a DMSS NOP, which
/// the normal-mode DIAG task answers `13 06` (`docs/facts/dmss.md`) [confirmed].
const PROBE_COMMAND: [u8; 1] = [0x06];

/// How a mode switch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchOutcome {
    /// The device echoed the command; it re-enumerates next.
    Echoed,
    /// The port went away before an echo arrived. [inferred] treated as success, since the
    /// device drops off the bus to re-enumerate.
    Disconnected,
}

/// A DIAG host over any transport.
#[derive(Debug)]
pub struct DiagClient<T> {
    link: HdlcLink<T>,
    leading_flag: bool,
    timeout: Duration,
}

impl<T: Transport> DiagClient<T> {
    /// A client that sends without a leading flag, as DIAG hosts do (`docs/facts/hdlc-diag.md`).
    pub fn new(transport: T) -> Self {
        Self::from_link(HdlcLink::new(transport))
    }

    /// A client over an existing HDLC link.
    pub fn from_link(link: HdlcLink<T>) -> Self {
        Self { link, leading_flag: false, timeout: REPLY_TIMEOUT }
    }

    /// Send a leading `0x7E` before each request (QFirehose does for 0x7C; both work).
    pub fn set_leading_flag(&mut self, on: bool) {
        self.leading_flag = on;
    }

    /// Time allowed for each reply.
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The HDLC link underneath.
    pub fn link_mut(&mut self) -> &mut HdlcLink<T> {
        &mut self.link
    }

    /// Give the transport back.
    pub fn into_inner(self) -> T {
        self.link.into_inner()
    }

    /// Throw away buffered frames and whatever arrives until the line is quiet for
    /// [`DRAIN_QUIET`] (at most [`DRAIN_MAX`]).
    pub fn drain(&mut self) -> Result<(), DiagError> {
        self.link.clear();
        let until = Due::after(self.link.clock(), DRAIN_MAX);
        let mut buf = [0u8; 512];
        while !until.passed() {
            match self.link.transport_mut().recv(&mut buf, DRAIN_QUIET) {
                Ok(_) => {}
                Err(TransportError::Timeout(_)) => break,
                Err(e) => return Err(e.into()),
            }
        }
        self.link.clear();
        Ok(())
    }

    /// Send `request` and return the first well-formed reply that answers it: one with the
    /// same command code, or a rejection echoing it. Corrupt frames and replies to other
    /// commands are skipped until the timeout.
    pub fn request(&mut self, request: &[u8], command: &'static str) -> Result<DiagReply, DiagError> {
        let code = *request.first().ok_or(DiagError::Empty)?;
        self.link.send(request, self.leading_flag)?;
        let due = Due::after(self.link.clock(), self.timeout);
        let mut last_skipped = None;
        loop {
            let left = due.left();
            let frame = match self.link.recv_any(left) {
                Err(TransportError::Timeout(_)) => {
                    return Err(DiagError::NoReply {
                        command,
                        expected: "a reply",
                        timeout: self.timeout,
                        last_skipped,
                    });
                }
                Err(e) => return Err(e.into()),
                Ok(Err(_corrupt)) => continue,
                Ok(Ok(frame)) => frame,
            };
            let ours = match frame.as_slice() {
                [first, ..] if *first == code => true,
                [first, echo @ ..] => {
                    RejectKind::from_code(*first).is_some() && echo.first().is_none_or(|&e| e == code)
                }
                [] => false,
            };
            if !ours {
                last_skipped = Some(frame);
                continue;
            }
            return match parse_reply(&frame) {
                Ok(DiagReply::Rejected { kind, request }) => {
                    Err(DiagError::Rejected { command, kind, request })
                }
                Ok(reply) => Ok(reply),
                Err(e) => Err(e),
            };
        }
    }

    /// EXT_BUILD_ID (0x7C): hardware ids and the firmware revision.
    pub fn ext_build_id(&mut self) -> Result<ExtBuildId, DiagError> {
        match self.request(&encode_request(&DiagRequest::ExtBuildId), "EXT_BUILD_ID")? {
            DiagReply::ExtBuildId(b) => Ok(b),
            other => Err(unexpected("EXT_BUILD_ID", "an EXT_BUILD_ID reply", &other)),
        }
    }

    /// DLOAD (0x3A): ask a running MDM9615 application to reboot into DMSS download mode.
    pub fn switch_to_dload(&mut self) -> Result<SwitchOutcome, DiagError> {
        self.switch(&encode_request(&DiagRequest::Dload), "DLOAD", |r| matches!(r, DiagReply::Dload))
    }

    /// `4B 65 01 00`: ask a running MDM9x07 application to reboot into EDL (Sahara, 05c6:9008).
    /// Input is drained first, as QFirehose does (`docs/facts/quectel.md`).
    pub fn switch_to_edl(&mut self) -> Result<SwitchOutcome, DiagError> {
        self.drain()?;
        self.switch(&encode_request(&DiagRequest::Edl), "EDL switch", |r| {
            matches!(r, DiagReply::Subsys { id: SUBSYS_EDL_ID, cmd: SUBSYS_EDL_CMD, .. })
        })
    }

    fn switch(
        &mut self,
        request: &[u8],
        command: &'static str,
        is_echo: impl Fn(&DiagReply) -> bool,
    ) -> Result<SwitchOutcome, DiagError> {
        match self.request(request, command) {
            Ok(reply) if is_echo(&reply) => Ok(SwitchOutcome::Echoed),
            Ok(other) => Err(unexpected(command, "the echo of the command", &other)),
            Err(DiagError::Link(crate::protocol::hdlc::LinkError::Transport(
                TransportError::Disconnected,
            ))) => Ok(SwitchOutcome::Disconnected),
            Err(e) => Err(e),
        }
    }

    /// Send 0x06 (a DMSS NOP) and expect the normal-mode rejection `13 06`: proves the
    /// application's DIAG task is listening.
    pub fn probe_bad_command(&mut self) -> Result<(), DiagError> {
        match self.request(&PROBE_COMMAND, "bad-command probe (0x06)") {
            Err(DiagError::Rejected { kind: RejectKind::BadCommand, .. }) => Ok(()),
            Err(e) => Err(e),
            Ok(other) => Err(unexpected("bad-command probe (0x06)", "13 06", &other)),
        }
    }
}

fn unexpected(command: &'static str, expected: &'static str, got: &DiagReply) -> DiagError {
    DiagError::Unexpected { command, expected, got: super::codec::encode_reply(got) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::diag::codec::{encode_reply, parse_request, reject};
    use crate::protocol::hdlc::{Decoder, encode};
    use crate::transport::memory::{MemoryTransport, stream_pair};
    use std::thread;

    fn build_id() -> ExtBuildId {
        ExtBuildId {
            version: 1,
            reserved: [0, 0],
            msm_hw_version: 0x0008_10E1,
            mobile_model: 0,
            revision: "EC20AQAR02A03E2G".into(),
            extra: vec![],
        }
    }

    /// A normal-mode DIAG task: answers with no leading flag, rejects what it does not know.
    /// `wire` sees each raw request so tests can check framing.
    fn device(
        mut dev: MemoryTransport,
        answer: impl Fn(&DiagRequest, &[u8]) -> Option<Vec<u8>> + Send + 'static,
    ) -> thread::JoinHandle<Vec<Vec<u8>>> {
        thread::spawn(move || {
            let mut raw_seen = Vec::new();
            let mut dec = Decoder::default();
            let mut buf = [0u8; 512];
            while let Ok(n) = dev.recv(&mut buf, Duration::from_secs(5)) {
                raw_seen.push(buf[..n].to_vec());
                for frame in dec.feed_collect(&buf[..n]) {
                    let payload = frame.unwrap();
                    let req = parse_request(&payload).unwrap();
                    let reply = answer(&req, &payload).unwrap_or_else(|| match req {
                        DiagRequest::ExtBuildId => encode_reply(&DiagReply::ExtBuildId(build_id())),
                        DiagRequest::Dload => encode_reply(&DiagReply::Dload),
                        DiagRequest::Edl => payload.clone(),
                        _ => reject(RejectKind::BadCommand, &payload),
                    });
                    if reply.is_empty() {
                        return raw_seen;
                    }
                    if dev.send(&encode(&reply, false)).is_err() {
                        return raw_seen;
                    }
                }
            }
            raw_seen
        })
    }

    #[test]
    fn build_id_switches_and_probe() {
        let (host, dev) = stream_pair("diag");
        let dev = device(dev, |_, _| None);
        let mut c = DiagClient::new(host);
        assert_eq!(c.ext_build_id().unwrap(), build_id());
        c.probe_bad_command().unwrap();
        assert_eq!(c.switch_to_edl().unwrap(), SwitchOutcome::Echoed);
        assert_eq!(c.switch_to_dload().unwrap(), SwitchOutcome::Echoed);
        c.set_leading_flag(true);
        c.ext_build_id().unwrap();
        drop(c);
        let raw = dev.join().unwrap();
        assert_eq!(raw[0], vec![0x7c, 0x93, 0x49, 0x7e], "DIAG goes out without a leading flag");
        assert_eq!(raw[1], vec![0x06, 0x4e, 0x95, 0x7e]);
        assert_eq!(raw[2], vec![0x4b, 0x65, 0x01, 0x00, 0x54, 0x0f, 0x7e]);
        assert_eq!(raw[3], vec![0x3a, 0xa1, 0x6e, 0x7e]);
        assert_eq!(raw[4], vec![0x7e, 0x7c, 0x93, 0x49, 0x7e]);
    }

    #[test]
    fn rejection_is_a_typed_error() {
        let (host, dev) = stream_pair("diag");
        let _dev = device(dev, |req, p| {
            matches!(req, DiagRequest::ExtBuildId).then(|| reject(RejectKind::BadMode, p))
        });
        let mut c = DiagClient::new(host);
        let err = c.ext_build_id().unwrap_err();
        assert!(
            matches!(&err, DiagError::Rejected { kind: RejectKind::BadMode, request, .. } if request == &[0x7c]),
            "{err:?}"
        );
        assert!(err.to_string().contains("bad mode"));
    }

    #[test]
    fn unrelated_and_corrupt_frames_are_skipped() {
        let (host, dev) = stream_pair("diag");
        let mut dev = dev;
        let h = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let _ = dev.recv(&mut buf, Duration::from_secs(1)).unwrap();
            dev.send(&[0x11, 0x22, 0x7e]).unwrap(); // garbage: bad CRC
            dev.send(&encode(&[0x60, 0x01], false)).unwrap(); // an event report
            dev.send(&encode(&reject(RejectKind::BadCommand, &[0x06]), false)).unwrap(); // stale rejection
            dev.send(&encode(&encode_reply(&DiagReply::ExtBuildId(build_id())), false)).unwrap();
            dev
        });
        let mut c = DiagClient::new(host);
        assert_eq!(c.ext_build_id().unwrap().revision, "EC20AQAR02A03E2G");
        drop(h.join().unwrap());
    }

    #[test]
    fn timeout_names_the_command_and_last_frame() {
        let (host, mut dev) = stream_pair("diag");
        let h = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let _ = dev.recv(&mut buf, Duration::from_secs(1)).unwrap();
            dev.send(&encode(&[0x60, 0x01], false)).unwrap();
            dev
        });
        let mut c = DiagClient::new(host);
        c.set_reply_timeout(Duration::from_millis(50));
        let err = c.ext_build_id().unwrap_err();
        assert!(
            matches!(&err, DiagError::NoReply { last_skipped: Some(f), .. } if f == &[0x60, 0x01]),
            "{err:?}"
        );
        assert!(err.to_string().contains("EXT_BUILD_ID"));
        drop(h.join().unwrap());
    }

    #[test]
    fn switch_accepts_hangup_and_refuses_wrong_echo() {
        let (host, dev) = stream_pair("diag");
        // An empty reply makes the device thread hang up instead of answering.
        let _dev = device(dev, |req, _| matches!(req, DiagRequest::Dload).then(Vec::new));
        let mut c = DiagClient::new(host);
        assert_eq!(c.switch_to_dload().unwrap(), SwitchOutcome::Disconnected);

        let (host, dev) = stream_pair("diag");
        let _dev =
            device(dev, |req, _| matches!(req, DiagRequest::Edl).then(|| vec![0x4b, 0x65, 0x02, 0x00]));
        let mut c = DiagClient::new(host);
        assert!(matches!(c.switch_to_edl(), Err(DiagError::Unexpected { .. })));
    }

    #[test]
    fn probe_in_download_mode_fails() {
        let (host, dev) = stream_pair("diag");
        // A DMSS target ACKs the NOP: not a bad-command echo, so it is skipped and times out.
        let _dev = device(dev, |_, _| Some(vec![0x02]));
        let mut c = DiagClient::new(host);
        c.set_reply_timeout(Duration::from_millis(50));
        assert!(matches!(c.probe_bad_command(), Err(DiagError::NoReply { .. })));
    }
}
