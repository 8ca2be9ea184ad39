//! One endpoint of a replay: the byte-stream comparison of what the tool sends, and the
//! recorded reads given back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest;

use super::replay_state::Divergence;
use super::replay_state::{EpQueue, State, describe, lock, short};
use super::{Event, Failure, HEAD_BYTES, Payload, hex, unhex};
use crate::transport::{LinkInfo, Transport, TransportError};

/// One endpoint of a replay.
pub(super) struct ReplayTransport {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) ep: u64,
    pub(super) info: LinkInfo,
}

fn io(text: String) -> TransportError {
    TransportError::Io(std::io::Error::other(text))
}

fn failure(f: &Failure, ms: u64, message: Option<&str>) -> TransportError {
    match f {
        Failure::Timeout => TransportError::Timeout(Duration::from_millis(ms)),
        Failure::Disconnected => TransportError::Disconnected,
        Failure::Io => io(message.unwrap_or("I/O error (recorded)").to_owned()),
    }
}

impl ReplayTransport {
    fn diverge(
        &self,
        st: &mut State,
        what: &str,
        offset: Option<u64>,
        span: Option<u64>,
        expected: String,
        got: String,
    ) -> TransportError {
        let (endpoint, line) = st.eps.get(&self.ep).map_or_else(
            || (self.info.endpoint.clone(), st.lines),
            |q| (q.endpoint.clone(), q.events.front().map_or(q.last_line, |(l, _)| *l)),
        );
        let d = Divergence {
            what: what.into(),
            endpoint,
            ep: Some(self.ep),
            offset,
            span,
            expected,
            got,
            step: None,
            line,
        };
        io(st.diverge(d))
    }
}

/// Match `data` against the front `Out` event (its bytes or its hash).
enum Matched {
    Took(usize),
    Differs { at: usize, expected: String, got: String },
    HashDiffers { expected: String, got: String },
}

fn match_out(q: &mut EpQueue, payload: &Payload, data: &[u8]) -> Matched {
    let take = payload.len.saturating_sub(q.off).min(data.len());
    let chunk = data.get(..take).unwrap_or_default();
    let whole = payload.bytes();
    let (known, limit) = match whole {
        Some(b) => (Some(b), usize::MAX),
        None => (payload.head.as_deref().and_then(unhex), HEAD_BYTES),
    };
    if let Some(want) = &known {
        for (i, b) in chunk.iter().enumerate() {
            let pos = q.off + i;
            if pos >= limit.min(want.len()) && limit != usize::MAX {
                break;
            }
            if want.get(pos) != Some(b) {
                return Matched::Differs {
                    at: i,
                    expected: short(want.get(pos..).unwrap_or_default()),
                    got: short(chunk.get(i..).unwrap_or_default()),
                };
            }
        }
    }
    if let Some(sha) = &payload.sha256 {
        q.hasher.update(chunk);
        if q.off + take == payload.len {
            let got = hex(&std::mem::take(&mut q.hasher).finalize());
            if &got != sha {
                return Matched::HashDiffers {
                    expected: format!("sha256 {sha}"),
                    got: format!("sha256 {got}"),
                };
            }
        }
    }
    Matched::Took(take)
}

