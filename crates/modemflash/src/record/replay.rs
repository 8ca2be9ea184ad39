//! Replay: a [`ModuleBus`] with no module behind it, answering from a recording.
//!
//! What the tool sends is compared as one byte stream per opened endpoint (write
//! boundaries are free: the tool may split or join writes); the recorded reads are given
//! back one recorded read at a time (so message boundaries of USB and framed TCP links
//! come back as they were). Timeouts, ZLPs and disconnects come back where they were
//! recorded, at once: replay never waits for the clock. Bus answers (detect, wait,
//! open) come back in the recorded order; a detect asked more often than recorded (a
//! poll that ran longer) gets the last recorded answer again.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{BusErrorRec, Event, FORMAT, Failure, HEAD_BYTES, Header, Payload, Record, VERSION, hex, unhex};
use crate::discovery::module_id::ModuleIdentity;
use crate::discovery::{BusError, ModuleBus, Port};
use crate::plan::DeviceMode;
use crate::transport::{LinkInfo, Transport, TransportError};

/// Bytes shown on each side of a divergence.
const SHOWN: usize = 16;

/// Why a recording cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read the recording: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line} of the recording: {why}")]
    Format { line: usize, why: String },
}

/// The first place where the run and the recording part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Divergence {
    /// What differs, in words.
    pub what: String,
    /// The endpoint (as recorded), or `bus` for bus answers.
    pub endpoint: String,
    /// The endpoint number in the recording.
    pub ep: Option<u64>,
    /// Offset in the byte stream the tool sent on this endpoint.
    pub offset: Option<u64>,
    /// When only a hash was recorded: the length of the stretch that differs somewhere.
    pub span: Option<u64>,
    pub expected: String,
    pub got: String,
    /// The step the recording was in (from its step notes).
    pub step: Option<String>,
    /// The recording's line of the event that was expected.
    pub line: usize,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replay diverged on {}", self.endpoint)?;
        if let Some(ep) = self.ep {
            write!(f, " (endpoint #{ep})")?;
        }
        if let Some(s) = &self.step {
            write!(f, " in step {s}")?;
        }
        match (self.offset, self.span) {
            (Some(o), Some(n)) => write!(f, " at bytes {o}..{} sent", o.saturating_add(n))?,
            (Some(o), None) => write!(f, " at byte {o} sent")?,
            _ => {}
        }
        write!(
            f,
            ": {}; expected {}, got {} (recording line {})",
            self.what, self.expected, self.got, self.line
        )
    }
}

fn short(data: &[u8]) -> String {
    if data.is_empty() {
        return "(nothing)".into();
    }
    let mut s: Vec<String> = data.iter().take(SHOWN).map(|b| format!("{b:02x}")).collect();
    if data.len() > SHOWN {
        s.push(format!("… ({} bytes)", data.len()));
    }
    s.join(" ")
}

fn describe(e: &Event) -> String {
    match e {
        Event::Detect { .. } => "a detect".into(),
        Event::WaitFor { modes, .. } => format!("a wait for {modes:?}"),
        Event::Open { port, .. } => format!("an open of the {port} port"),
        Event::Out { data, .. } => format!("{} bytes sent", data.len),
        Event::In { data, .. } => format!("{} bytes from the module", data.len),
        Event::Zlp { .. } => "a zero-length packet from the module".into(),
        Event::ReadFailed { failed, .. } => format!("a read that failed ({failed:?})"),
        Event::Close { .. } => "the endpoint closed".into(),
        Event::Endpoint { .. } | Event::Location { .. } | Event::Step { .. } | Event::Note { .. } => {
            "a note".into()
        }
    }
}

struct EpQueue {
    endpoint: String,
    events: VecDeque<(usize, Event)>,
    /// Bytes of the front `Out` already matched / of the front `In` already given.
    off: usize,
    hasher: Sha256,
    sent: u64,
    last_line: usize,
}

struct State {
    bus: VecDeque<(usize, Event)>,
    eps: HashMap<u64, EpQueue>,
    steps: Vec<(usize, String)>,
    notes: Vec<(String, serde_json::Value)>,
    endpoints: HashMap<String, String>,
    location: ModuleIdentity,
    last_detect: Option<(Option<DeviceMode>, Option<BusErrorRec>)>,
    divergence: Option<Divergence>,
    lines: usize,
}

impl State {
    fn step_at(&self, line: usize) -> Option<String> {
        self.steps.iter().rev().find(|(l, _)| *l < line).map(|(_, s)| s.clone())
    }

