//! One function per plan operation: open the port, drive the protocol client, report
//! progress. No policy beyond what the step says.

use std::io::Read;

use super::{Event, ExecOptions, FailureKind, Observer, port_for};
use crate::catalog::Chipset;
use crate::discovery::{ModuleBus, Port};
use crate::package::{Package, ihex};
use crate::plan::{DeviceMode, ModuleChip, Op, Step, chip};
use crate::protocol::at::AtError;
use crate::protocol::at::client::{AtClient, FastbootOutcome};
use crate::protocol::diag::client::DiagClient;
use crate::protocol::dmss::client::DmssClient;
use crate::protocol::fastboot::client::FastbootClient;
use crate::protocol::streaming::client::{DownloadFlag, StreamingClient};
use crate::protocol::streaming::codes::PartitionStatus;
use crate::protocol::streaming::hello::HelloOptions;
use crate::transport::Transport;

type Link = Box<dyn Transport>;

/// Clients kept open between steps in the same mode (the streaming programmer's session
/// lives in the module, but the HELLO block size and buffered frames live here).
#[derive(Default)]
pub(super) struct Session {
    pub mode: Option<crate::plan::DeviceMode>,
    streaming: Option<StreamingClient<Link>>,
    fastboot: Option<FastbootClient<Link>>,
    /// The Firehose programmer's session (MDM9x07 flow, `firehose_ops.rs`).
    pub(super) firehose: Option<crate::protocol::firehose::FirehoseClient<Link>>,
    /// Identities the steps have seen (fastboot serialno, the Firehose chip serial); the
    /// runner checks and journals them after each step.
    pub(super) learned: crate::discovery::module_id::ModuleIdentity,
    /// The EDL link left by the chipset check (Sahara command mode), with the bytes it
    /// received past its last packet: the fresh HELLO is read from it by the upload.
    pub(super) edl: Option<Link>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl Session {
    pub fn close(&mut self) {
        self.streaming = None;
        self.fastboot = None;
        self.firehose = None;
        self.edl = None;
    }
}

pub(super) struct Cx<'a> {
    pub bus: &'a mut dyn ModuleBus,
    pub package: &'a Package,
    pub observer: &'a mut dyn Observer,
    pub opts: &'a ExecOptions,
    pub step: &'a Step,
}

/// What a step produced.
#[derive(Debug, Default)]
pub(super) struct StepResult {
    pub revision: Option<String>,
    pub bytes: u64,
}

/// A step failure before the executor adds the step's name.
#[derive(Debug)]
pub(super) struct OpError {
    pub port: Port,
    pub kind: FailureKind,
    pub message: String,
}

fn err(port: Port, kind: FailureKind, e: impl std::fmt::Display) -> OpError {
    OpError { port, kind, message: e.to_string() }
}

/// A protocol client's error, named by what happened (see `classify`).
fn proto<E: std::fmt::Display + 'static>(e: &E, port: Port) -> OpError {
    err(port, super::classify::kind_of(e), e)
}

fn open(cx: &mut Cx<'_>, port: Port) -> Result<Link, OpError> {
    cx.bus.open(port).map_err(|e| err(port, FailureKind::Open, e))
}

fn progress<'o>(observer: &'o mut dyn Observer, step: &'o str) -> impl FnMut(u64, u64) + 'o {
    let mut last = 0u64;
    move |done, total| {
        // About 200 updates per step at most.
        if done == total || done.saturating_sub(last) >= (total / 200).max(64 * 1024) {
            last = done;
            observer.event(&Event::Progress { step: step.to_owned(), done, total });
        }
    }
}

/// Resolve a plan file: package-relative, or an absolute path (temporary loaders).
fn file_path(package: &Package, file: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(file);
    if p.is_absolute() { p.to_owned() } else { package.path_of(file) }
}

fn open_file(cx: &Cx<'_>, port: Port, file: &str) -> Result<(std::fs::File, u64), OpError> {
    let path = file_path(cx.package, file);
    let f = std::fs::File::open(&path)
        .map_err(|e| err(port, FailureKind::Package, format!("{}: {e}", path.display())))?;
    let len =
        f.metadata().map_err(|e| err(port, FailureKind::Package, format!("{}: {e}", path.display())))?.len();
    Ok((f, len))
}

fn streaming<'s>(
    session: &'s mut Session,
    cx: &mut Cx<'_>,
) -> Result<&'s mut StreamingClient<Link>, OpError> {
    if session.streaming.is_none() {
        session.streaming = Some(StreamingClient::new(open(cx, Port::Dm)?).with_timeouts(cx.opts.streaming));
    }
    session.streaming.as_mut().ok_or_else(|| err(Port::Dm, FailureKind::Open, "streaming session lost"))
}

