//! Recording and replaying what crosses the transports of a run (`docs/recording.md`).
//!
//! A recording is JSON lines: one [`Header`] line, then one [`Record`] per line, in the
//! order the events happened, each with a time relative to the start. [`RecordingBus`]
//! wraps any [`ModuleBus`](crate::discovery::ModuleBus) and every transport it opens;
//! [`RecordingTransport`] wraps one transport. Both write through one shared
//! [`Recorder`]. Recording never changes what the run does: a failed write to the
//! recording is kept as [`Recorder::error`] and the run goes on.
//!
//! [`ReplayBus`] is a bus backend with no module: it answers the tool's reads with the
//! recorded ones, checks what the tool sends against what was recorded and stops at the
//! first [`Divergence`].

mod replay;
mod replay_state;
mod replay_transport;
mod wrap;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::discovery::module_id::ModuleIdentity;
use crate::module::DeviceMode;

pub use replay::{Divergence, ReplayBus, ReplayError};
pub use wrap::{RecordingBus, RecordingTransport};

/// The `format` value of the header line.
pub const FORMAT: &str = "modemflash-recording";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// Payloads longer than this are stored as SHA-256 plus length unless whole data is
/// asked for: image data phases, not protocol commands (which are all shorter).
pub const LARGE_PAYLOAD: usize = 4096;
/// Bytes kept in the clear at the start of a hashed payload (`head`), so that a changed
/// header is found to the byte even without the whole data.
pub const HEAD_BYTES: usize = 16;

/// The first line of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// The tool that wrote it (`modemflash 0.1.0`).
    pub tool: String,
    /// The command, as the tool describes it (no arguments that name files).
    pub command: String,
    /// Seconds since the Unix epoch when recording began.
    pub started_unix: u64,
    /// Payloads over this many bytes are hashed unless `whole_data`.
    pub large_payload: usize,
    pub whole_data: bool,
}

/// Bytes of one transfer: in the clear as `ascii` (printable text with CR/LF/TAB) or
/// `hex`, or, when large, as `sha256` of the whole plus its first bytes as `head`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub len: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ascii: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
}

impl Payload {
    /// Describe `data`, whole or (when large and not `whole`) hashed.
    pub fn of(data: &[u8], whole: bool) -> Self {
        if !whole && data.len() > LARGE_PAYLOAD {
            return Payload {
                len: data.len(),
                sha256: Some(hex(&Sha256::digest(data))),
                head: Some(hex(data.get(..HEAD_BYTES).unwrap_or(data))),
                ..Payload::default()
            };
        }
        let printable = data.iter().all(|b| matches!(b, 0x20..=0x7e | b'\r' | b'\n' | b'\t'));
        if printable && !data.is_empty() {
            Payload { len: data.len(), ascii: String::from_utf8(data.to_vec()).ok(), ..Payload::default() }
        } else {
            Payload { len: data.len(), hex: Some(hex(data)), ..Payload::default() }
        }
    }

    /// The bytes, when the recording keeps them.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        if let Some(a) = &self.ascii {
            return Some(a.as_bytes().to_vec());
        }
        self.hex.as_deref().and_then(unhex)
    }
}

/// A bus-level error as recorded, enough to give the tool the same error back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum BusErrorRec {
    Timeout { wanted: String, waited_ms: u64, seen: String },
    Open { port: String, endpoint: String, why: String },
    Other { text: String },
}

/// How a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    Timeout,
    Disconnected,
    Io,
}

/// One event. `ep` numbers the endpoints in the order they were opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// A bus detect: the mode the module was in (`null`: not on the bus).
    Detect {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<DeviceMode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed: Option<BusErrorRec>,
    },
    /// A wait for one of `modes` (a re-enumeration): the mode that appeared.
    WaitFor {
        modes: Vec<DeviceMode>,
        timeout_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<DeviceMode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed: Option<BusErrorRec>,
    },
    /// A port opened (`ep` set) or not (`failed`).
    Open {
        port: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ep: Option<u64>,
        /// `tty`, `tcp`, `usb`, `memory` or `other`, from the endpoint name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_packet_size: Option<usize>,
        #[serde(default)]
        zlp: bool,
        /// Where the module is (`usb:1-1.2`) and its USB serial string, as the bus knows them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port_path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usb_serial: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed: Option<BusErrorRec>,
    },
    /// What the bus names a port (only written when it changes).
    Endpoint { port: String, value: String },
    /// What the bus tells about the module's place (only written when it changes).
    Location {
        #[serde(flatten)]
        identity: ModuleIdentity,
    },
    /// Bytes the tool sent. `zlp`: a zero-length packet followed on the wire.
    Out {
        ep: u64,
        #[serde(flatten)]
        data: Payload,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        zlp: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed: Option<Failure>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Bytes the module sent (one read).
    In {
        ep: u64,
        #[serde(flatten)]
        data: Payload,
    },
    /// A read returned a zero-length packet.
    Zlp { ep: u64 },
    /// A read failed: `timeout` (after `ms`), `disconnected` or `io`.
    ReadFailed {
        ep: u64,
        failed: Failure,
        #[serde(default)]
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The tool closed the endpoint.
    Close { ep: u64 },
    /// A step of the plan began (a note for people and for divergence reports).
    Step { id: String, title: String },
    /// What a command learnt without a transport (`what`: e.g. `usb-scan`, the modules
    /// a USB listing found), given back as is on replay.
    Note { what: String, data: serde_json::Value },
}

impl Event {
    /// An open of `port` that failed with `failed` (a replay gives the same failure).
    pub fn failed_open(port: &str, failed: BusErrorRec) -> Self {
        Event::Open {
            port: port.into(),
            ep: None,
            kind: None,
            endpoint: None,
            max_packet_size: None,
            zlp: false,
            port_path: None,
            usb_serial: None,
            failed: Some(failed),
        }
    }
}

/// A line of a recording after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Microseconds since recording began.
    pub t_us: u64,
    #[serde(flatten)]
    pub event: Event,
}

