//! `modemflash backup --package PKG --out DIR`: read the module back (`docs/backup.md`):
//! its NV items in normal mode, and on the 9x07 every partition the package writes,
//! through the package's Firehose programmer. Also the first step of `update` in normal
//! mode.

use std::path::{Path, PathBuf};

use clap::Args;
use modemflash::backup::Manifest;
use modemflash::discovery::ModuleBus;
use modemflash::exec::{self, BackupRunError, ExecOptions, Observer};
use modemflash::package::Package;

use super::target::{self, EndpointArgs};
use crate::out::RunResult;
use crate::{exit, ui};

/// Back up a module: NV items (IMEI, provisioning) and the partitions an update rewrites.
///
/// Writes `<label>.bin` per partition, `nv.json` and, last, `manifest.json` (identity,
/// revision, each file's offset, length and SHA-256). Every file is written under a
/// temporary name and renamed when complete.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash backup --package ./EC25EFAR06A11M4G --port /dev/ttyUSB0 --out ./ec25-backup\n  \
  modemflash backup --package ./fw.zip --out ./bk --json\n\n\
The package provides the Firehose programmer and the partition layout (MDM9x07). On the\n\
MDM9615 (EC20 R1) only the NV items can be read: its programmer reads no NAND.\n\
Exit codes: 0 backed up, 1 failed (nothing half-written is left under a real name), 2 invalid\n\
package, 3 no module found, 64 usage error.")]
pub struct BackupCmd {
    /// Package directory or .zip whose programmer and layout are used.
    #[arg(long, value_name = "PKG")]
    pub package: PathBuf,
    /// Folder for the backup (created; must not hold a backup already).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// NDJSON events on stdout, then a `result` object holding the manifest.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for each re-enumeration.
    #[arg(long, value_name = "SECS", default_value_t = 90)]
    pub timeout: u64,
}

pub fn run(args: &BackupCmd) -> u8 {
    let (pkg, mut bus, opts) =
        match target::open_for_run(&args.package, &args.endpoints, args.json, args.timeout) {
            Ok(t) => t,
            Err(code) => return code,
        };
    match take(&pkg, bus.as_mut(), &args.out, args.json, &opts, None) {
        Ok(m) => {
            if args.json {
                let mut r = RunResult::new(exit::OK);
                r.outcome = serde_json::to_value(&m).ok();
                r.emit();
            }
            exit::OK
        }
        Err(code) => {
            if args.json {
                RunResult::new(code).emit();
            }
            code
        }
    }
}

/// Take a backup into `dir`, with progress; prints a summary. Shared with `update`.
pub fn take(
    pkg: &Package,
    bus: &mut dyn ModuleBus,
    dir: &Path,
    json: bool,
    opts: &ExecOptions,
    module: Option<&ui::ModuleRef>,
) -> Result<Manifest, u8> {
    let mut human = ui::Human::new();
    // Within `update`, the backup's events name the module like the update's (docs/json.md).
    let mut machine = ui::Json { module: module.cloned() };
    let observer: &mut dyn Observer = if json { &mut machine } else { &mut human };
    let mut observer = super::session::observer(observer);
    let result = exec::backup(pkg, bus, dir, observer.as_mut(), opts);
    drop(observer);
    match result {
        Ok(done) => {
            let m = done.manifest;
            if !json {
                say!(
                    "Backed up into {}: {} partition file(s), NV {}, IMEI {}.",
                    dir.display(),
                    m.partitions.len(),
                    if m.nv.is_some() { "kept" } else { "not read" },
                    m.identity.imei.as_deref().unwrap_or("unknown")
                );
                for n in &m.not_backed_up {
                    say!("  not backed up: {n}");
                }
            }
            Ok(m)
        }
        Err(BackupRunError::NoModule) => {
            error!("backup: no module found; check the cable and `modemflash list`");
            Err(exit::NO_MODULE)
        }
        Err(BackupRunError::Exec(e)) if e.kind == exec::FailureKind::Cancelled => {
            tell!(
                "Backup stopped as asked; the files finished so far are complete, the manifest is not written."
            );
            Err(exit::INTERRUPTED)
        }
        Err(e) => {
            error!("backup into {} failed: {e}", dir.display());
            Err(exit::FAILED)
        }
    }
}
