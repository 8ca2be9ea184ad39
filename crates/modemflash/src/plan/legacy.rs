//! Legacy MDM9615 flows as data (`docs/facts/quectel.md`–2.9, `docs/facts/quectel.md`).
//!
//! - **A** (from normal mode): DIAG 0x3A → DMSS programmer → streaming boot chain that
//!   stops in fastboot → fastboot images → reboot → (pass 2: real SBL2 over streaming,
//!   when temporary loaders were used) → verify.
//! - **B** (`AT+QFASTBOOT`, firmware from 2016-04-28 on [inferred]): fastboot images first, then
//!   DLOAD and streaming for the real boot chain with the Quectel download flag → verify.
//! - **C** (recovery): a module found in fastboot gets every fastboot image (real aboot
//!   included, since a temporary aboot never boots further) and then a full streaming
//!   pass; one found in DLOAD or with the programmer running enters flow A there.

use serde::{Deserialize, Serialize};

use super::{Op, Plan, PlanError, PlanOptions, Step};
use crate::module::{DeviceMode, ModuleState};
use crate::package::{LegacyLayout, Package};

/// Which flow a plan follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// From normal mode through DLOAD first.
    LegacyA,
    /// From normal mode through `AT+QFASTBOOT` first.
    LegacyB,
    /// Recovery of a module found in fastboot.
    LegacyRecoverFastboot,
    /// MDM9x07: EDL, Sahara, Firehose (`firehose.rs`).
    Firehose9x07,
}

impl Flow {
    pub fn name(self) -> &'static str {
        match self {
            Flow::LegacyA => "legacy A (DLOAD, streaming, fastboot)",
            Flow::LegacyB => "legacy B (AT+QFASTBOOT, fastboot, then streaming)",
            Flow::LegacyRecoverFastboot => "legacy recovery from fastboot",
            Flow::Firehose9x07 => "MDM9x07 (EDL, Sahara, Firehose)",
        }
    }
}

/// Temporary loaders shipped with Quectel's tool.
const TEMP_SBL2: &str = "sbl2_tmp.mbn";
const TEMP_APPSBL: &str = "appsboot_tmp.mbn";

/// Fastboot partitions of flow A in the reference's order (`docs/facts/quectel.md`) [confirmed].
const FASTBOOT_ALL: &[&str] =
    &["sbl2", "aboot", "dsp1", "dsp2", "dsp3", "system", "userdata", "recoveryfs", "boot", "recovery"];
/// Flow B writes only the non-boot-chain images through fastboot (docs/facts/dmss.md variant) [confirmed].
const FASTBOOT_IMAGES: &[&str] =
    &["system", "userdata", "boot", "recovery", "recoveryfs", "dsp1", "dsp2", "dsp3"];
/// The streaming boot chain (docs/facts/dmss.md) [confirmed].
const CHAIN: &[&str] = &["0:SBL1", "0:SBL2", "0:RPM", "0:APPSBL"];

struct Ctx<'a> {
    pkg: &'a Package,
    layout: &'a LegacyLayout,
    /// Temporary loaders (relative to the loader dir, absolute paths as strings).
    temp: Option<(String, String)>,
    steps: Vec<Step>,
}

