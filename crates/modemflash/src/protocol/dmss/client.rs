//! Thin blocking DMSS host driver over an [`HdlcLink`]. No policy: callers decide what to do
//! with each outcome (retry, reopen the port, fall back to another programmer).

use std::time::Duration;

use crate::time::Due;

use super::DmssError;
use super::codec::{
    CMD_SW_VERSION_RESP, DmssReply, DmssRequest, MAX_WRITE32_DATA, Params, encode_go, encode_request,
    encode_write32_into, parse_reply,
};
use super::probe::{PROBE_MAX_READ, PROBE_NOP, ProbedMode, classify_probe};
use crate::protocol::hdlc::{HdlcLink, LinkError};
use crate::transport::{Transport, TransportError};

/// Time allowed for one receive attempt: 2 s per reply (`docs/facts/dmss.md`, [confirmed]).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Receive attempts per command before giving up (QFlash: ≤5 per WRITE_32BIT packet and per
/// RESET ACK, `docs/facts/quectel.md`) [confirmed].
pub const RECV_ATTEMPTS: u32 = 5;
/// How long to wait for the ACK to GO when the caller asks to wait: 5 s (`docs/facts/dmss.md`,
/// [confirmed]; QFlash does not wait at all [confirmed]).
pub const GO_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the mode probe collects bytes: 2 s (QFlash `module_state` reads for 2 s per try,
/// `docs/facts/quectel.md`) [confirmed].
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What happened after GO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoOutcome {
    /// The caller did not ask to wait.
    NotAwaited,
    /// The target ACKed the jump.
    Acked,
    /// Nothing came within the wait; normal for targets that jump at once.
    NoReply,
    /// The port went away (the target re-enumerated after jumping).
    Disconnected,
    /// A well-formed frame that is neither ACK nor NAK (e.g. the programmer's first LOG).
    Other(Vec<u8>),
}

/// A DMSS host over any transport.
#[derive(Debug)]
pub struct DmssClient<T> {
    link: HdlcLink<T>,
    max_chunk: usize,
    reply_timeout: Duration,
    attempts: u32,
    tx: Vec<u8>,
}

impl<T: Transport> DmssClient<T> {
    /// A client over `transport`, with QFlash's 1017-byte write chunks.
    pub fn new(transport: T) -> Self {
        Self::from_link(HdlcLink::new(transport))
    }

    /// A client over an existing HDLC link.
    pub fn from_link(link: HdlcLink<T>) -> Self {
        Self {
            link,
            max_chunk: MAX_WRITE32_DATA,
            reply_timeout: REPLY_TIMEOUT,
            attempts: RECV_ATTEMPTS,
            tx: Vec::new(),
        }
    }

    /// The HDLC link underneath.
    pub fn link_mut(&mut self) -> &mut HdlcLink<T> {
        &mut self.link
    }

    /// Give the transport back.
    pub fn into_inner(self) -> T {
        self.link.into_inner()
    }

    /// Data bytes per WRITE_32BIT packet used by [`Self::upload`].
    pub fn max_chunk(&self) -> usize {
        self.max_chunk
    }

    /// Set the data bytes per WRITE_32BIT packet (clamped to 1..=65535).
    pub fn set_max_chunk(&mut self, bytes: usize) {
        self.max_chunk = bytes.clamp(1, usize::from(u16::MAX));
    }

    /// Set the time allowed per receive attempt and the number of attempts.
    pub fn set_reply_timeout(&mut self, per_attempt: Duration, attempts: u32) {
        self.reply_timeout = per_attempt;
        self.attempts = attempts.max(1);
    }

    fn send(&mut self, payload: &[u8]) -> Result<(), DmssError> {
        Ok(self.link.send(payload, true)?)
    }

    /// Wait for one reply, retrying the receive (never the send) on timeouts and corrupt
    /// frames. SW_VERSION_RESP frames are skipped while an ACK is awaited, as QFlash does.
    fn wait_reply(
        &mut self,
        command: &'static str,
        expected: &'static str,
        addr: Option<u32>,
    ) -> Result<(DmssReply, Vec<u8>), DmssError> {
        let mut last = LinkError::Transport(TransportError::Timeout(self.reply_timeout));
        for _ in 0..self.attempts {
            match self.link.recv_any(self.reply_timeout) {
                Err(TransportError::Timeout(d)) => last = LinkError::Transport(TransportError::Timeout(d)),
                Err(e) => return Err(e.into()),
                Ok(Err(hdlc)) => last = LinkError::Hdlc(hdlc),
                Ok(Ok(frame)) => {
                    if expected == "ACK" && frame.first() == Some(&CMD_SW_VERSION_RESP) {
                        continue;
                    }
                    return match parse_reply(&frame) {
                        Ok(reply) => Ok((reply, frame)),
                        Err(_) => Err(DmssError::Unexpected { command, expected, addr, got: frame }),
                    };
                }
            }
        }
        Err(DmssError::NoReply { command, expected, addr, attempts: self.attempts, last })
    }

    fn expect_ack(&mut self, command: &'static str, addr: Option<u32>) -> Result<(), DmssError> {
        match self.wait_reply(command, "ACK", addr)? {
            (DmssReply::Ack, _) => Ok(()),
            (DmssReply::Nak(reason), _) => Err(DmssError::Nak { command, addr, reason }),
            (_, got) => Err(DmssError::Unexpected { command, expected: "ACK", addr, got }),
        }
    }

    /// NOP → ACK: check the target is in DMSS download mode.
    pub fn nop(&mut self) -> Result<(), DmssError> {
        self.send(&encode_request(&DmssRequest::Nop)?)?;
        self.expect_ack("NOP", None)
    }

    /// PARAM_REQ → PARAM_RESP. A non-zero `max_write_size` lower than the current chunk size
    /// lowers it. [inferred] `max_write_size` counts WRITE_32BIT data bytes.
    pub fn params(&mut self) -> Result<Params, DmssError> {
        self.send(&encode_request(&DmssRequest::ParamReq)?)?;
        match self.wait_reply("PARAM_REQ", "PARAM_RESP", None)? {
            (DmssReply::Params(p), _) => {
                if p.max_write_size > 0 {
                    self.max_chunk = self.max_chunk.min(usize::from(p.max_write_size));
                }
                Ok(p)
            }
            (DmssReply::Nak(reason), _) => Err(DmssError::Nak { command: "PARAM_REQ", addr: None, reason }),
            (_, got) => {
                Err(DmssError::Unexpected { command: "PARAM_REQ", expected: "PARAM_RESP", addr: None, got })
            }
        }
    }

    /// SW_VERSION_REQ → SW_VERSION_RESP text.
    pub fn sw_version(&mut self) -> Result<String, DmssError> {
        self.send(&encode_request(&DmssRequest::SwVersionReq)?)?;
        match self.wait_reply("SW_VERSION_REQ", "SW_VERSION_RESP", None)? {
            (DmssReply::SwVersion(v), _) => Ok(v),
            (DmssReply::Nak(reason), _) => {
                Err(DmssError::Nak { command: "SW_VERSION_REQ", addr: None, reason })
            }
            (_, got) => Err(DmssError::Unexpected {
                command: "SW_VERSION_REQ",
                expected: "SW_VERSION_RESP",
                addr: None,
                got,
            }),
        }
    }

    /// One WRITE_32BIT packet of at most [`Self::max_chunk`] bytes, then its ACK.
    pub fn write32(&mut self, addr: u32, data: &[u8]) -> Result<(), DmssError> {
        if data.len() > self.max_chunk {
            return Err(DmssError::DataTooLarge { len: data.len(), max: self.max_chunk });
        }
        let mut tx = std::mem::take(&mut self.tx);
        tx.clear();
        let encoded = encode_write32_into(addr, data, &mut tx);
        let sent = encoded.and_then(|()| self.send(&tx));
        self.tx = tx;
        sent?;
        self.expect_ack("WRITE_32BIT", Some(addr))
    }

    /// Upload `segments` of `(load address, bytes)` as WRITE_32BIT packets of at most
    /// [`Self::max_chunk`] bytes, each ACKed before the next. Reports `(bytes done, total)`.
    pub fn upload(
        &mut self,
        segments: &[(u32, &[u8])],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), DmssError> {
        for &(addr, data) in segments {
            let end = u32::try_from(data.len()).ok().and_then(|len| addr.checked_add(len));
            if end.is_none() && !data.is_empty() {
                return Err(DmssError::AddressOverflow { addr, len: data.len() });
            }
        }
        let total: u64 = segments.iter().map(|(_, d)| d.len() as u64).sum();
        let mut done = 0u64;
        progress(done, total);
        for &(base, data) in segments {
            let mut addr = base;
            for chunk in data.chunks(self.max_chunk) {
                self.write32(addr, chunk)?;
                // Cannot overflow: checked above for the whole segment.
                addr = addr.wrapping_add(chunk.len() as u32);
                done += chunk.len() as u64;
                progress(done, total);
            }
        }
        Ok(())
    }

    /// GO to `addr`. With `wait = None` nothing is read (QFlash's behaviour). Otherwise the
    /// first frame within `wait` decides: ACK → [`GoOutcome::Acked`], NAK → error; a timeout
    /// or a vanished port are normal outcomes, not errors.
    pub fn go(&mut self, addr: u32, wait: Option<Duration>) -> Result<GoOutcome, DmssError> {
        self.send(&encode_go(addr))?;
        let Some(wait) = wait else { return Ok(GoOutcome::NotAwaited) };
        let due = Due::after(self.link.clock(), wait);
        loop {
            let left = due.left();
            match self.link.recv_any(left) {
                Err(TransportError::Timeout(_)) => return Ok(GoOutcome::NoReply),
                Err(TransportError::Disconnected) => return Ok(GoOutcome::Disconnected),
                Err(e) => return Err(e.into()),
                Ok(Err(_corrupt)) => {}
                Ok(Ok(frame)) => {
                    return match parse_reply(&frame) {
                        Ok(DmssReply::Ack) => Ok(GoOutcome::Acked),
                        Ok(DmssReply::Nak(reason)) => {
                            Err(DmssError::Nak { command: "GO", addr: Some(addr), reason })
                        }
                        _ => Ok(GoOutcome::Other(frame)),
                    };
                }
            }
        }
    }

    /// RESET → ACK.
    pub fn reset(&mut self) -> Result<(), DmssError> {
        self.send(&encode_request(&DmssRequest::Reset)?)?;
        self.expect_ack("RESET", None)
    }

    /// Quectel's mode probe: write the raw NOP `7E 06 4E 95 7E`, collect raw bytes for up to
    /// `timeout` (or until [`classify_probe`] decides, or 100 bytes), and classify them.
    pub fn probe(&mut self, timeout: Duration) -> Result<ProbedMode, DmssError> {
        self.link.clear();
        self.link.transport_mut().send(&PROBE_NOP)?;
        let due = Due::after(self.link.clock(), timeout);
        let mut raw = Vec::with_capacity(PROBE_MAX_READ);
        let mut buf = [0u8; PROBE_MAX_READ];
        let verdict = loop {
            if let Some(mode) = classify_probe(&raw) {
                break mode;
            }
            let room = PROBE_MAX_READ.saturating_sub(raw.len());
            let left = due.left();
            if room == 0 || left.is_zero() {
                break ProbedMode::Unknown(raw);
            }
            match self.link.transport_mut().recv(buf.get_mut(..room).unwrap_or_default(), left) {
                Ok(n) => raw.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(TransportError::Timeout(_)) => break ProbedMode::Unknown(raw),
                Err(e) => return Err(e.into()),
            }
        };
        self.link.clear();
        Ok(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::dmss::codec::{NakReason, parse_request};
    use crate::protocol::hdlc::{Decoder, encode};
    use crate::transport::memory::{MemoryTransport, stream_pair};
    use std::thread;
    use std::time::Instant;

    const T: Duration = Duration::from_millis(500);

    /// Play a DMSS target: decode each request, let `answer` choose the reply frames (raw wire
    /// bytes). Returns every request seen once the host hangs up.
    fn device(
        mut dev: MemoryTransport,
        mut answer: impl FnMut(&DmssRequest) -> Vec<Vec<u8>> + Send + 'static,
    ) -> thread::JoinHandle<Vec<DmssRequest>> {
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut dec = Decoder::default();
            let mut buf = [0u8; 2048];
            loop {
                let Ok(n) = dev.recv(&mut buf, Duration::from_secs(5)) else { return seen };
                for frame in dec.feed_collect(&buf[..n]) {
                    let req = parse_request(&frame.unwrap()).unwrap();
                    for wire in answer(&req) {
                        if dev.send(&wire).is_err() {
                            return seen;
                        }
                    }
                    seen.push(req);
                }
            }
        })
    }

    fn reply(r: &DmssReply) -> Vec<u8> {
        encode(&crate::protocol::dmss::codec::encode_reply(r), true)
    }

    #[test]
    fn nop_params_upload_go() {
        let (host, dev) = stream_pair("dm");
        let params = Params {
            version: 8,
            min_version: 1,
            max_write_size: 0x0300,
            model: 0,
            device_size: 0,
            device_type: 0,
        };
        let dev = device(dev, move |req| match req {
            DmssRequest::ParamReq => vec![reply(&DmssReply::Params(params))],
            // A stray SW version frame before the ACK must be skipped.
            DmssRequest::Nop => vec![reply(&DmssReply::SwVersion("x".into())), reply(&DmssReply::Ack)],
            _ => vec![reply(&DmssReply::Ack)],
        });
        let mut c = DmssClient::new(host);
        c.set_reply_timeout(T, 5);
        c.nop().unwrap();
        assert_eq!(c.params().unwrap(), params);
        assert_eq!(c.max_chunk(), 0x300, "lowered by PARAMS max_write_size");
        c.set_max_chunk(4);
        let a: Vec<u8> = (0..10).collect();
        let b = [0xEE; 3];
        let mut marks = Vec::new();
        c.upload(&[(0x4170_0000, &a), (0x4180_0000, &b)], &mut |d, t| marks.push((d, t))).unwrap();
        assert_eq!(marks, vec![(0, 13), (4, 13), (8, 13), (10, 13), (13, 13)]);
        assert_eq!(c.go(0x4170_0000, Some(T)).unwrap(), GoOutcome::Acked);
        drop(c);
        let seen = dev.join().unwrap();
        let writes: Vec<_> = seen
            .iter()
            .filter_map(|r| match r {
                DmssRequest::Write32 { addr, data } => Some((*addr, data.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            writes,
            vec![
                (0x4170_0000, vec![0, 1, 2, 3]),
                (0x4170_0004, vec![4, 5, 6, 7]),
                (0x4170_0008, vec![8, 9]),
                (0x4180_0000, vec![0xEE; 3]),
            ]
        );
        assert_eq!(seen.last(), Some(&DmssRequest::Go { addr: 0x4170_0000 }));
    }

    #[test]
    fn nak_names_reason_and_address() {
        let (host, dev) = stream_pair("dm");
        let _dev = device(dev, |req| match req {
            DmssRequest::Write32 { addr: 0x1000_0400, .. } => {
                vec![reply(&DmssReply::Nak(NakReason::INVALID_ADDRESS))]
            }
            _ => vec![reply(&DmssReply::Ack)],
        });
        let mut c = DmssClient::new(host);
        c.set_max_chunk(0x400);
        let data = vec![0u8; 0x900];
        let err = c.upload(&[(0x1000_0000, &data)], &mut |_, _| {}).unwrap_err();
        assert!(
            matches!(err, DmssError::Nak { addr: Some(0x1000_0400), reason: NakReason(2), .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("invalid destination address") && text.contains("0x10000400"), "{text}");
    }

    #[test]
    fn receive_is_retried_then_times_out() {
        let (host, dev) = stream_pair("dm");
        let _dev = device(dev, |_| vec![]);
        let mut c = DmssClient::new(host);
        c.set_reply_timeout(Duration::from_millis(20), 3);
        let t0 = Instant::now();
        let err = c.nop().unwrap_err();
        assert!(matches!(err, DmssError::NoReply { attempts: 3, .. }), "{err:?}");
        assert!(t0.elapsed() >= Duration::from_millis(60));
    }

    #[test]
    fn corrupt_frame_then_ack_is_accepted() {
        let (host, dev) = stream_pair("dm");
        let _dev = device(dev, |_| vec![vec![0x7E, 0x02, 0x00, 0x00, 0x7E], reply(&DmssReply::Ack)]);
        let mut c = DmssClient::new(host);
        c.nop().unwrap();
    }

    #[test]
    fn normal_mode_reply_is_unexpected() {
        let (host, dev) = stream_pair("dm");
        let _dev = device(dev, |_| vec![vec![0x13, 0x06, 0x88, 0xD5, 0x7E]]);
        let mut c = DmssClient::new(host);
        let err = c.nop().unwrap_err();
        assert!(matches!(&err, DmssError::Unexpected { got, .. } if got == &[0x13, 0x06]), "{err:?}");
    }

    #[test]
    fn go_without_reply_or_with_hangup_is_ok() {
        let (host, dev) = stream_pair("dm");
        let dev = device(dev, |_| vec![]);
        let mut c = DmssClient::new(host);
        assert_eq!(c.go(0x4170_0000, None).unwrap(), GoOutcome::NotAwaited);
        assert_eq!(c.go(0x4170_0000, Some(Duration::from_millis(30))).unwrap(), GoOutcome::NoReply);

        let (host, mut dev2) = stream_pair("dm");
        let mut c = DmssClient::new(host);
        let hang = thread::spawn(move || {
            let mut b = [0u8; 16];
            let _ = dev2.recv(&mut b, T);
        });
        assert_eq!(c.go(0x4170_0000, Some(T)).unwrap(), GoOutcome::Disconnected);
        hang.join().unwrap();
        drop(dev);
    }

    #[test]
    fn go_nak_is_an_error() {
        let (host, dev) = stream_pair("dm");
        let _dev = device(dev, |_| vec![reply(&DmssReply::Nak(NakReason::INVALID_ADDRESS))]);
        let mut c = DmssClient::new(host);
        assert!(matches!(c.go(1, Some(T)), Err(DmssError::Nak { command: "GO", .. })));
    }

    #[test]
    fn oversized_write_and_overflowing_segment_are_refused() {
        let (host, _dev) = stream_pair("dm");
        let mut c = DmssClient::new(host);
        assert!(matches!(
            c.write32(0, &[0u8; MAX_WRITE32_DATA + 1]),
            Err(DmssError::DataTooLarge { max: MAX_WRITE32_DATA, .. })
        ));
        assert!(matches!(
            c.upload(&[(0xFFFF_FFF0, &[0u8; 0x20])], &mut |_, _| {}),
            Err(DmssError::AddressOverflow { .. })
        ));
    }

    fn probe_with(answer: Vec<Vec<u8>>) -> ProbedMode {
        let (host, mut dev) = stream_pair("dm");
        let h = thread::spawn(move || {
            let mut b = [0u8; 16];
            let n = dev.recv(&mut b, T).unwrap();
            assert_eq!(&b[..n], &PROBE_NOP);
            for part in answer {
                dev.send(&part).unwrap();
            }
            dev
        });
        let mut c = DmssClient::new(host);
        let mode = c.probe(Duration::from_millis(200)).unwrap();
        drop(h.join().unwrap());
        mode
    }

    #[test]
    fn probe_classifies_split_replies() {
        assert_eq!(probe_with(vec![vec![0x7E, 0x02], vec![0x6A, 0xD3, 0x7E]]), ProbedMode::Dload);
        assert_eq!(probe_with(vec![vec![0x13, 0x06, 0x88, 0xD5, 0x7E]]), ProbedMode::NormalDiag);
        assert_eq!(probe_with(vec![vec![0x7E, 0x0E, 0x49]]), ProbedMode::StreamingProgrammer);
        let mut hello = [0u8; 48];
        hello[0] = 1;
        assert_eq!(probe_with(vec![hello[..20].to_vec(), hello[20..].to_vec()]), ProbedMode::SaharaHello);
        assert_eq!(probe_with(vec![]), ProbedMode::Unknown(vec![]));
    }
}
