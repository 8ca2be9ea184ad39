//! Running a plan: wait for the mode each step needs, drive the protocol client, record
//! the step in the journal, report progress. A rerun after any interruption continues
//! from the journal.

mod event;
mod firehose_ops;
mod journal;
mod ops;

use std::time::{Duration, Instant};

pub use event::{Collect, Event, Observer, Quiet};
pub use journal::{Journal, JournalRecord};

use crate::discovery::{BusError, ModuleBus, Port};
use crate::package::Package;
use crate::plan::{DeviceMode, Plan, Step};
use crate::protocol::fastboot::client::FastbootOptions;
use crate::protocol::streaming::client::StreamingTimeouts;

/// How long a re-enumeration may take before a step gives up (QFlash polls up to 30×
/// with 1–10 s waits, `protocols.md` §8) [C]. Generous on purpose.
pub const MODE_TIMEOUT: Duration = Duration::from_secs(90);

/// Executor knobs.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Deadline for each wait for a mode.
    pub mode_timeout: Duration,
    pub fastboot: FastbootOptions,
    /// Streaming write block size (`None`: 1024 or what HELLO allows).
    pub streaming_block: Option<usize>,
    pub streaming: StreamingTimeouts,
    /// Per-reply timeout for DIAG and DMSS (`None`: the protocol defaults).
    pub reply_timeout: Option<Duration>,
}

impl ExecOptions {
    /// Every per-reply timeout set to `d` (simulators answer in microseconds; tests of
    /// stalls should not wait the real-hardware timeouts).
    #[must_use]
    pub fn with_reply_timeouts(mut self, d: Duration) -> Self {
        self.reply_timeout = Some(d);
        self.streaming.reply = d;
        self.streaming.retry_delay = d / 4;
        self.fastboot.command_timeout = d;
        self.fastboot.download_timeout = d;
        self.fastboot.flash_timeout = d;
        self.fastboot.erase_timeout = d;
        self
    }
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            mode_timeout: MODE_TIMEOUT,
            fastboot: FastbootOptions::default(),
            streaming_block: None,
            streaming: StreamingTimeouts::default(),
            reply_timeout: None,
        }
    }
}

/// What kind of failure, so the CLI can give the right remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The module did not show the expected mode in time.
    ModeTimeout,
    /// A port could not be opened.
    Open,
    /// The module refused or answered wrongly.
    Protocol,
    /// A package file could not be read or parsed.
    Package,
    /// The firmware lacks a command the flow needs.
    NotSupported,
    /// The module came back with an unexpected revision.
    Verify,
    /// The journal could not be written.
    Journal,
}

/// A failed step: which, where, what.
#[derive(Debug, Clone, thiserror::Error)]
#[error("step {step} ({title}) on {endpoint}: {message}")]
pub struct ExecError {
    pub step: String,
    pub title: String,
    pub endpoint: String,
    pub kind: FailureKind,
    pub message: String,
}

/// The end of a successful run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub revision_before: Option<String>,
    pub revision_after: Option<String>,
    pub expected_revision: Option<String>,
    /// What the run did to the revision (newer, the same, older, ...).
    pub change: crate::catalog::RevisionChange,
    pub steps_run: usize,
    pub steps_skipped: usize,
    pub bytes_written: u64,
    pub elapsed_ms: u64,
}