fn fastboot<'s>(session: &'s mut Session, cx: &mut Cx<'_>) -> Result<&'s mut FastbootClient<Link>, OpError> {
    if session.fastboot.is_none() {
        let mut client = FastbootClient::new(open(cx, Port::Fastboot)?, cx.opts.fastboot.clone());
        // Make sure this is a fastboot that answers before the first flash
        // (`docs/facts/quectel.md`).
        let product = client.getvar("product").map_err(|e| proto(&e, Port::Fastboot))?;
        cx.observer.event(&Event::DeviceLog {
            step: cx.step.id.clone(),
            text: format!("fastboot product: {product}"),
        });
        // Which module this is, where its LK tells (an EC20 R1's says only `MDM9615`).
        if let Ok(serial) = client.getvar("serialno") {
            session.learned.set_fastboot(&serial, Some(&product));
        }
        session.fastboot = Some(client);
    }
    session.fastboot.as_mut().ok_or_else(|| err(Port::Fastboot, FailureKind::Open, "fastboot session lost"))
}

fn drain_streaming_logs(session: &mut Session, cx: &mut Cx<'_>) {
    if let Some(c) = session.streaming.as_mut() {
        for text in c.take_logs() {
            cx.observer
                .event(&Event::DeviceLog { step: cx.step.id.clone(), text: text.trim_end().to_owned() });
        }
    }
}

