//! Operations of the MDM9x07 Firehose flow (`plan/firehose.rs`): DIAG → EDL, Sahara upload
//! of the programmer (or reuse of one already running, as the step's probe policy says),
//! then one Firehose command per step on the client kept in the [`Session`]
//! (`docs/facts/quectel.md`, `docs/facts/firehose.md`). Every command's values come typed
//! from the package; nothing here parses them.
//!
//! Timeouts are the Firehose client's named ones ([`ERASE_TIMEOUT`] 60 s,
//! [`PROGRAM_ACK_TIMEOUT`] 120 s, …), all above QFirehose's 15 s / 6 s that users report as
//! too short (issue 6).

use std::io::BufReader;

use super::FailureKind;
use super::error::{Cause, StepFailure};
use super::firehose_sparse as sparse;
use super::step::{Cx, Link, OpError, Session, StepResult, file_error, firehose, on, open, progress};
use crate::catalog::Chipset;
use crate::discovery::Port;
use crate::package::{EraseLine, PatchLine, ProgramEntry};
use crate::plan::ModuleChip;
use crate::plan::chip::chip_from_msm_id;
use crate::protocol::diag::client::DiagClient;
use crate::protocol::edl::{self, EdlProbe, Found};
use crate::protocol::firehose::client::{ERASE_TIMEOUT, PROGRAM_ACK_TIMEOUT, RAW_ELEMENT_TIMEOUT};
use crate::protocol::firehose::{ConfigureOptions, FirehoseClient, FirehoseError};
use crate::protocol::sahara::client::HELLO_TIMEOUT;
use crate::protocol::sahara::{SaharaClient, SaharaError};
use crate::transport::TransportError;
use crate::transport::replay::Replay;

// The floor for per-operation timeouts: erase ≥ 15 s, program ACK ≥ 60 s.
const _: () = assert!(ERASE_TIMEOUT.as_secs() >= 15 && PROGRAM_ACK_TIMEOUT.as_secs() >= 60);

pub(super) fn diag_to_edl(cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    let mut diag = DiagClient::new(open(cx, Port::Dm)?);
    diag.switch_to_edl().map_err(on(Port::Dm))?;
    Ok(StepResult::default())
}

pub(super) fn configure(session: &mut Session, cx: &mut Cx<'_>, memory: &str) -> Result<StepResult, OpError> {
    let opts = ConfigureOptions { memory_name: memory.to_owned(), ..ConfigureOptions::default() };
    let fh = firehose(session, cx)?;
    let n = fh.configure(&opts).map_err(on(Port::Edl))?;
    let logs = fh.last_log().to_vec();
    cx.device_logs(&logs);
    cx.log(format!(
        "configured {}: {} bytes per write to the target (asked {}, {} attempt(s)), target {}",
        n.memory_name.as_deref().unwrap_or(memory),
        n.max_payload_to_target,
        opts.max_payload_to_target,
        n.attempts,
        n.target_name.as_deref().unwrap_or("?")
    ));
    Ok(StepResult::default())
}

pub(super) fn erase(session: &mut Session, cx: &mut Cx<'_>, line: &EraseLine) -> Result<StepResult, OpError> {
    let r = firehose(session, cx)?.erase(&line.spec()).map_err(on(Port::Edl))?;
    cx.device_logs(&r.log);
    Ok(StepResult::default())
}

pub(super) fn vendor(
    session: &mut Session,
    cx: &mut Cx<'_>,
    element: &str,
    attrs: &[(String, String)],
) -> Result<StepResult, OpError> {
    let r = firehose(session, cx)?
        .send_raw_element(element, attrs, RAW_ELEMENT_TIMEOUT)
        .map_err(on(Port::Edl))?;
    cx.device_logs(&r.log);
    Ok(StepResult::default())
}

