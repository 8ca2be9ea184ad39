//! Backup plans (`docs/backup.md`): read a module back before it is written.
//!
//! - Normal mode: the NV items through DIAG (`backup::nv::NV_ITEMS`) into `nv.json`.
//! - MDM9x07 with a Firehose package: DIAG → EDL, the package's programmer over Sahara,
//!   `<configure>`, then one `<read>` per `<program>` line of the package (the regions the
//!   update rewrites) into `<label>.bin`, then a power reset back to normal mode.
//!   [inferred] the package's layout stands in for the chip's partition table: reading the
//!   MIBIB table from the NAND is not done yet, so partitions the package does not write
//!   (EFS, for one) are not dumped; they are listed as such.
//! - MDM9615: NV only. Its streaming programmer's READ (0x03) reads memory addresses, not
//!   NAND partitions (docs/facts/streaming.md), and the 9615's fastboot has no read; the
//!   plan says so.
//!
//! A module found in EDL has no DIAG: its NV cannot be read; the plan says so, starts at
//! the Sahara step and leaves the module in EDL with the programmer running (a module in
//! EDL may be there because it cannot boot).

use std::path::Path;

use super::{Assembly, DeviceMode, Flow, ModuleState, Op, Plan, PlanError, Step};
use crate::backup::{NV_FILE, file_for};
use crate::package::{Package, PackageKind, XmlOp};

/// `DelayInSeconds` of the power reset that ends a backup (the update's value).
const POWER_RESET_DELAY_SECS: u32 = 10;

fn step(id: &str, title: String, needs: DeviceMode, leads_to: Option<DeviceMode>, op: Op) -> Step {
    Step { id: id.to_owned(), title, needs, leads_to, durable: false, bytes: 0, op }
}

/// The sectors a partition spans: the package's erase line that starts where its program
/// does (the partition's extent), else the program's sectors rounded up to whole erase
/// blocks, so a restore can erase what it writes.
fn extent(
    layout: &crate::package::FirehoseLayout,
    p: &crate::package::ProgramEntry,
    start: u64,
    ppb: Option<u64>,
) -> u64 {
    let from_erase = layout.ops.iter().find_map(|op| match op {
        XmlOp::Erase(e) => (e.start_sector.number() == Some(start)).then_some(e.num_partition_sectors),
        _ => None,
    });
    let own = if p.num_partition_sectors > 0 {
        p.num_partition_sectors
    } else {
        p.file_size.div_ceil(u64::from(p.sector_size.max(1)))
    };
    let rounded = match ppb {
        Some(b) if b > 0 => own.div_ceil(b).saturating_mul(b),
        _ => own,
    };
    from_erase.unwrap_or(rounded).max(own)
}

/// What a backup plan cannot cover, for the manifest and the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPlan {
    pub plan: Plan,
    /// What is not backed up, and why.
    pub not_backed_up: Vec<String>,
}

