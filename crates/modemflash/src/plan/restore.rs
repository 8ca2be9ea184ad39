//! Restore plans (`docs/backup.md`): write a backup's partition files back with Firehose,
//! in the order that keeps the boot chain recoverable, as the update does
//! (docs/facts/firehose.md, QFirehose's NAND order): the SBL (the partition at sector 0)
//! is erased first, so an interrupted restore leaves a module that boots into EDL again,
//! and written last, once everything it loads is in place.
//!
//! Every erase and program is durable and journaled; a rerun writes everything again,
//! which is always safe because each partition is erased before it is written.
//! MDM9615 backups hold NV items only: there is nothing to write back through the
//! programmer.

use std::path::Path;

use super::{Assembly, DeviceMode, Flow, ModuleState, Op, Plan, PlanError, Step};
use crate::backup::{Manifest, PartitionFile};
use crate::package::geometry::PackageGeometry;
use crate::package::{EraseLine, Package, ProgramEntry, Sector};

const POWER_RESET_DELAY_SECS: u32 = 10;

fn step(id: String, title: String, needs: DeviceMode, leads_to: Option<DeviceMode>, op: Op) -> Step {
    Step { id, title, needs, leads_to, durable: false, bytes: 0, op }
}

fn kv(k: &str, v: &impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

/// Build the plan that writes the backup in `dir` (described by `manifest`) back, with
/// `package`'s programmer.
pub fn restore(
    package: &Package,
    module: &ModuleState,
    manifest: &Manifest,
    dir: &Path,
) -> Result<Plan, PlanError> {
    let layout = package.firehose.as_ref().ok_or(PlanError::Unsupported(
        "restores without a Firehose package (MDM9615 backups hold NV only)",
    ))?;
    if manifest.partitions.is_empty() {
        return Err(PlanError::Unsupported("restores of a backup without partition files"));
    }
    let programmer = layout.programmer.clone().ok_or(PlanError::InvalidPackage(1))?;
    let ppb = PackageGeometry::of(layout).pages_per_block.first().copied();
    let mut steps = Vec::new();
    match module.mode {
        DeviceMode::Normal => steps.push(step(
            "diag:edl".into(),
            "switch to EDL (DIAG 4B 65 01 00)".into(),
            DeviceMode::Normal,
            Some(DeviceMode::Edl),
            Op::DiagToEdl,
        )),
        DeviceMode::Edl => {}
        other => return Err(PlanError::CannotStartFrom(other.name(), "restore")),
    }
    steps.push(step(
        "sahara:upload".into(),
        "upload the Firehose programmer over Sahara".into(),
        DeviceMode::Edl,
        None,
        Op::SaharaUpload { programmer, probe: super::EdlProbe::default() },
    ));
    steps.push(step(
        "firehose:configure".into(),
        "Firehose configure (nand)".into(),
        DeviceMode::Edl,
        None,
        Op::FirehoseConfigure { memory: super::firehose::MEMORY_NAME.into() },
    ));
    steps.push(step(
        "firehose:geometry".into(),
        "check the NAND geometry against the chip (getstorageinfo)".into(),
        DeviceMode::Edl,
        None,
        Op::FirehoseCheckGeometry,
    ));
    let is_sbl = |p: &PartitionFile| p.start_sector == 0;
    // `PAGES_PER_BLOCK` rides along as the package's own lines carry it.
    let extra = || ppb.map(|b| vec![kv("PAGES_PER_BLOCK", &b)]).unwrap_or_default();
    let erase = |p: &PartitionFile| {
        let own = p.length.div_ceil(u64::from(p.sector_size.max(1)));
        // Erases cover whole blocks; a backup taken from this layout already does.
        let sectors = match ppb {
            Some(b) if b > 0 => own.div_ceil(b).saturating_mul(b),
            _ => own,
        };
        let erase = EraseLine {
            sector_size: p.sector_size,
            num_partition_sectors: sectors,
            start_sector: Sector::At(p.start_sector),
            physical_partition_number: None,
            extra: extra(),
        };
        let mut s = step(
            format!("restore:erase:{}", p.label),
            format!("erase {} ({sectors} sectors from sector {})", p.label, p.start_sector),
            DeviceMode::Edl,
            None,
            Op::FirehoseErase { erase },
        );
        s.durable = true;
        s
    };
    let program = |p: &PartitionFile| {
        let file = dir.join(&p.file).to_string_lossy().into_owned();
        let program = ProgramEntry {
            label: p.label.clone(),
            file,
            file_size: p.length,
            filename: p.file.clone(),
            sector_size: p.sector_size,
            start_sector: Sector::At(p.start_sector),
            physical_partition_number: 0,
            num_partition_sectors: p.length.div_ceil(u64::from(p.sector_size.max(1))),
            sparse: false,
            extra: extra(),
        };
        let mut s = step(
            format!("restore:program:{}", p.label),
            format!("write {} back ← {}", p.label, p.file),
            DeviceMode::Edl,
            None,
            Op::FirehoseProgram { program },
        );
        s.durable = true;
        s.bytes = p.length;
        s
    };
    let parts = &manifest.partitions;
    steps.extend(parts.iter().filter(|p| is_sbl(p)).map(erase));
    steps.extend(parts.iter().filter(|p| !is_sbl(p)).map(erase));
    steps.extend(parts.iter().filter(|p| !is_sbl(p)).map(program));
    steps.extend(parts.iter().filter(|p| is_sbl(p)).map(program));
    steps.push(step(
        "firehose:power".into(),
        "power reset; the module boots the restored firmware".into(),
        DeviceMode::Edl,
        Some(DeviceMode::Normal),
        Op::FirehosePowerReset { delay_secs: Some(POWER_RESET_DELAY_SECS) },
    ));
    let expected = manifest.identity.revision.clone();
    steps.push(step(
        "verify".into(),
        expected.as_ref().map_or("read the revision".into(), |r| format!("verify the module reports {r}")),
        DeviceMode::Normal,
        None,
        Op::Verify { expected: expected.clone() },
    ));
    let mut plan = Assembly {
        package,
        module,
        flow: Flow::Firehose9x07,
        expected,
        steps,
        skipped: Vec::new(),
        notes: vec![format!("restoring the backup in {}", dir.display())],
    }
    .finish();
    // A journal record of its own: not the update's of the same package.
    let digest: String = parts.iter().map(|p| p.sha256.get(..8).unwrap_or("")).collect();
    plan.fingerprint = format!("restore-{}", digest.get(..32).unwrap_or(&digest));
    Ok(plan)
}