/// Run `plan` against the module on `bus`.
pub fn run(
    plan: &Plan,
    package: &Package,
    bus: &mut dyn ModuleBus,
    journal: &mut Journal,
    observer: &mut dyn Observer,
    opts: &ExecOptions,
) -> Result<Outcome, ExecError> {
    let started = Instant::now();
    let fail = |step: &Step, endpoint: String, kind: FailureKind, message: String| ExecError {
        step: step.id.clone(),
        title: step.title.clone(),
        endpoint,
        kind,
        message,
    };
    if let Some(first) = plan.steps.first() {
        journal
            .begin(&plan.fingerprint, &plan.package, plan.flow, plan.revision_before.clone())
            .map_err(|e| fail(first, journal_name(journal), FailureKind::Journal, e.to_string()))?;
    }
    for id in &plan.skipped {
        observer.event(&Event::StepSkipped { step: id.clone() });
    }
    let mut session = ops::Session::default();
    let mut revision_after = None;
    let mut bytes_written = 0;
    let total = plan.steps.len();
    for (index, step) in plan.steps.iter().enumerate() {
        observer.event(&Event::StepStarted {
            step: step.id.clone(),
            title: step.title.clone(),
            index,
            total,
            bytes: step.bytes,
        });
        let t0 = Instant::now();
        if session.mode != Some(step.needs) {
            session.close();
            observer.event(&Event::Waiting { step: step.id.clone(), mode: step.needs.name().into() });
            bus.wait_for(&[step.needs], opts.mode_timeout).map_err(|e| {
                let kind = if matches!(e, BusError::Timeout { .. }) {
                    FailureKind::ModeTimeout
                } else {
                    FailureKind::Open
                };
                fail(step, bus.endpoint(port_for(step.needs)), kind, e.to_string())
            })?;
            session.mode = Some(step.needs);
        }
        let mut cx = ops::Cx { bus: &mut *bus, package, observer: &mut *observer, opts, step };
        match ops::run(&mut session, &mut cx) {
            Ok(r) => {
                if let Some(rev) = r.revision {
                    revision_after = Some(rev);
                }
                bytes_written += r.bytes;
            }
            Err(e) => {
                session.close();
                return Err(fail(step, bus.endpoint(e.port), e.kind, e.message));
            }
        }
        if step.leads_to.is_some() {
            // The module leaves the bus: every open port is stale.
            session.close();
            session.mode = None;
        }
        journal
            .mark(&step.id)
            .map_err(|e| fail(step, journal_name(journal), FailureKind::Journal, e.to_string()))?;
        observer
            .event(&Event::StepDone { step: step.id.clone(), elapsed_ms: t0.elapsed().as_millis() as u64 });
    }
    session.close();
    if let Some(last) = plan.steps.last() {
        journal
            .complete()
            .map_err(|e| fail(last, journal_name(journal), FailureKind::Journal, e.to_string()))?;
    }
    // A resumed run met the module in a mode without a revision: the journal kept the one
    // it reported when the update began.
    let revision_before = plan
        .revision_before
        .clone()
        .or_else(|| journal.record.as_ref().and_then(|r| r.revision_before.clone()));
    let change = crate::catalog::RevisionChange::between(
        revision_before.as_deref(),
        revision_after.as_deref(),
        plan.expected_revision.as_deref(),
    );
    Ok(Outcome {
        revision_before,
        revision_after,
        expected_revision: plan.expected_revision.clone(),
        change,
        steps_run: total,
        steps_skipped: plan.skipped.len(),
        bytes_written,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

fn journal_name(j: &Journal) -> String {
    j.path().map_or_else(|| "(in-memory journal)".into(), |p| p.display().to_string())
}

/// The port a mode is reached through.
pub fn port_for(mode: DeviceMode) -> Port {
    match mode {
        DeviceMode::Normal | DeviceMode::Dload | DeviceMode::Streaming => Port::Dm,
        DeviceMode::Fastboot => Port::Fastboot,
        DeviceMode::Edl => Port::Edl,
    }
}

/// Every mode a module can be found in.
pub const ALL_MODES: [DeviceMode; 5] =
    [DeviceMode::Normal, DeviceMode::Dload, DeviceMode::Streaming, DeviceMode::Fastboot, DeviceMode::Edl];

/// Like [`identify`], but give a module that is re-enumerating (a rerun right after a
/// failure, a module still booting) up to `patience` to show up.
pub fn identify_waiting(
    bus: &mut dyn ModuleBus,
    patience: Duration,
) -> Result<Option<crate::plan::ModuleState>, BusError> {
    if let Some(s) = identify(bus)? {
        return Ok(Some(s));
    }
    match bus.wait_for(&ALL_MODES, patience) {
        Ok(_) => identify(bus),
        Err(BusError::Timeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Identify the module: its mode, and in normal mode its revision (DIAG 0x7C, else ATI).
pub fn identify(bus: &mut dyn ModuleBus) -> Result<Option<crate::plan::ModuleState>, BusError> {
    let Some(mode) = bus.detect()? else { return Ok(None) };
    let revision = if mode == DeviceMode::Normal { ops::read_revision(bus).ok() } else { None };
    Ok(Some(crate::plan::ModuleState { mode, revision }))
}
