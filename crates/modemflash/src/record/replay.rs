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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use super::replay_state::Divergence;
use super::replay_state::{EpQueue, State, describe, lock};
use super::replay_transport::ReplayTransport;
use super::{BusErrorRec, Event, FORMAT, Header, Record, VERSION};
use crate::discovery::module_id::ModuleIdentity;
use crate::discovery::{BusError, ModuleBus};
use crate::module::DeviceMode;
use crate::module::Port;
use crate::transport::{LinkInfo, Transport};

/// Why a recording cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read the recording: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line} of the recording: {why}")]
    Format { line: usize, why: String },
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
                    let q =
                        st.eps.get_mut(&ep).ok_or_else(|| bad(format!("endpoint #{ep} was never opened")))?;
                    q.last_line = n;
                    q.events.push_back((n, e));
                }
            }
        }
        let header = header
            .ok_or(ReplayError::Format { line: 0, why: "the recording is empty (no header line)".into() })?;
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
                    let expected =
                        other.map_or_else(|| "the end of the recording".into(), |(_, e)| describe(e));
                    return Err(st.bus_diverge(
                        "the tool asks which mode the module is in".into(),
                        expected,
                        "a detect".into(),
                    ));
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
            return Err(BusError::Open {
                port: port.name(),
                endpoint: "the recording".into(),
                why: d.to_string(),
            });
        }
        st.skip_detects();
        let name = super::port_name(port);
        match st.bus.front().cloned() {
            Some((
                _,
                Event::Open {
                    port: p,
                    ep,
                    endpoint,
                    max_packet_size,
                    zlp,
                    failed,
                    port_path,
                    usb_serial,
                    ..
                },
            )) if p == name => {
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
                Err(st.bus_diverge(
                    "the tool opens another port than recorded".into(),
                    expected,
                    format!("an open of the {name} port"),
                ))
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
