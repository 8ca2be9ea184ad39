//! Backup operations (`plan::backup`, `docs/backup.md`): NV items through DIAG in normal
//! mode, partitions through Firehose `<read>`, and the NV comparison after an update.
//! Files are written under a temporary name and renamed when complete
//! (`backup::write_atomic`, `backup::temp_name`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::firehose_ops::{client, err};
use super::ops::{Cx, OpError, Session, StepResult};
use super::{Event, FailureKind};
use crate::backup::nv::{NV_ITEMS, NvBackup, compare};
use crate::backup::{NV_FILE, load_nv, temp_name, write_atomic};
use crate::discovery::Port;
use crate::plan::Op;
use crate::protocol::diag::DiagError;
use crate::protocol::diag::client::DiagClient;
use crate::protocol::firehose::ProgramSpec;

/// Bytes asked for per `<read>`: a partition is read in pieces so no single transfer is
/// huge. [inferred] the 9x07 programmer's own limit on one read is not recorded.
pub const READ_CHUNK_BYTES: u64 = 1 << 20;

pub(super) fn run(session: &mut Session, cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    match &cx.step.op {
        Op::NvBackup { out } => {
            let nv = read_nv(cx)?;
            let json = serde_json::to_vec_pretty(&nv).map_err(|e| err(Port::Dm, FailureKind::Journal, e))?;
            let path = Path::new(out).join(NV_FILE);
            write_atomic(&path, &json).map_err(|e| err(Port::Dm, FailureKind::Journal, e))?;
            let set = nv.items.iter().filter(|r| r.status == "ok").count();
            note(
                cx,
                format!(
                    "NV: {set} of {} items set, IMEI {}; kept in {}",
                    nv.items.len(),
                    nv.imei.as_deref().unwrap_or("not set"),
                    path.display()
                ),
            );
            Ok(StepResult::default())
        }
        Op::FirehoseRead { label, sector_size, start_sector, num_sectors, out } => {
            read(session, cx, label, *sector_size, *start_sector, *num_sectors, Path::new(out))
        }
        Op::NvCompare { backup } => nv_compare(cx, Path::new(backup)),
        _ => Err(err(Port::Dm, FailureKind::NotSupported, "not a backup operation")),
    }
}

fn note(cx: &mut Cx<'_>, text: String) {
    cx.observer.event(&Event::DeviceLog { step: cx.step.id.clone(), text });
}

/// Every item of [`NV_ITEMS`]; an item the DIAG task refuses is recorded as refused, a
/// link that fails fails the step.
fn read_nv(cx: &mut Cx<'_>) -> Result<NvBackup, OpError> {
    let link = cx.bus.open(Port::Dm).map_err(|e| err(Port::Dm, FailureKind::Open, e))?;
    let mut diag = DiagClient::new(link);
    if let Some(t) = cx.opts.reply_timeout {
        diag.set_reply_timeout(t);
    }
    let mut nv = NvBackup::default();
    for spec in NV_ITEMS {
        match diag.nv_read(spec.item) {
            Ok(item) => nv.add(spec, Some(&item)),
            Err(DiagError::Rejected { .. }) => nv.add(spec, None),
            Err(e) => {
                return Err(err(
                    Port::Dm,
                    super::classify::kind_of(&e),
                    format!("NV_READ of item {} ({}): {e}", spec.item, spec.name),
                ));
            }
        }
    }
    Ok(nv)
}

#[allow(clippy::too_many_arguments)]
fn read(
    session: &mut Session,
    cx: &mut Cx<'_>,
    label: &str,
    sector_size: u32,
    start: u64,
    count: u64,
    out: &Path,
) -> Result<StepResult, OpError> {
    let tmp = temp_name(out);
    let result = read_into(session, cx, label, sector_size, start, count, &tmp);
    match result {
        Ok(bytes) => {
            std::fs::rename(&tmp, out)
                .map_err(|e| err(Port::Edl, FailureKind::Journal, format!("{}: {e}", out.display())))?;
            Ok(StepResult { revision: None, bytes })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn read_into(
    session: &mut Session,
    cx: &mut Cx<'_>,
    label: &str,
    sector_size: u32,
    start: u64,
    count: u64,
    tmp: &PathBuf,
) -> Result<u64, OpError> {
    let file_err =
        |e: std::io::Error| err(Port::Edl, FailureKind::Journal, format!("{}: {e}", tmp.display()));
    let file = std::fs::File::create(tmp).map_err(file_err)?;
    let mut w = std::io::BufWriter::new(file);
    let sector = u64::from(sector_size.max(1));
    let per_read = (READ_CHUNK_BYTES / sector).max(1);
    let total = count.saturating_mul(sector);
    let step = cx.step.id.clone();
    let mut done_sectors = 0u64;
    while done_sectors < count {
        let n = per_read.min(count - done_sectors);
        let spec = ProgramSpec {
            sector_size,
            start_sector: start.saturating_add(done_sectors).to_string(),
            physical_partition_number: 0,
            label: label.to_owned(),
            filename: crate::backup::file_for(label),
            extra: Vec::new(),
        };
        let base = done_sectors.saturating_mul(sector);
        let fh = client(session, cx)?;
        let observer = &mut *cx.observer;
        let mut progress = super::firehose_ops::progress(observer, &step);
        fh.read(&spec, n, &mut w, &mut |d, _| progress(base.saturating_add(d), total))
            .map_err(|e| err(Port::Edl, super::classify::kind_of(&e), format!("<read> of {label}: {e}")))?;
        done_sectors += n;
    }
    w.flush().map_err(file_err)?;
    let file = w.into_inner().map_err(|e| file_err(e.into_error()))?;
    file.sync_all().map_err(file_err)?;
    Ok(total)
}

/// Read the NV items again and compare them with the backup's.
fn nv_compare(cx: &mut Cx<'_>, backup: &Path) -> Result<StepResult, OpError> {
    let before = load_nv(backup).map_err(|e| err(Port::Dm, FailureKind::Verify, e))?;
    let Some(before) = before else {
        cx.observer.event(&Event::Warning {
            step: cx.step.id.clone(),
            text: format!("{} holds no {NV_FILE}: the NV items were not compared", backup.display()),
        });
        return Ok(StepResult::default());
    };
    let after = read_nv(cx)?;
    let changes = compare(&before, &after);
    for c in &changes {
        cx.observer.event(&Event::Warning { step: cx.step.id.clone(), text: c.to_string() });
    }
    let lost: Vec<String> =
        changes.iter().filter(|c| c.role == "identity").map(ToString::to_string).collect();
    if !lost.is_empty() {
        return Err(err(
            Port::Dm,
            FailureKind::Verify,
            format!(
                "the module's NV identity changed during the update ({}). The firmware is written; write \
                 the NV items back from the backup in {} (QPST/QCN tools) before using the module",
                lost.join("; "),
                backup.display()
            ),
        ));
    }
    note(
        cx,
        format!(
            "NV identity unchanged (IMEI {}); {} item(s) differ",
            after.imei.as_deref().unwrap_or("not set"),
            changes.len()
        ),
    );
    Ok(StepResult::default())
}
