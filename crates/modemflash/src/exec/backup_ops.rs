//! Backup operations (`plan::backup`, `docs/backup.md`): NV items through DIAG in normal
//! mode, partitions through Firehose `<read>`, and the NV comparison after an update.
//! Files are written under a temporary name and renamed when complete
//! (`backup::write_atomic`, `backup::temp_name`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::step::{Cx, OpError, Session, StepResult, firehose, on, open, progress};
use super::{Event, StepFailure};
use crate::backup::nv::{NV_ITEMS, NvBackup, compare};
use crate::backup::{NV_FILE, load_nv, temp_name, write_atomic};
use crate::discovery::Port;
use crate::protocol::diag::DiagError;
use crate::protocol::diag::client::DiagClient;
use crate::protocol::firehose::ProgramSpec;

/// Bytes asked for per `<read>`: a partition is read in pieces so no single transfer is
/// huge. [inferred] the 9x07 programmer's own limit on one read is not recorded.
pub const READ_CHUNK_BYTES: u64 = 1 << 20;

fn write_failed(path: &Path, port: Port) -> impl Fn(std::io::Error) -> OpError + '_ {
    move |source| OpError::on(port, StepFailure::BackupWrite { path: path.display().to_string(), source })
}

/// `Op::NvBackup`: the NV items into `nv.json` in `out`.
pub(super) fn nv_backup(cx: &mut Cx<'_>, out: &str) -> Result<StepResult, OpError> {
    let nv = read_nv(cx)?;
    let path = Path::new(out).join(NV_FILE);
    let json = serde_json::to_vec_pretty(&nv).map_err(|e| write_failed(&path, Port::Dm)(e.into()))?;
    write_atomic(&path, &json).map_err(|e| write_failed(&path, Port::Dm)(std::io::Error::other(e)))?;
    let set = nv.items.iter().filter(|r| r.status == "ok").count();
    cx.log(format!(
        "NV: {set} of {} items set, IMEI {}; kept in {}",
        nv.items.len(),
        nv.imei.as_deref().unwrap_or("not set"),
        path.display()
    ));
    Ok(StepResult::default())
}

/// Every item of [`NV_ITEMS`]; an item the DIAG task refuses is recorded as refused, a
/// link that fails fails the step.
fn read_nv(cx: &mut Cx<'_>) -> Result<NvBackup, OpError> {
    let link = open(cx, Port::Dm)?;
    let mut diag = DiagClient::new(link);
    if let Some(t) = cx.opts.reply_timeout {
        diag.set_reply_timeout(t);
    }
    let mut nv = NvBackup::default();
    for spec in NV_ITEMS {
        match diag.nv_read(spec.item) {
            Ok(item) => nv.add(spec, Some(&item)),
            Err(DiagError::Rejected { .. }) => nv.add(spec, None),
            Err(source) => {
                return Err(OpError::on(
                    Port::Dm,
                    StepFailure::NvRead { item: spec.item, name: spec.name, source },
                ));
            }
        }
    }
    Ok(nv)
}

/// `Op::FirehoseRead`: sectors into the file `out`, under a temporary name until complete.
pub(super) fn firehose_read(
    session: &mut Session,
    cx: &mut Cx<'_>,
    label: &str,
    sector_size: u32,
    start: u64,
    count: u64,
    out: &str,
) -> Result<StepResult, OpError> {
    let out = Path::new(out);
    let tmp = temp_name(out);
    let result = read_into(session, cx, label, sector_size, start, count, &tmp);
    match result {
        Ok(bytes) => {
            std::fs::rename(&tmp, out).map_err(write_failed(out, Port::Edl))?;
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
    let file_err = write_failed(tmp, Port::Edl);
    let file = std::fs::File::create(tmp).map_err(&file_err)?;
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
        let fh = firehose(session, cx)?;
        let observer = &mut *cx.observer;
        let mut progress = progress(observer, &step);
        fh.read(&spec, n, &mut w, &mut |d, _| progress(base.saturating_add(d), total))
            .map_err(on(Port::Edl))?;
        done_sectors += n;
    }
    w.flush().map_err(&file_err)?;
    let file = w.into_inner().map_err(|e| file_err(e.into_error()))?;
    file.sync_all().map_err(file_err)?;
    Ok(total)
}

/// Read the NV items again and compare them with the backup's.
/// `Op::NvCompare`.
pub(super) fn nv_compare(cx: &mut Cx<'_>, backup: &str) -> Result<StepResult, OpError> {
    let backup = Path::new(backup);
    let before =
        load_nv(backup).map_err(|e| OpError::on(Port::Dm, StepFailure::BackupRead(e.to_string())))?;
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
        return Err(OpError::on(
            Port::Dm,
            StepFailure::NvIdentityChanged { changes: lost.join("; "), backup: backup.display().to_string() },
        ));
    }
    cx.log(format!(
        "NV identity unchanged (IMEI {}); {} item(s) differ",
        after.imei.as_deref().unwrap_or("not set"),
        changes.len()
    ));
    Ok(StepResult::default())
}