pub(super) fn patch(session: &mut Session, cx: &mut Cx<'_>, line: &PatchLine) -> Result<StepResult, OpError> {
    let r = firehose(session, cx)?.patch(&line.spec()).map_err(on(Port::Edl))?;
    cx.device_logs(&r.log);
    Ok(StepResult::default())
}

pub(super) fn power_reset(
    session: &mut Session,
    cx: &mut Cx<'_>,
    delay_secs: Option<u32>,
) -> Result<StepResult, OpError> {
    let result = firehose(session, cx)?.power_reset(delay_secs);
    session.firehose = None;
    match result {
        Ok(r) => cx.device_logs(&r.log),
        // The module may leave the bus before its ACK reaches us: that is the reset.
        Err(FirehoseError::Transport(TransportError::Disconnected)) => {
            cx.warn("the module left the bus before acknowledging the reset".into());
        }
        Err(e) => return Err(OpError::on(Port::Edl, e)),
    }
    Ok(StepResult::default())
}

pub(super) fn program(
    session: &mut Session,
    cx: &mut Cx<'_>,
    p: &ProgramEntry,
) -> Result<StepResult, OpError> {
    let path = cx.package.path_of(&p.file);
    let io = |e: std::io::Error| file_error(Port::Edl, &path, e);
    let f = std::fs::File::open(&path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut reader = BufReader::with_capacity(256 * 1024, f);
    let id = cx.step.id.clone();
    let spec = p.spec();
    if p.sparse {
        if let Some(base) = p.start_sector.number()
            && sparse::is_sparse(&mut reader).map_err(io)?
        {
            let fh = firehose(session, cx)?;
            let sent = sparse::program(fh, &spec, base, &mut reader, &path, &mut progress(cx.observer, &id))?;
            return Ok(StepResult { revision: None, bytes: sent });
        }
        cx.warn(format!(
            "{} is marked sparse=\"true\" but has no sparse header; sent as a plain image",
            path.display()
        ));
    }
    let fh = firehose(session, cx)?;
    let r = fh.program(&spec, &mut reader, len, &mut progress(cx.observer, &id)).map_err(on(Port::Edl))?;
    cx.device_logs(&r.log);
    Ok(StepResult { revision: None, bytes: len })
}

/// The chipset as the EDL interface tells it: Sahara command mode's MSM HW id, read from
/// the HELLO the target sent (never written to before that). The target then gets
/// SWITCH_MODE and says HELLO again; that link is kept in the session for the upload.
/// A Firehose programmer already running tells the 9x07 family by itself (the MDM9615
/// has no Firehose programmer, docs/facts/firehose.md [inferred]); its session is kept.
pub(super) fn edl_chip(
    session: &mut Session,
    cx: &mut Cx<'_>,
    probe: &EdlProbe,
) -> Result<ModuleChip, OpError> {
    session.firehose = None;
    let mut link = match session.edl.take() {
        Some(l) => l,
        None => open(cx, Port::Edl)?,
    };
    let found =
        edl::probe(&mut link, probe).map_err(|e| OpError::kind(Port::Edl, FailureKind::Protocol, e))?;
    match found {
        Found::Firehose(rest) => {
            session.firehose = Some(FirehoseClient::new(Replay::boxed(link, rest)));
            Ok(ModuleChip::new(
                Chipset::Mdm9x07,
                "a Firehose programmer already runs on its EDL interface; an MDM9615 has none",
            ))
        }
        Found::Sahara(_) | Found::Silent => {
            let (bytes, silent) = match found {
                Found::Sahara(b) => (b, false),
                _ => (Vec::new(), true),
            };
            let mut sahara = SaharaClient::new(Replay::boxed(link, bytes));
            let identity = sahara.read_identity().map_err(|e| match e {
                e @ SaharaError::NoHello { .. } if silent => silent_edl(e),
                e => OpError::kind(Port::Edl, FailureKind::Protocol, e),
            })?;
            let (link, rest) = sahara.into_parts();
            session.edl = Some(Replay::boxed(link, rest));
            Ok(chip_from_msm_id(identity.hw_id.msm_id))
        }
    }
}

const REUSED: &str = "a Firehose programmer already answers on the EDL interface; upload skipped";

pub(super) fn sahara_upload(
    session: &mut Session,
    cx: &mut Cx<'_>,
    programmer: &str,
    probe: &EdlProbe,
) -> Result<StepResult, OpError> {
    if session.firehose.is_some() {
        // The chipset check found the programmer running and kept its session.
        if !probe.reuse_running {
            return Err(OpError::on(Port::Edl, StepFailure::ProgrammerRunning));
        }
        cx.log(REUSED.into());
        return Ok(StepResult::default());
    }
    // After the chipset check the target is a Sahara boot ROM that was just switched to
    // image transfer: its fresh HELLO is read by the upload itself, nothing is probed.
    let (link, found): (Link, Found) = if let Some(l) = session.edl.take() {
        (l, Found::Sahara(Vec::new()))
    } else {
        let mut l = open(cx, Port::Edl)?;
        let found = edl::probe(&mut l, probe).map_err(on(Port::Edl))?;
        (l, found)
    };
    let silent = found == Found::Silent;
    let early = match found {
        Found::Firehose(_) if !probe.reuse_running => {
            return Err(OpError::on(Port::Edl, StepFailure::ProgrammerRunning));
        }
        Found::Firehose(rest) => {
            cx.log(REUSED.into());
            let mut fh = FirehoseClient::new(Replay::boxed(link, rest));
            let logs = fh.drain_startup(&probe.startup.for_running()).map_err(on(Port::Edl))?;
            cx.device_logs(&logs);
            learn_chip_serial(session, &logs);
            session.firehose = Some(fh);
            return Ok(StepResult::default());
        }
        Found::Sahara(bytes) => bytes,
        Found::Silent => Vec::new(),
    };
    let path = cx.package.path_of(programmer);
    let image = std::fs::File::open(&path).map_err(|e| file_error(Port::Edl, &path, e))?;
    let mut sahara = SaharaClient::new(Replay::boxed(link, early)).with_timeouts(
        crate::protocol::sahara::SaharaTimeouts { hello: HELLO_TIMEOUT, ..Default::default() },
    );
    let id = cx.step.id.clone();
    // No expected image id: serve the one the target asks for (13 on 9x07 boot ROMs).
    let report = sahara.upload_image(BufReader::new(image), None, &mut progress(cx.observer, &id)).map_err(
        |e| match e {
            e @ SaharaError::NoHello { .. } if silent => silent_edl(e),
            e => OpError::on(Port::Edl, Cause::from(e)),
        },
    )?;
    cx.log(format!(
        "programmer sent as image {} ({} bytes in {} reads), DONE: {:?}",
        report.image_id.map_or_else(|| "?".into(), |i| i.to_string()),
        report.bytes_served,
        report.reads,
        report.done
    ));
    // "must first read <log from mdm9x07, then send <configure" (`docs/facts/firehose.md`).
    let mut fh = FirehoseClient::new(sahara.into_inner());
    let logs = fh.drain_startup(&probe.startup).map_err(on(Port::Edl))?;
    cx.device_logs(&logs);
    learn_chip_serial(session, &logs);
    session.firehose = Some(fh);
    Ok(StepResult { revision: None, bytes: report.image_size })
}

/// A silent EDL interface (`Found::Silent`) that sent no HELLO after the nudge either.
fn silent_edl(e: SaharaError) -> OpError {
    OpError::on(Port::Edl, StepFailure::EdlSilent(Box::new(Cause::from(e))))
}

/// The programmer's `Chip serial num:` start-up log (docs/facts/firehose.md) names the module.
fn learn_chip_serial(session: &mut Session, logs: &[String]) {
    if let Some(n) = logs.iter().find_map(|l| crate::discovery::module_id::parse_chip_serial_log(l)) {
        session.learned.set_chip_serial(n);
    }
}
