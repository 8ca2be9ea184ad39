//! Plans: what an update will do, step by step, as pure data. A plan can be printed
//! (`modemflash plan`), serialised (`--json`) and matched against a journal; `exec` runs it.
//!
//! Each flow is a list of step templates (`legacy.rs`); the planner instantiates them with
//! the package's files and picks where to enter from the module's detected mode and the
//! journal. The real sequences are partly inferred (`docs/facts/quectel.md`), which is why they are data and not code paths in the executor.

pub mod backup;
pub mod chip;
mod firehose;
mod legacy;
pub mod restore;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::catalog::{Chipset, Revision};
use crate::package::{EraseLine, Package, PackageKind, PatchLine, ProgramEntry};
use crate::protocol::edl::EdlProbe;

pub use crate::module::{DeviceMode, ModuleChip, ModuleState};
pub use legacy::Flow;

/// What one step does. File paths are relative to the package root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// DIAG 0x3A: normal → DLOAD.
    DiagToDload,
    /// `AT+QFASTBOOT`: normal → fastboot.
    AtToFastboot,
    /// Upload a DMSS programmer and GO: DLOAD → streaming. `fallback` says whether the
    /// next programmer is tried when one fails.
    DmssUpload { programmers: Vec<String>, fallback: ProgrammerFallback },
    /// HELLO, SECURITY_MODE trusted, PARTITION_TABLE (tables in order of preference, and
    /// what to do when none is accepted), optionally the Quectel download flag.
    StreamingSession { tables: PartitionTables, download_flag: bool },
    /// Write one file to a named partition.
    StreamingWrite { partition: String, file: String },
    /// Overwrite the start of a partition so the boot loader treats it as invalid
    /// (how Quectel's tools make aboot stop in fastboot, `docs/facts/quectel.md` C) [inferred].
    StreamingInvalidate { partition: String },
    /// Clear the Quectel download flag.
    StreamingClearFlag,
    /// RESET the streaming programmer: the module reboots from NAND.
    StreamingReset,
    /// `fastboot flash`.
    FastbootFlash { partition: String, file: String },
    /// `fastboot reboot`.
    FastbootReboot,
    /// Read the revision in normal mode and compare.
    Verify { expected: Option<String> },
    /// DIAG `4B 65 01 00`: normal → EDL (9x07).
    DiagToEdl,
    /// Sahara upload of the Firehose programmer, serving the image id the target asks for;
    /// skipped when a programmer already answers on the EDL interface.
    /// `probe` says how the EDL interface is probed and whether a running programmer is used.
    SaharaUpload { programmer: String, probe: EdlProbe },
    /// Firehose `<configure>`, negotiating the payload size.
    FirehoseConfigure { memory: String },
    /// `<getstorageinfo>`, and stop before the first erase unless the package's geometry
    /// (sector size, pages per block, extents) fits the chip (`package::geometry`).
    FirehoseCheckGeometry,
    /// An `<erase>` line of the package.
    FirehoseErase { erase: EraseLine },
    /// A `vendor="quectel"` line, sent verbatim.
    FirehoseVendor { element: String, attrs: Vec<(String, String)> },
    /// A `<program>` line with its image (sparse images as one program per data run).
    FirehoseProgram { program: ProgramEntry },
    /// A DISK `<patch>` line.
    FirehosePatch { patch: PatchLine },
    /// `<power value="reset">`: EDL → normal.
    FirehosePowerReset { delay_secs: Option<u32> },
    /// Read the NV items of `backup::nv::NV_ITEMS` through DIAG and write them to
    /// `nv.json` in the folder `out` (backup).
    NvBackup { out: String },
    /// Read sectors back with Firehose `<read>` into the file `out` (backup).
    FirehoseRead { label: String, sector_size: u32, start_sector: u64, num_sectors: u64, out: String },
    /// Read the NV items again and compare them with the backup's `nv.json` in `backup`;
    /// a difference in an identity item fails the step (the update is done, the identity
    /// is not what it was).
    NvCompare { backup: String },
    /// Find out the module's chipset in the mode it is in (revision in normal mode,
    /// `getvar product` in fastboot, the Sahara MSM HW id in EDL) and stop unless it is
    /// `expected`. Runs before the first write when planning could not tell (`chip.rs`).
    /// In EDL the interface is probed with `probe`.
    CheckChipset {
        expected: Chipset,
        package: String,
        #[serde(default)]
        probe: EdlProbe,
    },
}

/// Whether the next DMSS programmer is tried when one cannot be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProgrammerFallback {
    /// Try the programmers in order; the first that starts wins (QFlash: NPRG, then ENPRG,
    /// `docs/facts/dmss.md`) [confirmed].
    TryNext,
    /// Only the first.
    FirstOnly,
}

