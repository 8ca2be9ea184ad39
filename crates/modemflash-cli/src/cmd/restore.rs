//! `modemflash restore DIR --package PKG`: write a backup back (`docs/backup.md`), as a
//! journaled plan with the SBL erased first and written last, after checking that the
//! backup is this module's (its IMEI) unless `--force`.

use std::path::PathBuf;

use clap::Args;
use modemflash::exec::{self, FailureKind, Journal, Observer, RestoreError};

use super::target::{self, EndpointArgs};
use crate::out::RunResult;
use crate::{exit, ui};

/// Write a backup taken by `modemflash backup` back onto its module.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash restore ./ec25-backup --package ./EC25EFAR06A11M4G --port /dev/ttyUSB0\n\n\
The package provides the Firehose programmer (MDM9x07). MDM9615 backups hold NV items only\n\
and cannot be written back by this tool.\n\
Exit codes: 0 restored, 1 failed, 2 invalid package, 3 no module found, 64 usage error,\n\
130 stopped between steps.")]
pub struct RestoreCmd {
    /// The backup folder (with manifest.json).
    pub dir: PathBuf,
    /// Package directory or .zip whose Firehose programmer is used.
    #[arg(long, value_name = "PKG")]
    pub package: PathBuf,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Write the backup even when it cannot be shown to be this module's.
    #[arg(long)]
    pub force: bool,
    /// Journal file (default: $XDG_STATE_HOME/modemflash/journal-<fingerprint>.json).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// NDJSON events on stdout, then a `result` object.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for each re-enumeration.
    #[arg(long, value_name = "SECS", default_value_t = 90)]
    pub timeout: u64,
}

pub fn run(args: &RestoreCmd) -> u8 {
    let (pkg, mut bus, opts) =
        match target::open_for_run(&args.package, &args.endpoints, args.json, args.timeout) {
            Ok(t) => t,
            Err(code) => return code,
        };
    let mut journal = match &args.journal {
        Some(p) => Journal::open(p),
        None => Journal::open(&Journal::default_path("restore")),
    };
    let mut human = ui::Human::new();
    let mut machine = ui::Json::default();
    let observer: &mut dyn Observer = if args.json { &mut machine } else { &mut human };
    let mut observer = super::session::observer(observer);
    let result =
        exec::restore(&pkg, bus.as_mut(), &args.dir, args.force, &mut journal, observer.as_mut(), &opts);
    drop(observer);
    let code = match &result {
        Ok(out) if !args.json => {
            say!(
                "Restored {} onto the module; it reports {}.",
                args.dir.display(),
                out.revision_after.as_deref().unwrap_or("no revision")
            );
            exit::OK
        }
        Ok(_) => exit::OK,
        Err(RestoreError::NoModule) => {
            error!("restore: no module found; check the cable and `modemflash list`");
            exit::NO_MODULE
        }
        Err(RestoreError::Exec(e)) if e.kind == FailureKind::Cancelled => {
            tell!(
                "Stopped before step {}, as asked. Run the same command again to write the backup again.",
                e.step
            );
            exit::INTERRUPTED
        }
        Err(e) => {
            error!("restore of {}: {e}", args.dir.display());
            exit::FAILED
        }
    };
    if args.json {
        let mut r = RunResult::new(code);
        if let Ok(out) = &result {
            r.outcome = serde_json::to_value(out).ok();
        }
        r.emit();
    }
    code
}