    fn diverge(&mut self, mut d: Divergence) -> String {
        d.step = self.step_at(d.line);
        let text = d.to_string();
        if self.divergence.is_none() {
            self.divergence = Some(d);
        }
        text
    }

    fn bus_diverge(&mut self, what: String, expected: String, got: String) -> BusError {
        let line = self.bus.front().map_or(self.lines, |(l, _)| *l);
        let why = self.diverge(Divergence {
            what,
            endpoint: "bus".into(),
            ep: None,
            offset: None,
            span: None,
            expected,
            got,
            step: None,
            line,
        });
        BusError::Open { port: "bus", endpoint: "the recording".into(), why }
    }

    /// Apply the notes at the front of the bus queue.
    fn absorb(&mut self) {
        while let Some((_, e)) = self.bus.front() {
            match e {
                Event::Endpoint { port, value } => {
                    self.endpoints.insert(port.clone(), value.clone());
                }
                Event::Location { identity } => self.location = identity.clone(),
                _ => return,
            }
            self.bus.pop_front();
        }
    }

    /// Drop recorded detects in front of another call (the replayed poll was shorter).
    fn skip_detects(&mut self) {
        loop {
            self.absorb();
            match self.bus.front() {
                Some((_, Event::Detect { mode, failed })) => {
                    self.last_detect = Some((*mode, failed.clone()));
                    self.bus.pop_front();
                }
                _ => return,
            }
        }
    }
}

fn bus_error(e: &BusErrorRec) -> BusError {
    match e {
        BusErrorRec::Timeout { wanted, waited_ms, seen } => BusError::Timeout {
            wanted: wanted.clone(),
            waited: Duration::from_millis(*waited_ms),
            seen: seen.clone(),
        },
        BusErrorRec::Open { port, endpoint, why } => {
            let port = match port.as_str() {
                "DM port" => Port::Dm.name(),
                "AT port" => Port::At.name(),
                "fastboot" => Port::Fastboot.name(),
                "EDL interface" => Port::Edl.name(),
                _ => "port",
            };
            BusError::Open { port, endpoint: endpoint.clone(), why: why.clone() }
        }
        BusErrorRec::Other { text } => {
            BusError::Open { port: "bus", endpoint: "(recorded)".into(), why: text.clone() }
        }
    }
}

/// A bus backend that answers from a recording. Clones share the replay, so the caller
/// can keep one to ask for [`ReplayBus::divergence`] after the run.
#[derive(Clone)]
pub struct ReplayBus {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for ReplayBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayBus").finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReplayBus {
    /// Read a recording file.
    pub fn open(path: &std::path::Path) -> Result<(Self, Header), ReplayError> {
        let f = std::fs::File::open(path)?;
        Self::from_reader(std::io::BufReader::new(f))
    }

    /// Read a recording.
    pub fn from_reader(r: impl BufRead) -> Result<(Self, Header), ReplayError> {
        let mut header = None;
        let mut st = State {
            bus: VecDeque::new(),
            eps: HashMap::new(),
            steps: Vec::new(),
            notes: Vec::new(),
            endpoints: HashMap::new(),
            location: ModuleIdentity::default(),
            last_detect: None,
            divergence: None,
            lines: 0,
        };
        for (i, line) in r.lines().enumerate() {
            let line = line?;
            let n = i + 1;
            st.lines = n;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |why: String| ReplayError::Format { line: n, why };
            if header.is_none() {
                let h: Header = serde_json::from_str(&line).map_err(|e| bad(format!("not a header: {e}")))?;
                if h.format != FORMAT {
                    return Err(bad(format!("format {:?} is not {FORMAT:?}", h.format)));
                }
                if h.version != VERSION {
                    return Err(bad(format!(
                        "format version {} (this modemflash reads version {VERSION})",
                        h.version
                    )));
                }
                header = Some(h);
                continue;
            }
            let rec: Record = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
            match rec.event {
                e @ (Event::Detect { .. }
                | Event::WaitFor { .. }
                | Event::Endpoint { .. }
                | Event::Location { .. }) => st.bus.push_back((n, e)),
                Event::Open { ref endpoint, ep, .. } => {
                    if let Some(ep) = ep {
                        let q = EpQueue {
                            endpoint: endpoint.clone().unwrap_or_default(),
                            events: VecDeque::new(),
                            off: 0,
                            hasher: Sha256::new(),
                            sent: 0,
                            last_line: n,
                        };
                        if st.eps.insert(ep, q).is_some() {
                            return Err(bad(format!("endpoint #{ep} is opened twice")));
                        }
                    }
                    st.bus.push_back((n, rec.event));
                }
                Event::Step { id, .. } => st.steps.push((n, id)),
                Event::Note { what, data } => st.notes.push((what, data)),
                e @ (Event::Out { ep, .. }
                | Event::In { ep, .. }
                | Event::Zlp { ep }
                | Event::ReadFailed { ep, .. }
                | Event::Close { ep }) => {
                    let q = st.eps.get_mut(&ep).ok_or_else(|| bad(format!("endpoint #{ep} was never opened")))?;
                    q.last_line = n;
                    q.events.push_back((n, e));
                }
            }
        }
        let header =
            header.ok_or(ReplayError::Format { line: 0, why: "the recording is empty (no header line)".into() })?;
        Ok((ReplayBus { state: Arc::new(Mutex::new(st)) }, header))
    }