impl Ctx<'_> {
    fn size(&self, file: &str) -> u64 {
        self.pkg
            .report
            .files
            .iter()
            .find(|f| f.path == file)
            .map_or_else(|| std::fs::metadata(file).map_or(0, |m| m.len()), |f| f.size)
    }

    fn push(
        &mut self,
        id: String,
        title: String,
        needs: DeviceMode,
        leads_to: Option<DeviceMode>,
        durable: bool,
        op: Op,
    ) {
        let bytes = match &op {
            Op::StreamingWrite { file, .. } | Op::FastbootFlash { file, .. } => self.size(file),
            _ => 0,
        };
        self.steps.push(Step { id, title, needs, leads_to, durable, bytes, op });
    }

    fn file_for_streaming(&self, part: &str) -> Option<String> {
        self.layout.streaming.iter().find(|(p, _)| p == part).map(|(_, f)| f.clone())
    }

    fn file_for_fastboot(&self, part: &str) -> Option<String> {
        self.layout.fastboot.iter().find(|(p, _)| p == part).map(|(_, f)| f.clone())
    }

    fn switch_dload(&mut self, prefix: &str) {
        self.push(
            format!("{prefix}diag:dload"),
            "switch to DLOAD (DIAG 0x3A)".into(),
            DeviceMode::Normal,
            Some(DeviceMode::Dload),
            false,
            Op::DiagToDload,
        );
    }

    fn dmss(&mut self, prefix: &str, emergency_first: bool) {
        let mut progs = self.layout.programmers.clone();
        if emergency_first {
            progs.reverse();
        }
        let names = progs
            .iter()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
            .collect::<Vec<_>>()
            .join(", then ");
        self.push(
            format!("{prefix}dmss:upload"),
            format!("upload the programmer ({names}) and start it"),
            DeviceMode::Dload,
            Some(DeviceMode::Streaming),
            false,
            Op::DmssUpload { programmers: progs, fallback: super::ProgrammerFallback::TryNext },
        );
    }

    fn session(&mut self, prefix: &str, flag: bool) {
        self.push(
            format!("{prefix}streaming:session"),
            "streaming HELLO, trusted security mode, partition table".into(),
            DeviceMode::Streaming,
            None,
            false,
            Op::StreamingSession {
                tables: super::PartitionTables {
                    candidates: self.layout.partition_tables.clone(),
                    override_first: true,
                },
                download_flag: flag,
            },
        );
    }

    fn stream_write(&mut self, prefix: &str, part: &str, file: String) {
        let short = file.rsplit('/').next().unwrap_or(&file).to_owned();
        self.push(
            format!("{prefix}streaming:write:{part}"),
            format!("write {part} ← {short}"),
            DeviceMode::Streaming,
            None,
            true,
            Op::StreamingWrite { partition: part.into(), file },
        );
    }

    fn reset(&mut self, prefix: &str, to: DeviceMode) {
        self.push(
            format!("{prefix}streaming:reset"),
            format!("reset the programmer; the module boots into {}", to.name()),
            DeviceMode::Streaming,
            Some(to),
            false,
            Op::StreamingReset,
        );
    }

    fn fastboot(&mut self, parts: &[&str]) {
        for part in parts {
            if let Some(file) = self.file_for_fastboot(part) {
                let short = file.rsplit('/').next().unwrap_or(&file).to_owned();
                self.push(
                    format!("fastboot:flash:{part}"),
                    format!("fastboot flash {part} ← {short}"),
                    DeviceMode::Fastboot,
                    None,
                    true,
                    Op::FastbootFlash { partition: (*part).into(), file },
                );
            }
        }
    }

    fn reboot(&mut self, to: DeviceMode) {
        self.push(
            "fastboot:reboot".into(),
            format!("fastboot reboot into {}", to.name()),
            DeviceMode::Fastboot,
            Some(to),
            false,
            Op::FastbootReboot,
        );
    }

    /// The real boot chain over streaming (`prefix` keeps ids unique per pass).
    fn real_chain(&mut self, prefix: &str) {
        for part in CHAIN {
            if let Some(f) = self
                .file_for_streaming(part)
                .or_else(|| (*part == "0:APPSBL").then(|| self.file_for_fastboot("aboot")).flatten())
            {
                self.stream_write(prefix, part, f);
            }
        }
    }

    fn verify(&mut self, expected: Option<String>) {
        let title = match &expected {
            Some(r) => format!("verify the module reports {r}"),
            None => "read the new revision".into(),
        };
        self.push("verify".into(), title, DeviceMode::Normal, None, false, Op::Verify { expected });
    }
}

