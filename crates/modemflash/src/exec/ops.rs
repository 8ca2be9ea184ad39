//! The legacy MDM9615 operations (DIAG, AT, DMSS, streaming DLOAD, fastboot) and the
//! revision read, one function per plan operation: open the port, drive the protocol
//! client, report progress. What to try and in which order is the step's data.

use std::io::Read;

use super::error::{Cause, StepFailure};
use super::step::{Cx, OpError, Session, StepResult, fastboot, on, open, open_file, progress, streaming};
use super::{FailureKind, port_for};
use crate::discovery::{ModuleBus, Port};
use crate::plan::{PartitionTables, ProgrammerFallback};
use crate::protocol::at::client::{AtClient, FastbootOutcome};
use crate::protocol::diag::client::DiagClient;
use crate::protocol::dmss::client::DmssClient;
use crate::protocol::streaming::client::DownloadFlag;
use crate::protocol::streaming::hello::HelloOptions;

/// Largest partition table read (real ones are a few hundred bytes).
const MAX_TABLE: u64 = 64 * 1024;

pub(super) fn diag_to_dload(cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    let mut diag = DiagClient::new(open(cx, Port::Dm)?);
    if let Some(d) = cx.opts.reply_timeout {
        diag.set_reply_timeout(d);
    }
    diag.switch_to_dload().map_err(on(Port::Dm))?;
    Ok(StepResult::default())
}

pub(super) fn at_to_fastboot(cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    let mut at = AtClient::new(open(cx, Port::At)?);
    match at.enter_fastboot().map_err(on(Port::At))? {
        FastbootOutcome::Acknowledged | FastbootOutcome::NoReply | FastbootOutcome::PortGone => {
            Ok(StepResult::default())
        }
    }
}

fn drain_streaming_logs(session: &mut Session, cx: &mut Cx<'_>) {
    if let Some(c) = session.streaming.as_mut() {
        for text in c.take_logs() {
            cx.log(text.trim_end().to_owned());
        }
    }
}

fn read_table(cx: &Cx<'_>, file: &str) -> Result<Vec<u8>, OpError> {
    let mut buf = Vec::new();
    cx.package
        .source
        .open_file(file)
        .and_then(|f| f.take(MAX_TABLE).read_to_end(&mut buf))
        .map_err(|e| OpError::on(Port::Dm, Cause::File { path: file.to_owned(), source: e }))?;
    Ok(buf)
}

pub(super) fn streaming_session(
    session: &mut Session,
    cx: &mut Cx<'_>,
    tables: &PartitionTables,
    download_flag: bool,
) -> Result<StepResult, OpError> {
    let block = cx.opts.streaming_block;
    let bytes = tables.candidates.iter().map(|t| read_table(cx, t)).collect::<Result<Vec<_>, _>>()?;
    let c = streaming(session, cx)?;
    let hello = c.hello(&HelloOptions::QFLASH_9615).map_err(on(Port::Dm))?;
    c.security_mode(true).map_err(on(Port::Dm))?;
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let choice = c.choose_partition_table(&refs, tables.override_first).map_err(on(Port::Dm))?;
    let Some(first) = tables.candidates.first() else {
        return Err(OpError::on(Port::Dm, StepFailure::NoPartitionTable));
    };
    let accepted = match (choice.accepted, choice.overridden) {
        (Some(_), Some(_)) => format!("{first} (override)"),
        (Some(i), None) => tables.candidates.get(i).cloned().unwrap_or_default(),
        (None, overridden) => {
            let tried = tables.candidates.iter().cloned().zip(choice.statuses).collect();
            let overridden =
                overridden.unwrap_or(crate::protocol::streaming::codes::PartitionStatus::Differs);
            return Err(OpError::kind(
                Port::Dm,
                FailureKind::Protocol,
                StepFailure::TablesRefused { tried, overridden },
            ));
        }
    };
    if download_flag
        && matches!(c.set_download_flag(true).map_err(on(Port::Dm))?, DownloadFlag::Unsupported { .. })
    {
        cx.warn("the programmer does not know the Quectel download flag (0x60); continuing".into());
    }
    let max = hello.max_block_size as usize;
    cx.log(format!(
        "programmer v{} ({}), max block {}, partition table {accepted}",
        hello.version,
        String::from_utf8_lossy(&hello.flash_id),
        block.map_or(max, |b| b.min(max)),
    ));
    drain_streaming_logs(session, cx);
    Ok(StepResult::default())
}

pub(super) fn streaming_write(
    session: &mut Session,
    cx: &mut Cx<'_>,
    partition: &str,
    file: &str,
) -> Result<StepResult, OpError> {
    let (f, len) = open_file(cx, Port::Dm, file)?;
    let block = cx.opts.streaming_block;
    let id = cx.step.id.clone();
    let c = streaming(session, cx)?;
    c.open_multi(partition).map_err(on(Port::Dm))?;
    let written = c
        .write_image(
            std::io::BufReader::with_capacity(256 * 1024, f),
            len,
            block,
            &mut progress(cx.observer, &id),
        )
        .map_err(on(Port::Dm))?;
    let c = streaming(session, cx)?;
    c.close().map_err(on(Port::Dm))?;
    drain_streaming_logs(session, cx);
    Ok(StepResult { revision: None, bytes: written })
}