    /// The recorded notes named `what`, in order.
    pub fn notes(&self, what: &str) -> Vec<serde_json::Value> {
        lock(&self.state).notes.iter().filter(|(w, _)| w == what).map(|(_, d)| d.clone()).collect()
    }

    /// The first divergence, if the run has left the recording.
    pub fn divergence(&self) -> Option<Divergence> {
        lock(&self.state).divergence.clone()
    }

    /// After the run: the first divergence, or, when the run stopped before the end of
    /// what was recorded on an endpoint, that.
    pub fn finish(&self) -> Option<Divergence> {
        let mut st = lock(&self.state);
        if let Some(d) = &st.divergence {
            return Some(d.clone());
        }
        let mut eps: Vec<u64> = st.eps.keys().copied().collect();
        eps.sort_unstable();
        for ep in eps {
            let Some(q) = st.eps.get(&ep) else { continue };
            if let Some((line, e)) = q.events.iter().find(|(_, e)| !matches!(e, Event::Close { .. })) {
                let d = Divergence {
                    what: "the run ended before this endpoint's recording did".into(),
                    endpoint: q.endpoint.clone(),
                    ep: Some(ep),
                    offset: Some(q.sent),
                    span: None,
                    expected: describe(e),
                    got: "no more transfers".into(),
                    step: None,
                    line: *line,
                };
                st.diverge(d);
                return st.divergence.clone();
            }
        }
        None
    }
}

impl ModuleBus for ReplayBus {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        let mut st = lock(&self.state);
        if let Some(d) = &st.divergence {
            return Err(BusError::Open { port: "bus", endpoint: "the recording".into(), why: d.to_string() });
        }
        st.absorb();
        let answer = match st.bus.front() {
            Some((_, Event::Detect { mode, failed })) => {
                let a = (*mode, failed.clone());
                st.bus.pop_front();
                st.last_detect = Some(a.clone());
                a
            }
            other => {
                if let Some(a) = st.last_detect.clone() {
                    a
                } else {
                    let expected = other.map_or_else(|| "the end of the recording".into(), |(_, e)| describe(e));
                    return Err(st.bus_diverge("the tool asks which mode the module is in".into(), expected, "a detect".into()));
                }
            }
        };
        match answer {
            (_, Some(e)) => Err(bus_error(&e)),
            (mode, None) => Ok(mode),
        }
    }

    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        let _ = timeout;
        let mut st = lock(&self.state);
        if let Some(d) = &st.divergence {
            return Err(BusError::Open { port: "bus", endpoint: "the recording".into(), why: d.to_string() });
        }
        st.skip_detects();
        let got = format!("a wait for {modes:?}");
        match st.bus.front().cloned() {
            Some((_, Event::WaitFor { modes: rec, mode, failed, .. })) if rec == modes => {
                st.bus.pop_front();
                match (mode, failed) {
                    (_, Some(e)) => Err(bus_error(&e)),
                    (Some(m), None) => Ok(m),
                    (None, None) => Err(BusError::Timeout {
                        wanted: format!("{modes:?}"),
                        waited: timeout,
                        seen: "nothing (recorded)".into(),
                    }),
                }
            }
            other => {
                let expected = other.map_or_else(|| "the end of the recording".into(), |(_, e)| describe(&e));
                Err(st.bus_diverge("the tool waits for another mode than recorded".into(), expected, got))
            }
        }
    }

    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError> {
        let mut st = lock(&self.state);
        if let Some(d) = &st.divergence {
            return Err(BusError::Open { port: port.name(), endpoint: "the recording".into(), why: d.to_string() });
        }
        st.skip_detects();
        let name = super::port_name(port);
        match st.bus.front().cloned() {
            Some((_, Event::Open { port: p, ep, endpoint, max_packet_size, zlp, failed, port_path, usb_serial, .. }))
                if p == name =>
            {
                st.bus.pop_front();
                if let Some(e) = failed {
                    return Err(bus_error(&e));
                }
                // Where the module was when the port opened (a recording may carry no
                // location notes of its own).
                if port_path.is_some() {
                    st.location.port_path = port_path;
                }
                if usb_serial.is_some() {
                    st.location.usb_serial = usb_serial;
                }
                let ep = ep.unwrap_or_default();
                let endpoint = endpoint.unwrap_or_else(|| format!("replay:{name}"));
                let info = LinkInfo { endpoint, max_packet_size, zlp };
                Ok(Box::new(ReplayTransport { state: Arc::clone(&self.state), ep, info }))
            }
            other => {
                let expected = other.map_or_else(|| "the end of the recording".into(), |(_, e)| describe(&e));
                Err(st.bus_diverge("the tool opens another port than recorded".into(), expected, format!("an open of the {name} port")))
            }
        }
    }

    fn endpoint(&self, port: Port) -> String {
        let mut st = lock(&self.state);
        st.absorb();
        let name = super::port_name(port);
        st.endpoints.get(name).cloned().unwrap_or_else(|| format!("replay {name} port"))
    }

    fn location(&self) -> ModuleIdentity {
        let mut st = lock(&self.state);
        st.absorb();
        st.location.clone()
    }
}

