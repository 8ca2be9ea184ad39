//! What every operation shares: the [`Session`] of clients kept open between steps, the
//! step's context [`Cx`], the error before the runner names the step ([`OpError`]),
//! opening a port, the progress throttle, package files, and the session's clients.

use super::error::{Cause, StepFailure};
use super::{Event, ExecOptions, FailureKind, Observer};
use crate::discovery::module_id::ModuleIdentity;
use crate::discovery::{ModuleBus, Port};
use crate::package::Package;
use crate::plan::{DeviceMode, Step};
use crate::protocol::fastboot::client::FastbootClient;
use crate::protocol::firehose::FirehoseClient;
use crate::protocol::streaming::client::StreamingClient;
use crate::transport::Transport;

/// Every link the executor holds: a port of the module as the bus opened it.
pub(super) type Link = Box<dyn Transport>;

/// Clients kept open between steps in the same mode (the streaming programmer's session
/// lives in the module, but the HELLO block size and buffered frames live here).
#[derive(Default)]
pub(super) struct Session {
    pub mode: Option<DeviceMode>,
    pub streaming: Option<StreamingClient<Link>>,
    pub fastboot: Option<FastbootClient<Link>>,
    /// The Firehose programmer's session (MDM9x07 flow, `firehose_ops.rs`).
    pub firehose: Option<FirehoseClient<Link>>,
    /// Identities the steps have seen (fastboot serialno, the Firehose chip serial); the
    /// runner checks and journals them after each step.
    pub learned: ModuleIdentity,
    /// The EDL link left by the chipset check (Sahara command mode), with the bytes it
    /// received past its last packet: the fresh HELLO is read from it by the upload.
    pub edl: Option<Link>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl Session {
    pub fn close(&mut self) {
        self.streaming = None;
        self.fastboot = None;
        self.firehose = None;
        self.edl = None;
    }
}

/// One step's context.
pub(super) struct Cx<'a> {
    pub bus: &'a mut dyn ModuleBus,
    pub package: &'a Package,
    pub observer: &'a mut dyn Observer,
    pub opts: &'a ExecOptions,
    pub step: &'a Step,
}

impl Cx<'_> {
    /// A device log line for this step.
    pub fn log(&mut self, text: String) {
        self.observer.event(&Event::DeviceLog { step: self.step.id.clone(), text });
    }

    /// A warning for this step.
    pub fn warn(&mut self, text: String) {
        self.observer.event(&Event::Warning { step: self.step.id.clone(), text });
    }

    /// Device log lines, trimmed, the empty ones left out.
    pub fn device_logs(&mut self, lines: &[String]) {
        for l in lines {
            let text = l.trim_end().to_owned();
            if !text.is_empty() {
                self.log(text);
            }
        }
    }
}

/// What a step produced.
#[derive(Debug, Default)]
pub(super) struct StepResult {
    pub revision: Option<String>,
    pub bytes: u64,
}

/// A step failure before the executor adds the step's name.
#[derive(Debug)]
pub(super) struct OpError {
    pub port: Port,
    pub kind: FailureKind,
    pub cause: Cause,
}

impl OpError {
    /// A failure on `port` whose kind follows from its cause.
    pub fn on(port: Port, cause: impl Into<Cause>) -> Self {
        let cause = cause.into();
        OpError { port, kind: cause.kind(), cause }
    }

    /// A failure on `port` of a given kind.
    pub fn kind(port: Port, kind: FailureKind, cause: impl Into<Cause>) -> Self {
        OpError { port, kind, cause: cause.into() }
    }
}

/// `map_err` helper: the error of a client on `port`, named by what happened.
pub(super) fn on<E: Into<Cause>>(port: Port) -> impl Fn(E) -> OpError {
    move |e| OpError::on(port, e)
}

pub(super) fn open(cx: &mut Cx<'_>, port: Port) -> Result<Link, OpError> {
    cx.bus.open(port).map_err(|e| OpError::kind(port, FailureKind::Open, e))
}

/// Progress events, about 200 per step at most.
pub(super) fn progress<'o>(observer: &'o mut dyn Observer, step: &'o str) -> impl FnMut(u64, u64) + 'o {
    let mut last = 0u64;
    move |done, total| {
        if done == total || done < last || done.saturating_sub(last) >= (total / 200).max(64 * 1024) {
            last = done;
            observer.event(&Event::Progress { step: step.to_owned(), done, total });
        }
    }
}

/// Resolve a plan file: package-relative, or an absolute path (temporary loaders).
pub(super) fn file_path(package: &Package, file: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(file);
    if p.is_absolute() { p.to_owned() } else { package.path_of(file) }
}

/// The error of a package file that cannot be read.
pub(super) fn file_error(port: Port, path: &std::path::Path, e: std::io::Error) -> OpError {
    OpError::on(port, Cause::File { path: path.display().to_string(), source: e })
}

/// Open a plan file, with its length.
pub(super) fn open_file(cx: &Cx<'_>, port: Port, file: &str) -> Result<(std::fs::File, u64), OpError> {
    let path = file_path(cx.package, file);
    let f = std::fs::File::open(&path).map_err(|e| file_error(port, &path, e))?;
    let len = f.metadata().map_err(|e| file_error(port, &path, e))?.len();
    Ok((f, len))
}

/// The session's streaming client, opened on the DM port when there is none.
pub(super) fn streaming<'s>(
    session: &'s mut Session,
    cx: &mut Cx<'_>,
) -> Result<&'s mut StreamingClient<Link>, OpError> {
    if session.streaming.is_none() {
        session.streaming = Some(StreamingClient::new(open(cx, Port::Dm)?).with_timeouts(cx.opts.streaming));
    }
    session.streaming.as_mut().ok_or_else(|| OpError::on(Port::Dm, StepFailure::SessionLost("streaming")))
}

/// The session's fastboot client. A new one must answer `getvar product` before the first
/// flash (`docs/facts/quectel.md`); its serial names the module where its LK tells one
/// (an EC20 R1's says only `MDM9615`).
pub(super) fn fastboot<'s>(
    session: &'s mut Session,
    cx: &mut Cx<'_>,
) -> Result<&'s mut FastbootClient<Link>, OpError> {
    if session.fastboot.is_none() {
        let mut client = FastbootClient::new(open(cx, Port::Fastboot)?, cx.opts.fastboot.clone());
        let product = client.getvar("product").map_err(on(Port::Fastboot))?;
        cx.log(format!("fastboot product: {product}"));
        if let Ok(serial) = client.getvar("serialno") {
            session.learned.set_fastboot(&serial, Some(&product));
        }
        session.fastboot = Some(client);
    }
    session.fastboot.as_mut().ok_or_else(|| OpError::on(Port::Fastboot, StepFailure::SessionLost("fastboot")))
}

/// The session's Firehose client; a fresh connection if the session has none (the
/// programmer keeps running across connections).
pub(super) fn firehose<'s>(
    session: &'s mut Session,
    cx: &mut Cx<'_>,
) -> Result<&'s mut FirehoseClient<Link>, OpError> {
    if session.firehose.is_none() {
        session.firehose = Some(FirehoseClient::new(open(cx, Port::Edl)?));
    }
    session.firehose.as_mut().ok_or_else(|| OpError::on(Port::Edl, StepFailure::SessionLost("Firehose")))
}
