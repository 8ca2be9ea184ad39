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
    #[error("backup step {}: {}", .0.step, .0.message)]
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