fn flow_a(cx: &mut Ctx<'_>, expected: Option<String>) {
    cx.switch_dload("");
    cx.dmss("", false);
    cx.session("", false);
    let sbl1 = cx.file_for_streaming("0:SBL1");
    if let Some(f) = sbl1 {
        cx.stream_write("", "0:SBL1", f);
    }
    if let Some((sbl2_tmp, appsbl_tmp)) = cx.temp.clone() {
        cx.stream_write("", "0:SBL2", sbl2_tmp);
        if let Some(f) = cx.file_for_streaming("0:RPM") {
            cx.stream_write("", "0:RPM", f);
        }
        cx.stream_write("", "0:APPSBL", appsbl_tmp);
    } else {
        for part in ["0:SBL2", "0:RPM"] {
            if let Some(f) = cx.file_for_streaming(part) {
                cx.stream_write("", part, f);
            }
        }
        if let Some(f) = cx.file_for_fastboot("aboot") {
            cx.stream_write("", "0:APPSBL", f);
        }
        cx.push(
            "streaming:invalidate:0:BOOT".into(),
            "invalidate 0:BOOT so aboot stops in fastboot".into(),
            DeviceMode::Streaming,
            None,
            true,
            Op::StreamingInvalidate { partition: "0:BOOT".into() },
        );
    }
    cx.reset("", DeviceMode::Fastboot);
    cx.fastboot(FASTBOOT_ALL);
    if cx.temp.is_some() {
        // Pass 2: the real SBL2 through the emergency programmer (docs/facts/dmss.md) [confirmed].
        cx.reboot(DeviceMode::Normal);
        cx.switch_dload("pass2:");
        cx.dmss("pass2:", true);
        cx.session("pass2:", false);
        if let Some(f) = cx.file_for_streaming("0:SBL2") {
            cx.stream_write("pass2:", "0:SBL2", f);
        }
        cx.reset("pass2:", DeviceMode::Normal);
    } else {
        cx.reboot(DeviceMode::Normal);
    }
    cx.verify(expected);
}

fn flow_b(cx: &mut Ctx<'_>, expected: Option<String>) {
    cx.push(
        "at:qfastboot".into(),
        "switch to fastboot (AT+QFASTBOOT)".into(),
        DeviceMode::Normal,
        Some(DeviceMode::Fastboot),
        false,
        Op::AtToFastboot,
    );
    cx.fastboot(FASTBOOT_IMAGES);
    cx.reboot(DeviceMode::Normal);
    chain_pass(cx, expected);
}

/// DLOAD → streaming with the download flag → real chain → reset → verify.
fn chain_pass(cx: &mut Ctx<'_>, expected: Option<String>) {
    cx.switch_dload("chain:");
    cx.dmss("chain:", false);
    cx.session("chain:", true);
    cx.real_chain("chain:");
    cx.push(
        "chain:streaming:flag-clear".into(),
        "clear the Quectel download flag".into(),
        DeviceMode::Streaming,
        None,
        false,
        Op::StreamingClearFlag,
    );
    cx.reset("chain:", DeviceMode::Normal);
    cx.verify(expected);
}

fn flow_recover_fastboot(cx: &mut Ctx<'_>, expected: Option<String>) {
    cx.fastboot(FASTBOOT_ALL);
    cx.reboot(DeviceMode::Normal);
    chain_pass(cx, expected);
}

fn temp_loaders(opts: &PlanOptions) -> Result<Option<(String, String)>, PlanError> {
    let Some(dir) = &opts.loader_dir else { return Ok(None) };
    let bad = |why: String| PlanError::BadLoaderDir { dir: dir.display().to_string(), why };
    let mut found = Vec::new();
    for name in [TEMP_SBL2, TEMP_APPSBL] {
        let path = dir.join(name);
        let head = std::fs::read(&path).map_err(|e| bad(format!("{name}: {e}")))?;
        let h = crate::package::headers::parse_mbn(&head)
            .ok_or_else(|| bad(format!("{name} has no MBN header")))?;
        h.check_size(head.len() as u64).map_err(|e| bad(format!("{name}: {e}")))?;
        found.push(path.display().to_string());
    }
    match found.as_slice() {
        [a, b] => Ok(Some((a.clone(), b.clone()))),
        _ => Err(bad("expected sbl2_tmp.mbn and appsboot_tmp.mbn".into())),
    }
}