/// The partition tables a streaming session offers, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionTables {
    /// Package files, each sent without override until one is accepted.
    pub candidates: Vec<String>,
    /// When every table differs from the flash, force the first one (override 1): the
    /// package's table is the one its images are laid out for [inferred].
    pub override_first: bool,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Stable id, the journal key (`streaming:write:0:SBL1`, `pass2:dmss:upload`).
    pub id: String,
    /// For people.
    pub title: String,
    /// The mode the module must be in before the step runs.
    pub needs: DeviceMode,
    /// The mode the module is in after the step (where it changes).
    pub leads_to: Option<DeviceMode>,
    /// A write whose result survives a reset: skipped on resume once journaled.
    pub durable: bool,
    /// Bytes moved, for progress.
    pub bytes: u64,
    #[serde(flatten)]
    pub op: Op,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub package: String,
    pub kind: PackageKind,
    /// Identifies the package for the journal.
    pub fingerprint: String,
    pub flow: Flow,
    /// Mode the module was found in.
    pub found_in: DeviceMode,
    /// Revision before the update, when it could be read.
    pub revision_before: Option<String>,
    /// Revision the package installs, when known.
    pub expected_revision: Option<String>,
    pub steps: Vec<Step>,
    /// Steps journaled as done by an earlier run and skipped.
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
}

/// Knobs for planning.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Directory with Quectel's temporary loaders (`sbl2_tmp.mbn`, `appsboot_tmp.mbn`).
    pub loader_dir: Option<PathBuf>,
    /// Force a flow instead of choosing one.
    pub flow: Option<Flow>,
    /// Whether the running firmware knows `AT+QFASTBOOT`; `None` = decide from the revision.
    pub qfastboot: Option<bool>,
    /// Cross-line or cross-model packages are refused unless set.
    pub force: bool,
}

/// Why no plan could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the package is invalid ({0} problems); run `modemflash inspect` on it for the list")]
    InvalidPackage(usize),
    #[error("{0} packages cannot be flashed yet")]
    Unsupported(&'static str),
    #[error("the module is in {0} mode, which the {1} flow cannot start from")]
    CannotStartFrom(&'static str, &'static str),
    #[error("package revision {package} does not fit the module's {module}: {why}.")]
    DoesNotFit { package: String, module: String, why: &'static str },
    #[error("loader directory {dir}: {why}")]
    BadLoaderDir { dir: String, why: String },
    #[error(
        "the package is for {package}; the module is {module}. Nothing was written: writing one chipset's firmware onto another's module would leave it unbootable, so this is refused even when forced. Use a package built for the module's chipset"
    )]
    WrongChipset { package: String, module: String },
}

/// Build a plan. `done` is the set of step ids an earlier run journaled for this package,
/// with the flow it used.
pub fn build(
    package: &Package,
    module: &ModuleState,
    opts: &PlanOptions,
    resume: Option<(&Flow, &[String])>,
) -> Result<Plan, PlanError> {
    if !package.is_valid() {
        return Err(PlanError::InvalidPackage(package.report.errors().count()));
    }
    // Before anything else, and whatever `force` says: the chipsets must agree.
    let chip_check = chip::check(&chip::package_chip(package), module)?;
    let expected = package.report.revision.as_ref().map(|r| r.raw.clone());
    if let (Some(pkg), Some(cur)) = (&package.report.revision, &module.revision) {
        check_fit(pkg, &Revision::parse(cur), opts.force)?;
    }
    let mut plan = match package.report.kind {
        PackageKind::LegacyMdm9615 => legacy::plan(package, module, opts, resume, expected),
        PackageKind::Firehose9x07 => firehose::plan(package, module, opts, resume, expected),
        PackageKind::FastbootImages => Err(PlanError::Unsupported("plain fastboot image")),
        PackageKind::Unknown => Err(PlanError::InvalidPackage(1)),
    }?;
    if let (Some(mut step), Some(first)) = (chip_check, plan.steps.first()) {
        // Checked in the mode the first step runs in (the one the module was found in).
        step.needs = first.needs;
        plan.steps.insert(0, step);
    }
    Ok(plan)
}

fn check_fit(package: &Revision, module: &Revision, force: bool) -> Result<(), PlanError> {
    use crate::catalog::RevisionFit;
    let why = match package.fit(module) {
        RevisionFit::SameLine | RevisionFit::Unsure => return Ok(()),
        RevisionFit::CrossesLine => {
            "it belongs to another release line; Quectel firmware only moves within a line"
        }
        RevisionFit::DifferentModel => "it is for another model or chipset",
    };
    if force {
        return Ok(());
    }
    Err(PlanError::DoesNotFit { package: package.raw.clone(), module: module.raw.clone(), why })
}

/// The parts every flow's plan shares: identity, the module state and the common notes.
pub(crate) struct Assembly<'a> {
    pub package: &'a Package,
    pub module: &'a ModuleState,
    pub flow: Flow,
    pub expected: Option<String>,
    pub steps: Vec<Step>,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
}

impl Assembly<'_> {
    pub(crate) fn finish(self) -> Plan {
        let mut notes = self.notes;
        if self.expected.is_none() {
            notes.push(
                "the package does not name its revision; the result is read back but not compared".into(),
            );
        }
        Plan {
            package: self.package.report.path.clone(),
            kind: self.package.report.kind,
            fingerprint: self.package.fingerprint.clone(),
            flow: self.flow,
            found_in: self.module.mode,
            revision_before: self.module.revision.clone(),
            expected_revision: self.expected,
            steps: self.steps,
            skipped: self.skipped,
            notes,
        }
    }
}

/// The package's fingerprint for the journal (computed once, when the package opened).
#[must_use]
pub fn fingerprint(package: &Package) -> String {
    package.fingerprint.clone()
}