impl Transport for ReplayTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        if let Some(d) = &st.divergence {
            return Err(io(d.to_string()));
        }
        let mut rest = data;
        loop {
            let Some(q) = st.eps.get_mut(&self.ep) else {
                return Err(self.diverge(
                    st,
                    "endpoint not in the recording",
                    None,
                    None,
                    "nothing".into(),
                    short(rest),
                ));
            };
            // A poll the recorded run made and this one did not: nothing came, skip it.
            while matches!(
                q.events.front(),
                Some((_, Event::ReadFailed { failed: Failure::Timeout, ms: 0, .. }))
            ) {
                q.events.pop_front();
            }
            let sent = q.sent;
            let front = q.events.front().cloned();
            match front {
                Some((_, Event::Out { data: payload, failed, message, .. })) => {
                    if rest.is_empty() && payload.len > 0 {
                        return Ok(());
                    }
                    let start = sent.saturating_sub(q.off as u64);
                    match match_out(q, &payload, rest) {
                        Matched::Took(n) => {
                            q.off += n;
                            q.sent += n as u64;
                            rest = rest.get(n..).unwrap_or_default();
                            if q.off >= payload.len {
                                q.off = 0;
                                q.events.pop_front();
                                if let Some(f) = failed {
                                    return Err(failure(&f, 0, message.as_deref()));
                                }
                            }
                            if rest.is_empty() {
                                return Ok(());
                            }
                        }
                        Matched::Differs { at, expected, got } => {
                            let off = sent + at as u64;
                            return Err(self.diverge(
                                st,
                                "the tool sent other bytes than recorded",
                                Some(off),
                                None,
                                expected,
                                got,
                            ));
                        }
                        Matched::HashDiffers { expected, got } => {
                            return Err(self.diverge(
                                st,
                                "a data phase differs from the recording (only its hash was recorded; record with whole data to find the byte)",
                                Some(start),
                                Some(payload.len as u64),
                                expected,
                                got,
                            ));
                        }
                    }
                }
                Some((_, e)) => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    return Err(self.diverge(
                        st,
                        "the tool sends where the recording has something else first",
                        Some(sent),
                        None,
                        describe(&e),
                        short(rest),
                    ));
                }
                None => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    return Err(self.diverge(
                        st,
                        "the tool sends more than was recorded",
                        Some(sent),
                        None,
                        "the end of the recording".into(),
                        short(rest),
                    ));
                }
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        if let Some(d) = &st.divergence {
            return Err(io(d.to_string()));
        }
        let Some(q) = st.eps.get_mut(&self.ep) else {
            return Err(self.diverge(
                st,
                "endpoint not in the recording",
                None,
                None,
                "nothing".into(),
                "a read".into(),
            ));
        };
        let sent = q.sent;
        match q.events.front().cloned() {
            Some((_, Event::In { data, .. })) => {
                let Some(bytes) = data.bytes() else {
                    return Err(self.diverge(
                        st,
                        "the recording keeps no bytes for this read",
                        Some(sent),
                        None,
                        describe(&Event::In { ep: self.ep, data }),
                        "a read".into(),
                    ));
                };
                let rest = bytes.get(q.off..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
                    dst.copy_from_slice(src);
                }
                q.off += n;
                if q.off >= bytes.len() {
                    q.off = 0;
                    q.events.pop_front();
                }
                Ok(n)
            }
            Some((_, Event::Zlp { .. })) => {
                q.events.pop_front();
                Ok(0)
            }
            Some((_, Event::ReadFailed { failed, ms, message, .. })) => {
                q.events.pop_front();
                Err(failure(&failed, ms, message.as_deref()))
            }
            // A poll (no wait) where the recording has the tool sending next: nothing is
            // waiting, which is what the module had to say at that point.
            Some((_, Event::Out { .. })) if timeout.is_zero() => Err(TransportError::Timeout(Duration::ZERO)),
            Some((_, e @ Event::Out { .. })) => {
                let expected = match &e {
                    Event::Out { data, .. } => data.bytes().map_or_else(
                        || describe(&e),
                        |b| {
                            format!(
                                "the rest of {}: {}",
                                describe(&e),
                                short(b.get(q.off..).unwrap_or_default())
                            )
                        },
                    ),
                    _ => describe(&e),
                };
                Err(self.diverge(
                    st,
                    "the tool waits for the module where the recording has the tool sending first",
                    Some(sent),
                    None,
                    expected,
                    "a read".into(),
                ))
            }
            Some((_, e)) => Err(self.diverge(
                st,
                "the tool reads where the recording has something else",
                Some(sent),
                None,
                describe(&e),
                "a read".into(),
            )),
            None => Err(self.diverge(
                st,
                "the tool reads past the end of what was recorded",
                Some(sent),
                None,
                "the end of the recording".into(),
                "a read".into(),
            )),
        }
    }

    fn info(&self) -> &LinkInfo {
        &self.info
    }
}

impl Drop for ReplayTransport {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        if let Some(q) = st.eps.get_mut(&self.ep)
            && matches!(q.events.front(), Some((_, Event::Close { .. })))
        {
            q.events.pop_front();
        }
    }
}
