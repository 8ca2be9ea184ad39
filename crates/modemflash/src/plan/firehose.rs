//! The MDM9x07 Firehose flow as data (`docs/facts/quectel.md`–3.6, `docs/facts/firehose.md`–5.4).
//!
//! From normal mode: DIAG `4B 65 01 00` → EDL → Sahara uploads the package's programmer →
//! Firehose `configure` (payload negotiated) → erase the SBL (`start_sector` 0) → the
//! Quectel `vendor="quectel"` lines verbatim → the other erases → every `<program>` but
//! the SBL → the SBL last → DISK patches → power reset → normal mode → verify.
//!
//! A module found in EDL enters at the Sahara step; whether the programmer is already
//! running there is found out by the Sahara step itself (exec), so the plan is the same.
//!
//! Resume: erases and programs are durable. A journaled erase is skipped only when every
//! program inside its range is journaled too: NAND pages cannot be programmed again
//! without an erase, so a partition whose program did not finish gets its erase again
//! [inferred] inferred from NAND semantics; the 9x07 programmer's own behaviour is not recorded.

use super::{Flow, Op, Plan, PlanError, PlanOptions, Step};
use crate::module::{DeviceMode, ModuleState};
use crate::package::{EraseLine, FirehoseLayout, Package, ProgramEntry, Sector, XmlOp};
use crate::protocol::edl::EdlProbe;

/// `DelayInSeconds` of the final power reset (QFirehose and qdl send 10, `docs/facts/firehose.md`) [confirmed].
pub const POWER_RESET_DELAY_SECS: u32 = 10;
/// `MemoryName` for the 9x07 NAND parts (`docs/facts/firehose.md`) [confirmed].
pub const MEMORY_NAME: &str = "nand";

fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The SBL is the line at sector 0 (QFirehose's order, `docs/facts/firehose.md`) [confirmed].
fn is_sbl(start_sector: &Sector) -> bool {
    *start_sector == Sector::At(0)
}

struct Builder {
    steps: Vec<Step>,
}

impl Builder {
    /// Add a step; ids are journal keys, kept unique even when two lines look alike.
    fn push(&mut self, mut step: Step) {
        let id = step.id.clone();
        let mut n = 2;
        while self.steps.iter().any(|s| s.id == step.id) {
            step.id = format!("{id}#{n}");
            n += 1;
        }
        self.steps.push(step);
    }

    fn erase(&mut self, erase: &EraseLine) {
        let start = &erase.start_sector;
        let count = erase.num_partition_sectors;
        self.push(Step {
            id: format!("firehose:erase:{start}"),
            title: format!("erase {count} sectors from sector {start}"),
            needs: DeviceMode::Edl,
            leads_to: None,
            durable: true,
            bytes: 0,
            op: Op::FirehoseErase { erase: erase.clone() },
        });
    }

    fn program(&mut self, p: &ProgramEntry) {
        let sparse = if p.sparse { " (sparse)" } else { "" };
        self.push(Step {
            id: format!("firehose:program:{}", p.label),
            title: format!("program {} ← {}{sparse} at sector {}", p.label, short(&p.file), p.start_sector),
            needs: DeviceMode::Edl,
            leads_to: None,
            durable: true,
            bytes: p.file_size,
            op: Op::FirehoseProgram { program: p.clone() },
        });
    }
}

/// Every step of the flow from normal mode, in order.
fn steps(
    package: &Package,
    layout: &FirehoseLayout,
    expected: Option<String>,
) -> Result<Vec<Step>, PlanError> {
    let programmer = layout.programmer.clone().ok_or(PlanError::InvalidPackage(1))?;
    let prog_size = package.report.files.iter().find(|f| f.path == programmer).map_or(0, |f| f.size);
    let mut b = Builder { steps: Vec::new() };
    b.push(Step {
        id: "diag:edl".into(),
        title: "switch to EDL (DIAG 4B 65 01 00)".into(),
        needs: DeviceMode::Normal,
        leads_to: Some(DeviceMode::Edl),
        durable: false,
        bytes: 0,
        op: Op::DiagToEdl,
    });
    // The programmer lives in RAM: never durable, always uploaded again after a reset.
    b.push(Step {
        id: "sahara:upload".into(),
        title: format!("upload the Firehose programmer ({}) over Sahara", short(&programmer)),
        needs: DeviceMode::Edl,
        leads_to: None,
        durable: false,
        bytes: prog_size,
        op: Op::SaharaUpload { programmer, probe: EdlProbe::default() },
    });
    b.push(Step {
        id: "firehose:configure".into(),
        title: format!("Firehose configure ({MEMORY_NAME}), negotiate the payload size"),
        needs: DeviceMode::Edl,
        leads_to: None,
        durable: false,
        bytes: 0,
        op: Op::FirehoseConfigure { memory: MEMORY_NAME.into() },
    });
    b.push(Step {
        id: "firehose:geometry".into(),
        title: "check the package's NAND geometry against the chip (getstorageinfo)".into(),
        needs: DeviceMode::Edl,
        leads_to: None,
        durable: false,
        bytes: 0,
        op: Op::FirehoseCheckGeometry,
    });
    let erases: Vec<&EraseLine> =
        layout.ops.iter().filter_map(|op| if let XmlOp::Erase(e) = op { Some(e) } else { None }).collect();
    for e in erases.iter().filter(|e| is_sbl(&e.start_sector)) {
        b.erase(e);
    }
    let vendor = layout.ops.iter().filter_map(|op| match op {
        XmlOp::Vendor { element, attrs } => Some((element, attrs)),
        _ => None,
    });
    for (n, (element, attrs)) in vendor.enumerate() {
        {
            b.push(Step {
                id: format!("firehose:vendor:{}", n + 1),
                title: format!("Quectel vendor line <{element}> (sent verbatim)"),
                needs: DeviceMode::Edl,
                leads_to: None,
                durable: false,
                bytes: 0,
                op: Op::FirehoseVendor { element: element.clone(), attrs: attrs.clone() },
            });
        }
    }
    for e in erases.iter().filter(|e| !is_sbl(&e.start_sector)) {
        b.erase(e);
    }
    let programs: Vec<&ProgramEntry> =
        layout.ops.iter().filter_map(|op| if let XmlOp::Program(p) = op { Some(p) } else { None }).collect();
    for p in programs.iter().filter(|p| !is_sbl(&p.start_sector)) {
        b.program(p);
    }
    for p in programs.iter().filter(|p| is_sbl(&p.start_sector)) {
        b.program(p);
    }
    let mut patches = 0;
    for op in &layout.ops {
        if let XmlOp::Patch(patch) = op {
            patches += 1;
            let what = patch.what.as_deref().unwrap_or("DISK patch");
            b.push(Step {
                id: format!("firehose:patch:{patches}"),
                title: format!("patch: {what}"),
                needs: DeviceMode::Edl,
                leads_to: None,
                durable: false,
                bytes: 0,
                op: Op::FirehosePatch { patch: patch.clone() },
            });
        }
    }
    b.push(Step {
        id: "firehose:power".into(),
        title: "power reset; the module boots the new firmware".into(),
        needs: DeviceMode::Edl,
        leads_to: Some(DeviceMode::Normal),
        durable: false,
        bytes: 0,
        op: Op::FirehosePowerReset { delay_secs: Some(POWER_RESET_DELAY_SECS) },
    });
    let title = match &expected {
        Some(r) => format!("verify the module reports {r}"),
        None => "read the new revision".into(),
    };
    b.push(Step {
        id: "verify".into(),
        title,
        needs: DeviceMode::Normal,
        leads_to: None,
        durable: false,
        bytes: 0,
        op: Op::Verify { expected },
    });
    Ok(b.steps)
}

/// Whether a journaled step is skipped on resume (see the module docs).
fn skip_on_resume(step: &Step, all: &[Step], done: &[String]) -> bool {
    if !step.durable || !done.contains(&step.id) {
        return false;
    }
    let Op::FirehoseErase { erase } = &step.op else { return true };
    let Some((from, to)) = erase.range() else {
        // No numeric range: cannot tell what it covers; erase again unless every program
        // is done.
        return all.iter().all(|s| !matches!(s.op, Op::FirehoseProgram { .. }) || done.contains(&s.id));
    };
    all.iter().all(|s| match &s.op {
        Op::FirehoseProgram { program } => {
            let inside = program.start_sector.number().is_none_or(|p| (from..to).contains(&p));
            !inside || done.contains(&s.id)
        }
        _ => true,
    })
}

pub(super) fn plan(
    package: &Package,
    module: &ModuleState,
    opts: &PlanOptions,
    resume: Option<(&Flow, &[String])>,
    expected: Option<String>,
) -> Result<Plan, PlanError> {
    let layout = package.firehose.as_ref().ok_or(PlanError::Unsupported("Firehose (layout missing)"))?;
    let flow = Flow::Firehose9x07;
    if opts.flow.is_some_and(|f| f != flow) {
        return Err(PlanError::Unsupported("a legacy flow with a Firehose package"));
    }
    let mut notes = Vec::new();
    if opts.loader_dir.is_some() {
        notes.push("temporary loaders are only used by legacy flow A; ignored".into());
    }
    let all = steps(package, layout, expected.clone())?;
    let done: &[String] = match resume {
        Some((f, d)) if *f == flow => d,
        _ => &[],
    };
    let durable_done = all.iter().filter(|s| s.durable).all(|s| done.contains(&s.id));
    let entry_id = match module.mode {
        // Everything written: only the check is left.
        DeviceMode::Normal if !done.is_empty() && durable_done => "verify",
        DeviceMode::Normal => "diag:edl",
        // Boot ROM or a programmer that is still running: the Sahara step tells which.
        DeviceMode::Edl => "sahara:upload",
        other => return Err(PlanError::CannotStartFrom(other.name(), flow.name())),
    };
    let entry = all.iter().position(|s| s.id == entry_id).unwrap_or(0);
    let mut skipped = Vec::new();
    let mut steps = Vec::new();
    for s in all.iter().skip(entry) {
        if skip_on_resume(s, &all, done) {
            skipped.push(s.id.clone());
        } else {
            steps.push(s.clone());
        }
    }
    let redone = steps.iter().filter(|s| s.durable && done.contains(&s.id)).count();
    if redone > 0 {
        notes.push(format!(
            "{redone} journaled erase(s) run again: partitions they cover were not completely programmed"
        ));
    }
    if module.mode == DeviceMode::Edl {
        notes.push(
            "the module was found in EDL: the programmer is uploaded again (or reused if it is still running)"
                .into(),
        );
    }
    if layout.ops.iter().any(|op| matches!(op, XmlOp::Program(p) if p.sparse)) {
        notes.push("sparse images are sent as one <program> per data run, never expanded".into());
    }
    Ok(super::Assembly { package, module, flow, expected, steps, skipped, notes }.finish())
}
