//! Run a whole backup (`docs/backup.md`): identify the module, plan the reads
//! (`plan::backup`), run them with the executor (journal in memory: a backup is re-run,
//! not resumed), then hash what was written and write the manifest last.

use std::path::Path;

use super::{ExecError, ExecOptions, Journal, Observer, Outcome};
use crate::backup::{BackupError, BackupIdentity, MANIFEST, Manifest, load_nv};
use crate::discovery::{BusError, ModuleBus};
use crate::package::Package;
use crate::plan::PlanError;

/// Why a backup did not finish.
#[derive(Debug, thiserror::Error)]
pub enum BackupRunError {
    #[error("no module found")]
    NoModule,
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("backup step {}: {}", .0.step, .0.message())]
    Exec(#[source] Box<ExecError>),
    #[error(transparent)]
    Files(#[from] BackupError),
    #[error(
        "{0} already holds a backup ({MANIFEST}); choose a new folder so the old backup is not overwritten"
    )]
    NotEmpty(String),
}

/// What a finished backup holds.
#[derive(Debug, Clone)]
pub struct BackupDone {
    pub manifest: Manifest,
    pub outcome: Outcome,
}

/// Back up the module on `bus` into the folder `out` (created when missing), using the
/// package's programmer and layout where partitions are read.
pub fn backup(
    package: &Package,
    bus: &mut dyn ModuleBus,
    out: &Path,
    observer: &mut dyn Observer,
    opts: &ExecOptions,
) -> Result<BackupDone, BackupRunError> {
    if out.join(MANIFEST).exists() {
        return Err(BackupRunError::NotEmpty(out.display().to_string()));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| BackupError::Io { path: out.display().to_string(), source: e })?;
    let state = super::identify(bus)?.ok_or(BackupRunError::NoModule)?;
    let bp = crate::plan::backup::backup(package, &state, out)?;
    let mut journal = Journal::in_memory();
    let outcome = super::run(&bp.plan, package, bus, &mut journal, observer, opts)
        .map_err(|e| BackupRunError::Exec(Box::new(e)))?;
    let nv = load_nv(out)?;
    let identity = BackupIdentity {
        imei: nv.and_then(|n| n.imei),
        chip_serial: None,
        revision: state.revision.clone().or_else(|| outcome.revision_after.clone()),
    };
    let manifest = crate::backup::finish(out, &bp.plan, identity, &bp.not_backed_up)?;
    Ok(BackupDone { manifest, outcome })
}

/// Why a restore did not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("no module found")]
    NoModule,
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Files(#[from] BackupError),
    #[error(
        "the backup is of the module with IMEI {backup}; this module's IMEI is {module}. Nothing was written. \
         Restore a backup of this module, or pass --force to write this one anyway"
    )]
    OtherModule { backup: String, module: String },
    #[error(
        "cannot tell whether the backup belongs to this module: {why}. Nothing was written. Start with the \
         module in normal mode, or pass --force"
    )]
    Unknown { why: String },
    #[error("restore step {}: {}", .0.step, .0.message())]
    Exec(#[source] Box<ExecError>),
}

/// The module's IMEI from NV item 550, when DIAG answers.
fn module_imei(bus: &mut dyn ModuleBus, opts: &ExecOptions) -> Result<Option<String>, String> {
    use crate::protocol::diag::nv::{NV_UE_IMEI_I, NvStatus, imei_from_nv};
    let link = bus.open(crate::discovery::Port::Dm).map_err(|e| e.to_string())?;
    let mut diag = crate::protocol::diag::DiagClient::new(link);
    if let Some(t) = opts.reply_timeout {
        diag.set_reply_timeout(t);
    }
    let nv = diag.nv_read(NV_UE_IMEI_I).map_err(|e| e.to_string())?;
    Ok((nv.status == NvStatus::Ok).then(|| imei_from_nv(&nv.data)).flatten())
}

/// Write the backup in `dir` back onto the module on `bus` (`plan::restore`), after
/// checking that it is this module's (its IMEI in normal mode) unless `force`.
pub fn restore(
    package: &Package,
    bus: &mut dyn ModuleBus,
    dir: &Path,
    force: bool,
    journal: &mut Journal,
    observer: &mut dyn Observer,
    opts: &ExecOptions,
) -> Result<Outcome, RestoreError> {
    let manifest = crate::backup::load(dir)?;
    let state = super::identify(bus)?.ok_or(RestoreError::NoModule)?;
    if !force {
        let theirs = manifest.identity.imei.clone();
        let ours = if state.mode == crate::plan::DeviceMode::Normal {
            module_imei(bus, opts)
                .map_err(|why| RestoreError::Unknown { why: format!("reading its IMEI: {why}") })?
        } else {
            return Err(RestoreError::Unknown {
                why: format!("the module is in {} mode, where it shows no IMEI", state.mode.name()),
            });
        };
        match (theirs, ours) {
            (Some(b), Some(m)) if b == m => {}
            (Some(b), Some(m)) => return Err(RestoreError::OtherModule { backup: b, module: m }),
            (None, _) => return Err(RestoreError::Unknown { why: "the backup records no IMEI".into() }),
            (_, None) => return Err(RestoreError::Unknown { why: "the module's NV holds no IMEI".into() }),
        }
    }
    let plan = crate::plan::restore::restore(package, &state, &manifest, dir)?;
    super::run(&plan, package, bus, journal, observer, opts).map_err(|e| RestoreError::Exec(Box::new(e)))
}