pub(super) fn streaming_invalidate(
    session: &mut Session,
    cx: &mut Cx<'_>,
    partition: &str,
) -> Result<StepResult, OpError> {
    let c = streaming(session, cx)?;
    c.open_multi(partition).map_err(on(Port::Dm))?;
    // One NAND page of zeros: no `ANDROID!` magic, so aboot stops in fastboot.
    c.write_image(std::io::repeat(0).take(4096), 4096, None, &mut |_, _| {}).map_err(on(Port::Dm))?;
    c.close().map_err(on(Port::Dm))?;
    Ok(StepResult::default())
}

pub(super) fn streaming_clear_flag(session: &mut Session, cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    let c = streaming(session, cx)?;
    if matches!(c.set_download_flag(false).map_err(on(Port::Dm))?, DownloadFlag::Unsupported { .. }) {
        cx.warn("the programmer does not know the Quectel download flag (0x60)".into());
    }
    Ok(StepResult::default())
}

pub(super) fn streaming_reset(session: &mut Session, cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    streaming(session, cx)?.reset().map_err(on(Port::Dm))?;
    Ok(StepResult::default())
}

pub(super) fn fastboot_flash(
    session: &mut Session,
    cx: &mut Cx<'_>,
    partition: &str,
    file: &str,
) -> Result<StepResult, OpError> {
    let (mut f, len) = open_file(cx, Port::Fastboot, file)?;
    let id = cx.step.id.clone();
    let c = fastboot(session, cx)?;
    c.flash_image(partition, &mut f, len, &mut progress(cx.observer, &id)).map_err(on(Port::Fastboot))?;
    let msgs: Vec<String> = c.take_messages().iter().map(|m| format!("{m:?}")).collect();
    for text in msgs {
        cx.log(text);
    }
    Ok(StepResult { revision: None, bytes: len })
}

pub(super) fn fastboot_reboot(session: &mut Session, cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    fastboot(session, cx)?.reboot().map_err(on(Port::Fastboot))?;
    Ok(StepResult::default())
}

pub(super) fn verify(cx: &mut Cx<'_>, expected: Option<&str>) -> Result<StepResult, OpError> {
    let rev = read_revision(cx.bus).map_err(on(port_for(cx.step.needs)))?;
    cx.log(format!("module reports {rev}"));
    if let Some(want) = expected
        && !rev.eq_ignore_ascii_case(want)
        && !rev.starts_with(want)
    {
        return Err(OpError::on(Port::Dm, StepFailure::Verify { reported: rev, expected: want.to_owned() }));
    }
    Ok(StepResult { revision: Some(rev), bytes: 0 })
}

/// Upload the programmers in order until one starts, as far as `fallback` allows.
pub(super) fn dmss_upload(
    cx: &mut Cx<'_>,
    programmers: &[String],
    fallback: ProgrammerFallback,
) -> Result<StepResult, OpError> {
    let mut tries = Vec::new();
    for prog in programmers {
        let image = match cx.package.source.open_file(prog) {
            Err(e) => Err(Cause::File { path: prog.clone(), source: e }),
            Ok(f) => crate::package::ihex::parse(f).map_err(|e| Cause::Hex { path: prog.clone(), source: e }),
        };
        let attempt = image.map_err(|c| (c, false)).and_then(|image| {
            let entry = image.entry().ok_or((StepFailure::NoEntryAddress.into(), false))?;
            let mut dmss = DmssClient::new(open(cx, Port::Dm).map_err(|e| (e.cause, true))?);
            if let Some(d) = cx.opts.reply_timeout {
                dmss.set_reply_timeout(d, crate::protocol::dmss::client::RECV_ATTEMPTS);
            }
            let segments: Vec<(u32, &[u8])> =
                image.segments.iter().map(|s| (s.address, s.data.as_slice())).collect();
            let id = cx.step.id.clone();
            dmss.nop()
                .and_then(|()| dmss.upload(&segments, &mut progress(cx.observer, &id)))
                .and_then(|()| dmss.go(entry, None).map(|_| ()))
                .map(|()| (entry, image.data_len()))
                .map_err(|e| (Cause::from(e), false))
        });
        match attempt {
            Ok((entry, len)) => {
                cx.log(format!("{prog} uploaded ({len} bytes), GO {entry:#010x}"));
                return Ok(StepResult { revision: None, bytes: len as u64 });
            }
            // A port that cannot be opened ends the step: no programmer will do better.
            Err((cause, true)) => return Err(OpError::kind(Port::Dm, FailureKind::Open, cause)),
            Err((cause, false)) => {
                if matches!(cause, Cause::Dmss(_)) {
                    cx.warn(format!("{prog} failed: {cause}; trying the next programmer"));
                }
                tries.push((prog.clone(), cause));
                if fallback == ProgrammerFallback::FirstOnly {
                    break;
                }
            }
        }
    }
    Err(OpError::kind(Port::Dm, FailureKind::Protocol, StepFailure::NoProgrammerStarted { tries }))
}

/// Read the running firmware's revision: DIAG 0x7C on the DM port, else `ATI` on the AT
/// port.
pub(super) fn read_revision(bus: &mut dyn ModuleBus) -> Result<String, Cause> {
    let diag = bus.open(Port::Dm).ok().and_then(|t| DiagClient::new(t).ext_build_id().ok());
    match diag {
        Some(id) if !id.revision.is_empty() => Ok(id.revision),
        _ => {
            let at = bus.open(Port::At)?;
            AtClient::new(at).revision().map_err(|e| StepFailure::NoRevision(Box::new(e.into())).into())
        }
    }
}
