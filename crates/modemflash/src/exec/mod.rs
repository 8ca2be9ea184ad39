//! Running a plan: wait for the mode each step needs, drive the protocol client, record
//! the step in the journal, report progress. A rerun after any interruption continues
//! from the journal.

mod backup_ops;
mod backup_run;
mod chip_ops;
mod dispatch;
mod error;
mod event;
mod firehose_ops;
mod firehose_sparse;
mod geometry_op;
mod journal;
mod journal_match;
mod journal_record;
mod ops;
mod step;
mod whois;

use std::time::{Duration, Instant};

pub use backup_run::{BackupDone, BackupRunError, RestoreError, backup, restore};
pub use error::{Cause, SparseProblem, StepFailure};
pub use event::{Collect, Event, Observer, Quiet};
pub use journal::{Basis, FailureRecord, Journal, JournalMatch, JournalRecord};
pub use whois::{Depth, read_identity};

use crate::discovery::module_id::{Comparison, ModuleIdentity};

use crate::discovery::{BusError, ModuleBus, Port};
use crate::package::Package;
use crate::plan::{DeviceMode, Plan, Step};
use crate::protocol::fastboot::client::FastbootOptions;
use crate::protocol::streaming::client::StreamingTimeouts;

/// How long a re-enumeration may take before a step gives up (QFlash polls up to 30×
/// with 1–10 s waits, `docs/facts/usb.md`) [confirmed]. Generous on purpose.
pub const MODE_TIMEOUT: Duration = Duration::from_secs(90);

/// A request to stop, shared between whoever asks (a signal handler in a program) and the
/// executor, which looks at it between steps and while waiting for a mode. The step in
/// progress is finished, never cut off mid-exchange, so the journal and the module agree.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Ask the executor to stop at the next safe point.
    pub fn request(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    #[must_use]
    pub fn requested(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How long one slice of a wait for a mode lasts before the executor looks at [`Cancel`].
const WAIT_SLICE: Duration = Duration::from_millis(500);

/// Executor knobs.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Stop between steps when requested.
    pub cancel: Cancel,
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
            cancel: Cancel::default(),
            mode_timeout: MODE_TIMEOUT,
            fastboot: FastbootOptions::default(),
            streaming_block: None,
            streaming: StreamingTimeouts::default(),
            reply_timeout: None,
        }
    }
}

/// What kind of failure, so the CLI can give the right remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The module did not show the expected mode in time.
    ModeTimeout,
    /// A port could not be opened.
    Open,
    /// The module answered something that does not fit the protocol.
    Protocol,
    /// The module said no (a NAK, a FAIL, an error code).
    Refused,
    /// The module stopped answering within the allowed time (it is still on the bus).
    Timeout,
    /// The link went away mid-exchange (cable, power, a reset).
    Disconnected,
    /// A package file could not be read or parsed.
    Package,
    /// The firmware lacks a command the flow needs.
    NotSupported,
    /// The module came back with an unexpected revision.
    Verify,
    /// The journal could not be written.
    Journal,
    /// Stopped on request ([`Cancel`]) between steps: nothing is half-done.
    Cancelled,
    /// The module on the bus is positively another one than the run started on (an
    /// identity it shows differs from one seen earlier in the run).
    WrongModule,
    /// The module's chipset is not the package's (or could not be told): nothing was
    /// written, and rerunning will not help.
    WrongChipset,
}