/// Build the plan that backs `module` up into `out`, using `package`'s programmer and
/// layout where partitions are read.
pub fn backup(package: &Package, module: &ModuleState, out: &Path) -> Result<BackupPlan, PlanError> {
    let mut steps = Vec::new();
    let mut missing = Vec::new();
    let out_str = |name: &str| out.join(name).to_string_lossy().into_owned();
    if module.mode == DeviceMode::Normal {
        steps.push(step(
            "backup:nv",
            format!("read the NV items (IMEI, provisioning) into {NV_FILE}"),
            DeviceMode::Normal,
            None,
            Op::NvBackup { out: out.to_string_lossy().into_owned() },
        ));
    } else {
        missing.push(format!(
            "NV items: the module is in {} mode; DIAG answers only in normal mode",
            module.mode.name()
        ));
    }
    let flow = match package.report.kind {
        PackageKind::Firehose9x07 => {
            let layout =
                package.firehose.as_ref().ok_or(PlanError::Unsupported("Firehose (layout missing)"))?;
            let programmer = layout.programmer.clone().ok_or(PlanError::InvalidPackage(1))?;
            match module.mode {
                DeviceMode::Normal => steps.push(step(
                    "diag:edl",
                    "switch to EDL (DIAG 4B 65 01 00)".into(),
                    DeviceMode::Normal,
                    Some(DeviceMode::Edl),
                    Op::DiagToEdl,
                )),
                DeviceMode::Edl => {}
                other => return Err(PlanError::CannotStartFrom(other.name(), "backup")),
            }
            steps.push(step(
                "sahara:upload",
                "upload the Firehose programmer over Sahara".into(),
                DeviceMode::Edl,
                None,
                Op::SaharaUpload { programmer, probe: super::EdlProbe::default() },
            ));
            steps.push(step(
                "firehose:configure",
                "Firehose configure (nand)".into(),
                DeviceMode::Edl,
                None,
                Op::FirehoseConfigure { memory: super::firehose::MEMORY_NAME.into() },
            ));
            let ppb = crate::package::geometry::PackageGeometry::of(layout).pages_per_block.first().copied();
            let mut seen: Vec<String> = Vec::new();
            for op in &layout.ops {
                let XmlOp::Program(p) = op else { continue };
                if seen.contains(&p.label) {
                    continue;
                }
                let Some(start) = p.start_sector.number() else {
                    missing.push(format!("{}: start sector {} is not a number", p.label, p.start_sector));
                    continue;
                };
                let count = extent(layout, p, start, ppb);
                seen.push(p.label.clone());
                let mut s = step(
                    &format!("backup:read:{}", p.label),
                    format!("read {} ({count} sectors from sector {start})", p.label),
                    DeviceMode::Edl,
                    None,
                    Op::FirehoseRead {
                        label: p.label.clone(),
                        sector_size: p.sector_size,
                        start_sector: start,
                        num_sectors: count,
                        out: out_str(&file_for(&p.label)),
                    },
                );
                s.bytes = count.saturating_mul(u64::from(p.sector_size));
                steps.push(s);
            }
            missing.push(
                "partitions the package does not write (EFS among them): the layout comes from the package, \
                 not from the chip's partition table"
                    .into(),
            );
            // Found in normal mode: back to it. Found in EDL (perhaps because it cannot boot):
            // left there, the programmer still running, for what comes next.
            if module.mode == DeviceMode::Normal {
                steps.push(step(
                    "firehose:power",
                    "power reset; the module boots its firmware again".into(),
                    DeviceMode::Edl,
                    Some(DeviceMode::Normal),
                    Op::FirehosePowerReset { delay_secs: Some(POWER_RESET_DELAY_SECS) },
                ));
                steps.push(step(
                    "verify",
                    "read the revision".into(),
                    DeviceMode::Normal,
                    None,
                    Op::Verify { expected: None },
                ));
            }
            Flow::Firehose9x07
        }
        PackageKind::LegacyMdm9615 => {
            if module.mode != DeviceMode::Normal {
                return Err(PlanError::CannotStartFrom(module.mode.name(), "backup"));
            }
            missing.push(
                "partitions: the MDM9615's streaming programmer reads memory, not NAND (its READ takes \
                 a memory address), and its fastboot has no read; only the NV items are backed up"
                    .into(),
            );
            Flow::LegacyA
        }
        PackageKind::FastbootImages | PackageKind::Unknown => {
            return Err(PlanError::Unsupported("backups with this kind of package"));
        }
    };
    let mut plan = Assembly {
        package,
        module,
        flow,
        expected: None,
        steps,
        skipped: Vec::new(),
        notes: missing.clone(),
    }
    .finish();
    plan.notes.retain(|n| !n.contains("does not name its revision"));
    Ok(BackupPlan { plan, not_backed_up: missing })
}

/// Add the NV comparison with the backup in `backup_dir` after an update plan's last
/// step (it needs normal mode, where the update ends).
pub fn with_nv_check(mut plan: Plan, backup_dir: &Path) -> Plan {
    plan.steps.push(step(
        "nv:compare",
        "compare the NV identity with the backup's".into(),
        DeviceMode::Normal,
        None,
        Op::NvCompare { backup: backup_dir.to_string_lossy().into_owned() },
    ));
    plan
}