pub(super) fn plan(
    package: &Package,
    module: &ModuleState,
    opts: &PlanOptions,
    resume: Option<(&Flow, &[String])>,
    expected: Option<String>,
) -> Result<Plan, PlanError> {
    let layout = package.legacy.as_ref().ok_or(PlanError::Unsupported("legacy (layout missing)"))?;
    let mut notes = Vec::new();
    let qfastboot =
        opts.qfastboot.unwrap_or_else(|| module.revision.as_deref().is_some_and(supports_qfastboot));
    let flow = match (resume.map(|(f, _)| *f), opts.flow, module.mode) {
        (_, Some(f), _) | (Some(f), None, _) => f,
        (None, None, DeviceMode::Fastboot) => Flow::LegacyRecoverFastboot,
        (None, None, DeviceMode::Normal) if qfastboot => Flow::LegacyB,
        (None, None, _) => Flow::LegacyA,
    };
    let temp = temp_loaders(opts)?;
    if temp.is_some() && flow != Flow::LegacyA {
        notes.push("temporary loaders are only used by flow A; ignored".into());
    }
    let mut cx = Ctx {
        pkg: package,
        layout,
        temp: if flow == Flow::LegacyA { temp } else { None },
        steps: Vec::new(),
    };
    match flow {
        Flow::LegacyA => flow_a(&mut cx, expected.clone()),
        Flow::LegacyB => flow_b(&mut cx, expected.clone()),
        Flow::LegacyRecoverFastboot => flow_recover_fastboot(&mut cx, expected.clone()),
        Flow::Firehose9x07 => return Err(PlanError::Unsupported("the Firehose flow with a legacy package")),
    }
    let all = cx.steps;
    let done: &[String] = resume.map_or(&[], |(_, d)| d);
    let entry = entry_point(&all, module.mode, done)
        .ok_or(PlanError::CannotStartFrom(module.mode.name(), flow.name()))?;
    let mut skipped = Vec::new();
    let steps: Vec<Step> = all
        .into_iter()
        .skip(entry)
        .filter(|s| {
            let skip = s.durable && done.contains(&s.id);
            if skip {
                skipped.push(s.id.clone());
            }
            !skip
        })
        .collect();
    if entry > 0 {
        notes.push(format!(
            "the module was found in {} mode: {} of the flow's steps are already behind it",
            module.mode.name(),
            entry
        ));
    }
    Ok(super::Assembly { package, module, flow, expected, steps, skipped, notes }.finish())
}

/// Where to enter a flow for a module found in `mode`, given the steps journaled as done.
///
/// Entry points are the first steps of each stretch of the flow spent in one mode (the
/// flow's own way into that mode). The latest of them that runs in `mode` and has every
/// durable write before it done is chosen: earlier work is never skipped, finished work is
/// never redone, and a module that is already further along is not sent back.
fn entry_point(steps: &[Step], mode: DeviceMode, done: &[String]) -> Option<usize> {
    let mut best = None;
    let mut prev_leads: Option<DeviceMode> = None;
    for (i, s) in steps.iter().enumerate() {
        let starts_segment = i == 0 || prev_leads.is_some();
        let before_done = steps.iter().take(i).filter(|p| p.durable).all(|p| done.contains(&p.id));
        if starts_segment && s.needs == mode && before_done {
            best = Some(i);
        }
        prev_leads = s.leads_to;
    }
    best
}

/// Whether a firmware revision has `AT+QFASTBOOT` ([inferred]: added 2016-04-28; EC20 R1 builds
/// of release line R02 up to A04 predate it).
pub fn supports_qfastboot(revision: &str) -> bool {
    let r = crate::catalog::Revision::parse(revision);
    match (r.model.as_deref(), r.release, r.build) {
        (Some("EC20"), Some(2), Some(b)) => b >= 5,
        (Some(_), Some(_), Some(_)) => true,
        _ => false,
    }
}
