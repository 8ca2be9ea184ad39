//! The state a replay shares between the bus (`replay.rs`) and its endpoints
//! (`replay_transport.rs`): the recorded events per endpoint, what was sent so far, and the
//! first divergence.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::Sha256;

use super::{BusErrorRec, Event};
use crate::discovery::BusError;
use crate::discovery::module_id::ModuleIdentity;
use crate::module::DeviceMode;

/// Bytes shown on each side of a divergence.
pub(super) const SHOWN: usize = 16;

pub(super) fn short(data: &[u8]) -> String {
    if data.is_empty() {
        return "(nothing)".into();
    }
    let mut s: Vec<String> = data.iter().take(SHOWN).map(|b| format!("{b:02x}")).collect();
    if data.len() > SHOWN {
        s.push(format!("… ({} bytes)", data.len()));
    }
    s.join(" ")
}

pub(super) fn describe(e: &Event) -> String {
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

pub(super) struct EpQueue {
    pub(super) endpoint: String,
    pub(super) events: VecDeque<(usize, Event)>,
    /// Bytes of the front `Out` already matched / of the front `In` already given.
    pub(super) off: usize,
    pub(super) hasher: Sha256,
    pub(super) sent: u64,
    pub(super) last_line: usize,
}

pub(super) struct State {
    pub(super) bus: VecDeque<(usize, Event)>,
    pub(super) eps: HashMap<u64, EpQueue>,
    pub(super) steps: Vec<(usize, String)>,
    pub(super) notes: Vec<(String, serde_json::Value)>,
    pub(super) endpoints: HashMap<String, String>,
    pub(super) location: ModuleIdentity,
    pub(super) last_detect: Option<(Option<DeviceMode>, Option<BusErrorRec>)>,
    pub(super) divergence: Option<Divergence>,
    pub(super) lines: usize,
}

impl State {
    fn step_at(&self, line: usize) -> Option<String> {
        self.steps.iter().rev().find(|(l, _)| *l < line).map(|(_, s)| s.clone())
    }

    pub(super) fn diverge(&mut self, mut d: Divergence) -> String {
        d.step = self.step_at(d.line);
        let text = d.to_string();
        if self.divergence.is_none() {
            self.divergence = Some(d);
        }
        text
    }

    pub(super) fn bus_diverge(&mut self, what: String, expected: String, got: String) -> BusError {
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
    pub(super) fn absorb(&mut self) {
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
    pub(super) fn skip_detects(&mut self) {
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

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
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
