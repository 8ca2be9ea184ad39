//! `--record FILE`, `--record-data` and `--replay FILE` (docs/recording.md), and the
//! last session kept for `modemflash report`.
//!
//! `update` always keeps its last session under the state directory
//! (`$XDG_STATE_HOME/modemflash/last-session/`): `recording.jsonl` (large data phases
//! hashed, so it stays small and cheap to write), `events.jsonl` (the run's events, as
//! `--json` prints them) and `session.json` (command, time, exit code).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use clap::Args;
use modemflash::discovery::ModuleBus;
use modemflash::exec::{Event, Observer};
use modemflash::record::{Recorder, RecordingBus, ReplayBus, StepNotes};

use super::target::{self, EndpointArgs};
use crate::exit;

/// The recording flags.
#[derive(Debug, Clone, Default, Args)]
pub struct SessionArgs {
    /// Record every transfer with the module to FILE: JSON lines, one event each (ports
    /// opened, bytes both ways, timeouts, mode changes). Large data phases are kept as
    /// SHA-256 and length only. Read docs/recording.md before sharing a recording: it
    /// holds what the module answered, its IMEI and serial numbers too.
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// With --record: keep large data phases (images) whole.
    #[arg(long, requires = "record")]
    pub record_data: bool,
    /// Run against a recording instead of a module: the recorded answers are given back,
    /// and what this run sends is checked against the recording. Stops at the first
    /// difference and names it (endpoint, byte offset, expected and got).
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

impl SessionArgs {
    pub fn replaying(&self) -> bool {
        self.replay.is_some()
    }
}

/// The recorder of this process, for the observer that notes steps.
static RECORDER: OnceLock<Arc<Recorder>> = OnceLock::new();
/// The event log of this process's session, when one is kept.
static LOG: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

/// Where `update` keeps its last session.
pub fn last_session_dir() -> PathBuf {
    let journal = modemflash::exec::Journal::default_path("x");
    journal.parent().map_or_else(|| PathBuf::from("last-session"), |p| p.join("last-session"))
}

/// What a command's recording or replay needs at the end.
#[derive(Debug, Default)]
pub struct Session {
    recorder: Option<Arc<Recorder>>,
    record_path: Option<PathBuf>,
    replay: Option<ReplayBus>,
    /// The last-session directory, when this command keeps one.
    last: Option<PathBuf>,
    command: String,
}

fn open_recorder(path: &Path, command: &str, whole: bool) -> Result<Arc<Recorder>, u8> {
    Recorder::create(path, command, whole).map_err(|e| {
        error!("--record {}: {e}; pass a path in a writable directory", path.display());
        exit::USAGE
    })
}

/// The bus for `command`: a replay, or the module's bus (recorded when asked, and for
/// `keep_last` always into the last-session directory).
pub fn bus(
    endpoints: &EndpointArgs,
    args: &SessionArgs,
    command: &str,
    keep_last: bool,
) -> Result<(Box<dyn ModuleBus>, Session), u8> {
    let mut session = Session { command: command.into(), ..Session::default() };
    if let Some(path) = &args.replay {
        let (bus, _header) = ReplayBus::open(path).map_err(|e| {
            error!("--replay {}: {e}", path.display());
            exit::USAGE
        })?;
        session.replay = Some(bus.clone());
        return Ok((Box::new(bus), session));
    }
    let inner = target::bus(endpoints)?;
    let last = keep_last.then(last_session_dir).filter(|d| prepare_last(d));
    let (path, whole) = match (&args.record, &last) {
        (Some(p), _) => (p.clone(), args.record_data),
        (None, Some(d)) => (d.join("recording.jsonl"), false),
        (None, None) => return Ok((inner, session)),
    };
    let rec = match open_recorder(&path, command, whole) {
        Ok(r) => r,
        // The default recording is a convenience: never a reason not to run.
        Err(_) if args.record.is_none() => return Ok((inner, session)),
        Err(code) => return Err(code),
    };
    if let Some(Ok(f)) = last.as_ref().map(|d| std::fs::File::create(d.join("events.jsonl"))) {
        let _ = LOG.set(Mutex::new(f));
    }
    let _ = RECORDER.set(Arc::clone(&rec));
    session.recorder = Some(Arc::clone(&rec));
    session.record_path = Some(path);
    session.last = last;
    Ok((Box::new(RecordingBus::new(inner, rec)), session))
}

/// Empty the last-session directory (a new session begins); false when it cannot be made.
fn prepare_last(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    for name in ["recording.jsonl", "events.jsonl", "session.json"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    true
}

/// The recorder for a command that records without a bus of its own (`info`, `list`):
/// `None` unless --record was given.
pub fn recorder(args: &SessionArgs, command: &str) -> Result<Option<Arc<Recorder>>, u8> {
    args.record.as_deref().map(|p| open_recorder(p, command, args.record_data)).transpose()
}

impl Session {
    /// After the command: say where the recording is, or how the replay went. Returns
    /// the exit code to use (a replay that left the recording fails).
    pub fn finish(&self, code: u8) -> u8 {
        if let Some(replay) = &self.replay {
            if let Some(d) = replay.finish() {
                error!("{d}");
                return exit::FAILED;
            }
            if code == exit::OK {
                tell!("replay: the run matched the recording");
            }
            return code;
        }
        if let Some(e) = self.recorder.as_ref().and_then(|r| r.error()) {
            tell!("warning: the recording is incomplete: {e}");
        }
        if let Some(dir) = &self.last {
            let doc = serde_json::json!({
                "command": self.command,
                "exit": code,
                "finished_unix": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                "recording": self.record_path,
            });
            let _ = std::fs::write(dir.join("session.json"), doc.to_string());
            // A recording made elsewhere (--record FILE) is copied in for `report`.
            if let Some(p) = &self.record_path {
                let into = dir.join("recording.jsonl");
                if p != &into {
                    let _ = std::fs::copy(p, into);
                }
            }
        }
        if let (Some(p), Some(_)) = (&self.record_path, &self.recorder)
            && self.last.as_ref().is_none_or(|d| !p.starts_with(d))
        {
            tell!("recording: {}", p.display());
        }
        code
    }
}

/// The observer to run with: `inner`, plus step notes in the recording and the event log
/// of the last session, when this process keeps them.
pub fn observer<'a>(inner: &'a mut dyn Observer) -> Box<dyn Observer + 'a> {
    let logged: Box<dyn Observer + 'a> = Box::new(Logged { inner });
    match RECORDER.get() {
        Some(rec) => Box::new(Owned { notes: logged, recorder: Arc::clone(rec) }),
        None => logged,
    }
}

struct Logged<'a> {
    inner: &'a mut dyn Observer,
}

impl Observer for Logged<'_> {
    fn event(&mut self, event: &Event) {
        if let Some(log) = LOG.get() {
            let mut f = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Ok(s) = serde_json::to_string(event) {
                let _ = writeln!(f, "{s}");
            }
        }
        self.inner.event(event);
    }
}

struct Owned<'a> {
    notes: Box<dyn Observer + 'a>,
    recorder: Arc<Recorder>,
}

impl Observer for Owned<'_> {
    fn event(&mut self, event: &Event) {
        StepNotes { inner: self.notes.as_mut(), recorder: Arc::clone(&self.recorder) }.event(event);
    }
}