struct Inner {
    out: Box<dyn Write + Send>,
    start: Instant,
    next_ep: u64,
    error: Option<String>,
    last_endpoint: std::collections::HashMap<String, String>,
    last_location: Option<ModuleIdentity>,
}

/// The writer all recording wrappers share.
pub struct Recorder {
    whole_data: bool,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("whole_data", &self.whole_data).finish_non_exhaustive()
    }
}

impl Recorder {
    /// Start a recording on `out`: the header is written at once. `command` names the
    /// command in the header; `whole_data` keeps large payloads whole.
    pub fn new(out: Box<dyn Write + Send>, command: &str, whole_data: bool) -> Arc<Self> {
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            tool: format!("modemflash {}", env!("CARGO_PKG_VERSION")),
            command: command.into(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            large_payload: LARGE_PAYLOAD,
            whole_data,
        };
        let rec = Arc::new(Recorder {
            whole_data,
            inner: Mutex::new(Inner {
                out,
                start: Instant::now(),
                next_ep: 0,
                error: None,
                last_endpoint: std::collections::HashMap::new(),
                last_location: None,
            }),
        });
        rec.line(&serde_json::to_value(&header).unwrap_or_default());
        rec
    }

    /// Create `path` and record to it.
    pub fn create(path: &std::path::Path, command: &str, whole_data: bool) -> std::io::Result<Arc<Self>> {
        let f = std::fs::File::create(path)?;
        Ok(Self::new(Box::new(std::io::BufWriter::new(f)), command, whole_data))
    }

    /// Whether large payloads are kept whole.
    pub fn whole_data(&self) -> bool {
        self.whole_data
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn line(&self, v: &serde_json::Value) {
        let mut g = self.lock();
        if g.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut g.out, v)
            .map_err(std::io::Error::from)
            .and_then(|()| g.out.write_all(b"\n"))
            .and_then(|()| g.out.flush());
        if let Err(e) = r {
            g.error = Some(e.to_string());
        }
    }

    /// Write one event, stamped with the time since the start.
    pub fn event(&self, event: Event) {
        let t_us = u64::try_from(self.lock().start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.line(&serde_json::to_value(Record { t_us, event }).unwrap_or_default());
    }

    /// A new endpoint number.
    pub(crate) fn next_ep(&self) -> u64 {
        let mut g = self.lock();
        let ep = g.next_ep;
        g.next_ep += 1;
        ep
    }

    /// Record a port name if it differs from the last one recorded for `port`.
    pub(crate) fn endpoint_seen(&self, port: &str, value: &str) {
        let changed = {
            let mut g = self.lock();
            let old = g.last_endpoint.insert(port.to_owned(), value.to_owned());
            old.as_deref() != Some(value)
        };
        if changed {
            self.event(Event::Endpoint { port: port.into(), value: value.into() });
        }
    }

    /// Record the module's place if it differs from the last one recorded.
    pub(crate) fn location_seen(&self, now: &ModuleIdentity) {
        let changed = {
            let mut g = self.lock();
            let changed = g.last_location.as_ref() != Some(now);
            g.last_location = Some(now.clone());
            changed
        };
        if changed {
            self.event(Event::Location { identity: now.clone() });
        }
    }

    /// A step began (the CLI forwards the executor's events).
    pub fn step(&self, id: &str, title: &str) {
        self.event(Event::Step { id: id.into(), title: title.into() });
    }

    /// The first failure to write the recording, if any (the run went on regardless).
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }
}

/// An observer that notes each step's start in the recording, then passes the event on.
pub struct StepNotes<'a> {
    pub inner: &'a mut dyn crate::exec::Observer,
    pub recorder: Arc<Recorder>,
}

impl std::fmt::Debug for StepNotes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepNotes").finish_non_exhaustive()
    }
}

impl crate::exec::Observer for StepNotes<'_> {
    fn event(&mut self, event: &crate::exec::Event) {
        if let crate::exec::Event::StepStarted { step, title, .. } = event {
            self.recorder.step(step, title);
        }
        self.inner.event(event);
    }
}

/// Lower-case hex without separators.
pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse [`hex`] output; `None` on anything else.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2).map(|p| std::str::from_utf8(p).ok().and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// The name a recording uses for a port.
pub fn port_name(port: crate::module::Port) -> &'static str {
    port.key()
}

/// The link kind from an endpoint name.
pub fn link_kind(endpoint: &str) -> &'static str {
    if endpoint.starts_with("tcp:") {
        "tcp"
    } else if endpoint.starts_with("usb:") {
        "usb"
    } else if endpoint.starts_with("memory:") || endpoint.starts_with("virtual") {
        "memory"
    } else if endpoint.starts_with('/') || endpoint.starts_with("COM") || endpoint.starts_with("\\\\") {
        "tty"
    } else {
        "other"
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