pub(super) fn run(session: &mut Session, cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    let step = cx.step;
    match &step.op {
        Op::DiagToDload => {
            let mut diag = DiagClient::new(open(cx, Port::Dm)?);
            if let Some(d) = cx.opts.reply_timeout {
                diag.set_reply_timeout(d);
            }
            diag.switch_to_dload().map_err(|e| proto(&e, Port::Dm))?;
            Ok(StepResult::default())
        }
        Op::AtToFastboot => {
            let mut at = AtClient::new(open(cx, Port::At)?);
            match at.enter_fastboot() {
                Ok(FastbootOutcome::Acknowledged | FastbootOutcome::NoReply | FastbootOutcome::PortGone) => {
                    Ok(StepResult::default())
                }
                Err(e @ AtError::NotSupported { .. }) => Err(err(Port::At, FailureKind::NotSupported, e)),
                Err(e) => Err(proto(&e, Port::At)),
            }
        }
        Op::DmssUpload { programmers } => dmss_upload(cx, programmers),
        Op::StreamingSession { tables, download_flag } => {
            let block = cx.opts.streaming_block;
            let c = streaming(session, cx)?;
            let hello = c.hello(&HelloOptions::QFLASH_9615).map_err(|e| proto(&e, Port::Dm))?;
            c.security_mode(true).map_err(|e| proto(&e, Port::Dm))?;
            let mut accepted = None;
            let mut statuses = Vec::new();
            // Try the tables in order without override; the first the programmer accepts
            // wins. If every table differs from the flash, force the first one: the
            // package's table is the one its images are laid out for [inferred].
            for t in tables {
                let bytes = read_small(cx.package, t).map_err(|e| err(Port::Dm, FailureKind::Package, e))?;
                let status = c.partition_table(&bytes, false).map_err(|e| proto(&e, Port::Dm))?;
                statuses.push(format!("{t}: {status:?}"));
                if status == PartitionStatus::Accepted {
                    accepted = Some(t.clone());
                    break;
                }
            }
            if accepted.is_none() {
                let first = tables
                    .first()
                    .ok_or_else(|| err(Port::Dm, FailureKind::Package, "no partition table"))?;
                let bytes =
                    read_small(cx.package, first).map_err(|e| err(Port::Dm, FailureKind::Package, e))?;
                let status = c.partition_table(&bytes, true).map_err(|e| proto(&e, Port::Dm))?;
                if status != PartitionStatus::Accepted {
                    return Err(err(
                        Port::Dm,
                        FailureKind::Protocol,
                        format!(
                            "the programmer refused every partition table ({}; override: {status:?})",
                            statuses.join(", ")
                        ),
                    ));
                }
                accepted = Some(format!("{first} (override)"));
            }
            if *download_flag
                && matches!(
                    c.set_download_flag(true).map_err(|e| proto(&e, Port::Dm))?,
                    DownloadFlag::Unsupported { .. }
                )
            {
                cx.observer.event(&Event::Warning {
                    step: step.id.clone(),
                    text: "the programmer does not know the Quectel download flag (0x60); continuing".into(),
                });
            }
            let text = format!(
                "programmer v{} ({}), max block {}, partition table {}",
                hello.version,
                String::from_utf8_lossy(&hello.flash_id),
                block.map_or(hello.max_block_size as usize, |b| b.min(hello.max_block_size as usize)),
                accepted.unwrap_or_default()
            );
            cx.observer.event(&Event::DeviceLog { step: step.id.clone(), text });
            drain_streaming_logs(session, cx);
            Ok(StepResult::default())
        }
        Op::StreamingWrite { partition, file } => {
            let (f, len) = open_file(cx, Port::Dm, file)?;
            let block = cx.opts.streaming_block;
            let id = step.id.clone();
            let c = streaming(session, cx)?;
            c.open_multi(partition).map_err(|e| proto(&e, Port::Dm))?;
            let written = c
                .write_image(
                    std::io::BufReader::with_capacity(256 * 1024, f),
                    len,
                    block,
                    &mut progress(cx.observer, &id),
                )
                .map_err(|e| proto(&e, Port::Dm))?;
            let c = streaming(session, cx)?;
            c.close().map_err(|e| proto(&e, Port::Dm))?;
            drain_streaming_logs(session, cx);
            Ok(StepResult { revision: None, bytes: written })
        }
        Op::StreamingInvalidate { partition } => {
            let c = streaming(session, cx)?;
            c.open_multi(partition).map_err(|e| proto(&e, Port::Dm))?;
            // One NAND page of zeros: no `ANDROID!` magic, so aboot stops in fastboot.
            c.write_image(std::io::repeat(0).take(4096), 4096, None, &mut |_, _| {})
                .map_err(|e| proto(&e, Port::Dm))?;
            c.close().map_err(|e| proto(&e, Port::Dm))?;
            Ok(StepResult::default())
        }
        Op::StreamingClearFlag => {
            let c = streaming(session, cx)?;
            if matches!(
                c.set_download_flag(false).map_err(|e| proto(&e, Port::Dm))?,
                DownloadFlag::Unsupported { .. }
            ) {
                cx.observer.event(&Event::Warning {
                    step: step.id.clone(),
                    text: "the programmer does not know the Quectel download flag (0x60)".into(),
                });
            }
            Ok(StepResult::default())
        }
        Op::StreamingReset => {
            let c = streaming(session, cx)?;
            c.reset().map_err(|e| proto(&e, Port::Dm))?;
            Ok(StepResult::default())
        }
        Op::FastbootFlash { partition, file } => {
            let (mut f, len) = open_file(cx, Port::Fastboot, file)?;
            let id = step.id.clone();
            let c = fastboot(session, cx)?;
            c.flash_image(partition, &mut f, len, &mut progress(cx.observer, &id))
                .map_err(|e| proto(&e, Port::Fastboot))?;
            let msgs: Vec<String> = c.take_messages().iter().map(|m| format!("{m:?}")).collect();
            for text in msgs {
                cx.observer.event(&Event::DeviceLog { step: id.clone(), text });
            }
            Ok(StepResult { revision: None, bytes: len })
        }
        Op::FastbootReboot => {
            let c = fastboot(session, cx)?;
            c.reboot().map_err(|e| proto(&e, Port::Fastboot))?;
            Ok(StepResult::default())
        }
        Op::DiagToEdl
        | Op::SaharaUpload { .. }
        | Op::FirehoseConfigure { .. }
        | Op::FirehoseErase { .. }
        | Op::FirehoseVendor { .. }
        | Op::FirehoseProgram { .. }
        | Op::FirehosePatch { .. }
        | Op::FirehosePowerReset { .. } => super::firehose_ops::run(session, cx),
        Op::FirehoseCheckGeometry => super::geometry_op::run(session, cx),
        Op::NvBackup { .. } | Op::FirehoseRead { .. } | Op::NvCompare { .. } => {
            super::backup_ops::run(session, cx)
        }
        Op::CheckChipset { expected, package } => check_chipset(session, cx, *expected, package),
        Op::Verify { expected } => {
            let rev = read_revision(cx.bus).map_err(|e| proto(&e, port_for(step.needs)))?;
            cx.observer
                .event(&Event::DeviceLog { step: step.id.clone(), text: format!("module reports {rev}") });
            if let Some(want) = expected
                && !rev.eq_ignore_ascii_case(want)
                && !rev.starts_with(want.as_str())
            {
                return Err(err(
                    Port::Dm,
                    FailureKind::Verify,
                    format!("the module reports {rev}, the package installs {want}"),
                ));
            }
            Ok(StepResult { revision: Some(rev), bytes: 0 })
        }
    }
}