/// A failed step: which, where, what, and its typed cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("step {step} ({title}) on {endpoint}: {cause}")]
pub struct ExecError {
    pub step: String,
    pub title: String,
    pub endpoint: String,
    pub kind: FailureKind,
    /// The mode the step needs (the one waited for when the kind is `ModeTimeout`).
    pub mode: DeviceMode,
    /// Why: the protocol client's error, a package file, or the executor's own finding.
    #[source]
    pub cause: std::sync::Arc<Cause>,
    /// `Some(n)`: the n-th run in a row (n ≥ 2) that failed at this step in this way, per
    /// the journal. A rerun alone will not help.
    pub repeated_failure: Option<u32>,
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

impl ExecError {
    /// The cause's text, without the step.
    #[must_use]
    pub fn message(&self) -> String {
        self.cause.to_string()
    }
}

/// The error of `step` failing at `endpoint` (not yet counted as a repeat).
fn step_error(step: &Step, endpoint: String, kind: FailureKind, cause: impl Into<Cause>) -> ExecError {
    ExecError {
        step: step.id.clone(),
        title: step.title.clone(),
        endpoint,
        kind,
        mode: step.needs,
        cause: std::sync::Arc::new(cause.into()),
        repeated_failure: None,
    }
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

    if let Some(first) = plan.steps.first() {
        journal
            .begin(&plan.fingerprint, &plan.package, plan.flow, plan.revision_before.clone())
            .map_err(|e| step_error(first, journal_name(journal), FailureKind::Journal, Cause::Journal(e)))?;
    }
    for id in &plan.skipped {
        observer.event(&Event::StepSkipped { step: id.clone() });
    }
    let result = run_steps(plan, package, bus, journal, observer, opts, started);
    result.map_err(|mut e| {
        // A rerun that fails the same way in the same place says so.
        // A stop on request is no failure of the module.
        if !matches!(e.kind, FailureKind::Journal | FailureKind::Cancelled)
            && let Ok(n) = journal.fail(&e.step, e.kind)
        {
            e.repeated_failure = (n >= 2).then_some(n);
        }
        e
    })
}

fn run_steps(
    plan: &Plan,
    package: &Package,
    bus: &mut dyn ModuleBus,
    journal: &mut Journal,
    observer: &mut dyn Observer,
    opts: &ExecOptions,
    started: Instant,
) -> Result<Outcome, ExecError> {
    // Every identity the module shows during the run must agree with what was known.
    let mut known = journal.active().map(|r| r.module.clone()).unwrap_or_default();
    let mut session = step::Session::default();
    let mut revision_after = None;
    let mut bytes_written = 0;
    let total = plan.steps.len();
    for (index, step) in plan.steps.iter().enumerate() {
        if opts.cancel.requested() {
            return Err(cancelled(step, bus));
        }
        observer.event(&Event::StepStarted {
            step: step.id.clone(),
            title: step.title.clone(),
            index,
            total,
            bytes: step.bytes,
        });
        if session.mode != Some(step.needs) {
            session.close();
            observer.event(&Event::Waiting { step: step.id.clone(), mode: step.needs.name().into() });
            match wait_mode(bus, step.needs, opts) {
                Ok(()) => {}
                Err(None) => return Err(cancelled(step, bus)),
                Err(Some(e)) => {
                    let kind = if matches!(e, BusError::Timeout { .. }) {
                        FailureKind::ModeTimeout
                    } else {
                        FailureKind::Open
                    };
                    return Err(step_error(step, bus.endpoint(port_for(step.needs)), kind, e));
                }
            }
            session.mode = Some(step.needs);
            let seen = read_identity(bus, step.needs, Depth::Light);
            check_identity(&mut known, &seen, journal).map_err(|m| {
                step_error(step, bus.endpoint(port_for(step.needs)), FailureKind::WrongModule, m)
            })?;
            let _ = journal.expect(step.needs);
        }
        // Timed from here: the wait for re-enumeration is not part of the step's speed.
        let t0 = Instant::now();
        let mut cx = step::Cx { bus: &mut *bus, package, observer: &mut *observer, opts, step };
        match dispatch::run(&mut session, &mut cx) {
            Ok(r) => {
                if let Some(rev) = r.revision {
                    revision_after = Some(rev);
                }
                bytes_written += r.bytes;
            }
            Err(e) => {
                session.close();
                return Err(step_error(step, bus.endpoint(e.port), e.kind, e.cause));
            }
        }
        let learned = std::mem::take(&mut session.learned);
        check_identity(&mut known, &learned, journal)
            .map_err(|m| step_error(step, bus.endpoint(port_for(step.needs)), FailureKind::WrongModule, m))?;
        if let Some(next) = step.leads_to {
            // The module leaves the bus: every open port is stale.
            session.close();
            session.mode = None;
            let _ = journal.expect(next);
        }
        journal
            .mark(&step.id)
            .map_err(|e| step_error(step, journal_name(journal), FailureKind::Journal, Cause::Journal(e)))?;
        observer
            .event(&Event::StepDone { step: step.id.clone(), elapsed_ms: t0.elapsed().as_millis() as u64 });
    }
    session.close();
    if let Some(last) = plan.steps.last() {
        journal
            .complete()
            .map_err(|e| step_error(last, journal_name(journal), FailureKind::Journal, Cause::Journal(e)))?;
    }
    // A resumed run met the module in a mode without a revision: the journal kept the one
    // it reported when the update began.
    let revision_before =
        plan.revision_before.clone().or_else(|| journal.active().and_then(|r| r.revision_before.clone()));
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

/// Wait for `mode` in slices, looking at the cancel flag between them. `Err(None)`: cancelled.
/// The slices add up to the whole timeout in the bus's own time (a virtual clock included).
fn wait_mode(bus: &mut dyn ModuleBus, mode: DeviceMode, opts: &ExecOptions) -> Result<(), Option<BusError>> {
    let mut left = opts.mode_timeout;
    loop {
        let slice = left.min(WAIT_SLICE);
        left = left.saturating_sub(slice);
        match bus.wait_for(&[mode], slice) {
            Ok(_) => return Ok(()),
            Err(BusError::Timeout { wanted, seen, .. }) if left.is_zero() => {
                return Err(Some(BusError::Timeout { wanted, waited: opts.mode_timeout, seen }));
            }
            Err(BusError::Timeout { .. }) if opts.cancel.requested() => return Err(None),
            Err(BusError::Timeout { .. }) => {}
            Err(e) => return Err(Some(e)),
        }
    }
}

/// The error for a stop on request before `step`.
fn cancelled(step: &Step, bus: &dyn ModuleBus) -> ExecError {
    step_error(step, bus.endpoint(port_for(step.needs)), FailureKind::Cancelled, StepFailure::Cancelled)
}

/// Compare what the module shows now with what the run knows; learn and journal it when
/// it agrees. `Err` names the identity that differs.
fn check_identity(
    known: &mut ModuleIdentity,
    seen: &ModuleIdentity,
    journal: &mut Journal,
) -> Result<(), StepFailure> {
    if let Comparison::Other { kind, recorded, seen: now } = known.compare(seen) {
        return Err(StepFailure::OtherModule {
            what: kind.name(),
            seen: now,
            recorded,
            journaled: journal.active().is_some_and(|r| !r.done.is_empty()),
        });
    }
    let before = known.clone();
    known.merge(seen);
    if *known != before {
        // A journal that cannot be written fails the next step's mark, with its reason.
        let _ = journal.learn(known);
    }
    Ok(())
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

/// What answers on an EDL interface: `true` for a running Firehose programmer, `false` for
/// a boot ROM (Sahara) or anything else (`protocol::edl::probe` with its default policy).
/// Public for tools and the fuzz target.
pub fn probe_edl(
    link: &mut Box<dyn crate::transport::Transport>,
) -> Result<bool, crate::transport::TransportError> {
    crate::protocol::edl::probe(link, &crate::protocol::edl::EdlProbe::default()).map(|f| f.is_firehose())
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

/// A module as found: its state for the planner and who it is for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    pub state: crate::plan::ModuleState,
    pub identity: ModuleIdentity,
}

/// [`identify`], and read the module's identity too (with [`Depth::Full`], Sahara
/// command mode in EDL).
pub fn identify_module(bus: &mut dyn ModuleBus, depth: Depth) -> Result<Option<Identified>, BusError> {
    let Some(state) = identify(bus)? else { return Ok(None) };
    let identity = read_identity(bus, state.mode, depth);
    Ok(Some(Identified { state, identity }))
}

/// [`identify_waiting`] with the identity.
pub fn identify_module_waiting(
    bus: &mut dyn ModuleBus,
    patience: Duration,
    depth: Depth,
) -> Result<Option<Identified>, BusError> {
    let Some(state) = identify_waiting(bus, patience)? else { return Ok(None) };
    let identity = read_identity(bus, state.mode, depth);
    Ok(Some(Identified { state, identity }))
}

/// Identify the module: its mode, in normal mode its revision (DIAG 0x7C, else ATI), and
/// the chipset its USB identity tells (the revision and the mode may tell it too, see
/// `plan::chip`).
pub fn identify(bus: &mut dyn ModuleBus) -> Result<Option<crate::plan::ModuleState>, BusError> {
    let Some(mode) = bus.detect()? else { return Ok(None) };
    let revision = if mode == DeviceMode::Normal { ops::read_revision(bus).ok() } else { None };
    Ok(Some(crate::plan::ModuleState { mode, revision, chip: bus.chip() }))
}