/// One endpoint of a replay.
struct ReplayTransport {
    state: Arc<Mutex<State>>,
    ep: u64,
    info: LinkInfo,
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
    fn diverge(&self, st: &mut State, what: &str, offset: Option<u64>, span: Option<u64>, expected: String, got: String) -> TransportError {
        let (endpoint, line) = st.eps.get(&self.ep).map_or_else(
            || (self.info.endpoint.clone(), st.lines),
            |q| (q.endpoint.clone(), q.events.front().map_or(q.last_line, |(l, _)| *l)),
        );
        let d = Divergence { what: what.into(), endpoint, ep: Some(self.ep), offset, span, expected, got, step: None, line };
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
                return Matched::HashDiffers { expected: format!("sha256 {sha}"), got: format!("sha256 {got}") };
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
                return Err(self.diverge(st, "endpoint not in the recording", None, None, "nothing".into(), short(rest)));
            };
            // A poll the recorded run made and this one did not: nothing came, skip it.
            while matches!(q.events.front(), Some((_, Event::ReadFailed { failed: Failure::Timeout, ms: 0, .. }))) {
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
                            return Err(self.diverge(st, "the tool sent other bytes than recorded", Some(off), None, expected, got));
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
                    return Err(self.diverge(st, "the tool sends where the recording has something else first", Some(sent), None, describe(&e), short(rest)));
                }
                None => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    return Err(self.diverge(st, "the tool sends more than was recorded", Some(sent), None, "the end of the recording".into(), short(rest)));
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
            return Err(self.diverge(st, "endpoint not in the recording", None, None, "nothing".into(), "a read".into()));
        };
        let sent = q.sent;
        match q.events.front().cloned() {
            Some((_, Event::In { data, .. })) => {
                let Some(bytes) = data.bytes() else {
                    return Err(self.diverge(st, "the recording keeps no bytes for this read", Some(sent), None, describe(&Event::In { ep: self.ep, data }), "a read".into()));
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
                    Event::Out { data, .. } => {
                        data.bytes().map_or_else(|| describe(&e), |b| format!("the rest of {}: {}", describe(&e), short(b.get(q.off..).unwrap_or_default())))
                    }
                    _ => describe(&e),
                };
                Err(self.diverge(st, "the tool waits for the module where the recording has the tool sending first", Some(sent), None, expected, "a read".into()))
            }
            Some((_, e)) => Err(self.diverge(st, "the tool reads where the recording has something else", Some(sent), None, describe(&e), "a read".into())),
            None => Err(self.diverge(st, "the tool reads past the end of what was recorded", Some(sent), None, "the end of the recording".into(), "a read".into())),
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