/// Find out the module's chipset in the mode it is in, and stop unless it is `expected`.
/// Which evidence each mode gives is `plan::chip`'s; this only asks and compares.
fn check_chipset(
    session: &mut Session,
    cx: &mut Cx<'_>,
    expected: Chipset,
    package: &str,
) -> Result<StepResult, OpError> {
    let step = cx.step;
    let port = port_for(step.needs);
    let chip: Option<ModuleChip> = match step.needs {
        DeviceMode::Normal => {
            let rev = read_revision(cx.bus).map_err(|e| err(port, FailureKind::Protocol, e))?;
            chip::chip_from_revision(&rev).or_else(|| cx.bus.chip())
        }
        DeviceMode::Fastboot => {
            let product = fastboot(session, cx)?
                .getvar("product")
                .map_err(|e| err(Port::Fastboot, FailureKind::Protocol, e))?;
            chip::chip_from_fastboot_product(&product).or_else(|| cx.bus.chip())
        }
        DeviceMode::Edl => Some(super::firehose_ops::edl_chip(session, cx)?),
        DeviceMode::Dload | DeviceMode::Streaming => chip::chip_from_mode(step.needs),
    };
    let Some(chip) = chip else {
        return Err(err(
            port,
            FailureKind::WrongChipset,
            format!(
                "the package is for {package}, and the module in {} mode does not tell its chipset; nothing was written",
                step.needs.name()
            ),
        ));
    };
    cx.observer.event(&Event::DeviceLog {
        step: step.id.clone(),
        text: format!("the module is {}", chip.describe()),
    });
    if chip.chipset != expected {
        return Err(err(
            port,
            FailureKind::WrongChipset,
            format!("the package is for {package}; the module is {}. Nothing was written", chip.describe()),
        ));
    }
    Ok(StepResult::default())
}

fn read_small(package: &Package, file: &str) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    package
        .source
        .open_file(file)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut buf))
        .map_err(|e| format!("{file}: {e}"))?;
    Ok(buf)
}

fn dmss_upload(cx: &mut Cx<'_>, programmers: &[String]) -> Result<StepResult, OpError> {
    let mut failures = Vec::new();
    for prog in programmers {
        let image = match cx
            .package
            .source
            .open_file(prog)
            .map_err(|e| e.to_string())
            .and_then(|f| ihex::parse(f).map_err(|e| e.to_string()))
        {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{prog}: {e}"));
                continue;
            }
        };
        let Some(entry) = image.entry() else {
            failures.push(format!("{prog}: no entry address"));
            continue;
        };
        let mut dmss = DmssClient::new(open(cx, Port::Dm)?);
        if let Some(d) = cx.opts.reply_timeout {
            dmss.set_reply_timeout(d, crate::protocol::dmss::client::RECV_ATTEMPTS);
        }
        let segments: Vec<(u32, &[u8])> =
            image.segments.iter().map(|s| (s.address, s.data.as_slice())).collect();
        let id = cx.step.id.clone();
        let result = dmss
            .nop()
            .and_then(|()| dmss.upload(&segments, &mut progress(cx.observer, &id)))
            .and_then(|()| dmss.go(entry, None).map(|_| ()));
        match result {
            Ok(()) => {
                cx.observer.event(&Event::DeviceLog {
                    step: id,
                    text: format!("{prog} uploaded ({} bytes), GO {entry:#010x}", image.data_len()),
                });
                return Ok(StepResult { revision: None, bytes: image.data_len() as u64 });
            }
            Err(e) => {
                cx.observer.event(&Event::Warning {
                    step: id,
                    text: format!("{prog} failed: {e}; trying the next programmer"),
                });
                failures.push(format!("{prog}: {e}"));
            }
        }
    }
    Err(err(
        Port::Dm,
        FailureKind::Protocol,
        format!("no programmer could be started ({})", failures.join("; ")),
    ))
}

/// Read the running firmware's revision: DIAG 0x7C on the DM port, else `ATI` on the AT
/// port.
pub(super) fn read_revision(bus: &mut dyn ModuleBus) -> Result<String, String> {
    let diag = bus
        .open(Port::Dm)
        .map_err(|e| e.to_string())
        .and_then(|t| DiagClient::new(t).ext_build_id().map_err(|e| e.to_string()));
    match diag {
        Ok(id) if !id.revision.is_empty() => Ok(id.revision),
        Ok(_) | Err(_) => {
            let at = bus.open(Port::At).map_err(|e| e.to_string())?;
            AtClient::new(at)
                .revision()
                .map_err(|e| format!("cannot read the revision through DIAG or AT: {e}"))
        }
    }
}
