//! Operations of the MDM9x07 Firehose flow (`plan/firehose.rs`): DIAG → EDL, Sahara upload
//! of the programmer (or reuse of one already running), then one Firehose command per step
//! on the client kept in the [`Session`] (`docs/facts/quectel.md`–3.6, `docs/facts/firehose.md`).
//!
//! Timeouts are the Firehose client's named ones ([`ERASE_TIMEOUT`] 60 s,
//! [`PROGRAM_ACK_TIMEOUT`] 120 s, …), all above QFirehose's 15 s / 6 s that users report as
//! too short (issue 6).

use std::io::BufReader;
use std::time::Duration;

use super::ops::{Cx, OpError, Session, StepResult};
use super::{Event, FailureKind, Observer};
use crate::catalog::Chipset;
use crate::discovery::Port;
use crate::plan::chip::chip_from_msm_id;
use crate::plan::{ModuleChip, Op};
use crate::protocol::diag::client::DiagClient;
use crate::protocol::firehose::client::{
    ERASE_TIMEOUT, PROGRAM_ACK_TIMEOUT, RAW_ELEMENT_TIMEOUT, STARTUP_FIRST_WAIT, STARTUP_QUIET,
};
use crate::protocol::firehose::{
    ConfigureOptions, EraseSpec, FirehoseClient, FirehoseError, PatchSpec, ProgramSpec,
};
use crate::protocol::sahara::client::HELLO_TIMEOUT;
use crate::protocol::sahara::{Packet, SaharaClient, decode};
use crate::transport::replay::Replay;
use crate::transport::{Transport, TransportError};

#[path = "firehose_sparse.rs"]
mod sparse;

type Link = Box<dyn Transport>;

/// How long the EDL interface may stay silent before the host asks whether a Firehose
/// programmer (which never says HELLO) is already running there with a `<nop>`.
/// [inferred] a boot ROM sends HELLO as soon as the interface is opened; the value is
/// below QFirehose's 5 s HELLO wait so a running programmer is found quickly.
pub const FIREHOSE_PROBE_AFTER: Duration = Duration::from_secs(2);
/// How long to wait for the answer to that `<nop>`.
pub const FIREHOSE_PROBE_REPLY: Duration = Duration::from_secs(3);
/// Bytes read while probing before giving up on recognising them.
const PROBE_LIMIT: usize = 64 * 1024;

// The floor for per-operation timeouts: erase ≥ 15 s, program ACK ≥ 60 s.
const _: () = assert!(ERASE_TIMEOUT.as_secs() >= 15 && PROGRAM_ACK_TIMEOUT.as_secs() >= 60);

pub(super) fn err(port: Port, kind: FailureKind, e: impl std::fmt::Display) -> OpError {
    OpError { port, kind, message: e.to_string() }
}

fn proto(e: &FirehoseError) -> OpError {
    named(Port::Edl, e)
}

/// A protocol client's error, named by what happened (see `classify`).
fn named<E: std::fmt::Display + 'static>(port: Port, e: &E) -> OpError {
    err(port, super::classify::kind_of(e), e)
}

fn open(cx: &mut Cx<'_>, port: Port) -> Result<Link, OpError> {
    cx.bus.open(port).map_err(|e| err(port, FailureKind::Open, e))
}

/// Progress events, about 200 per step at most.
pub(super) fn progress<'o>(observer: &'o mut dyn Observer, step: &'o str) -> impl FnMut(u64, u64) + 'o {
    let mut last = 0u64;
    move |done, total| {
        if done == total || done < last || done.saturating_sub(last) >= (total / 200).max(64 * 1024) {
            last = done;
            observer.event(&Event::Progress { step: step.to_owned(), done, total });
        }
    }
}

pub(super) fn device_logs(cx: &mut Cx<'_>, lines: &[String]) {
    for l in lines {
        let text = l.trim_end().to_owned();
        if !text.is_empty() {
            cx.observer.event(&Event::DeviceLog { step: cx.step.id.clone(), text });
        }
    }
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
}

fn num<T: std::str::FromStr>(attrs: &[(String, String)], name: &str, element: &str) -> Result<T, OpError> {
    attr(attrs, name).and_then(|v| v.parse().ok()).ok_or_else(|| {
        err(
            Port::Edl,
            FailureKind::Package,
            format!("<{element}> needs a numeric {name}, got {:?}", attr(attrs, name).unwrap_or("nothing")),
        )
    })
}

/// Attributes other than `skip`, for sending on verbatim.
fn rest(attrs: &[(String, String)], skip: &[&str]) -> Vec<(String, String)> {
    attrs.iter().filter(|(k, _)| !skip.iter().any(|s| k.eq_ignore_ascii_case(s))).cloned().collect()
}

/// The session's Firehose client; a fresh connection if the session has none (the
/// programmer keeps running across connections).
pub(super) fn client<'s>(
    session: &'s mut Session,
    cx: &mut Cx<'_>,
) -> Result<&'s mut FirehoseClient<Link>, OpError> {
    if session.firehose.is_none() {
        session.firehose = Some(FirehoseClient::new(open(cx, Port::Edl)?));
    }
    session.firehose.as_mut().ok_or_else(|| err(Port::Edl, FailureKind::Open, "Firehose session lost"))
}

pub(super) fn run(session: &mut Session, cx: &mut Cx<'_>) -> Result<StepResult, OpError> {
    let step = cx.step;
    match &step.op {
        Op::DiagToEdl => {
            let mut diag = DiagClient::new(open(cx, Port::Dm)?);
            diag.switch_to_edl().map_err(|e| named(Port::Dm, &e))?;
            Ok(StepResult::default())
        }
        Op::SaharaUpload { programmer } => sahara_upload(session, cx, programmer),
        Op::FirehoseConfigure { memory } => {
            let opts = ConfigureOptions { memory_name: memory.clone(), ..ConfigureOptions::default() };
            let fh = client(session, cx)?;
            let n = fh.configure(&opts).map_err(|e| proto(&e))?;
            let logs = fh.last_log().to_vec();
            device_logs(cx, &logs);
            let text = format!(
                "configured {}: {} bytes per write to the target (asked {}, {} attempt(s)), target {}",
                n.memory_name.as_deref().unwrap_or(memory),
                n.max_payload_to_target,
                opts.max_payload_to_target,
                n.attempts,
                n.target_name.as_deref().unwrap_or("?")
            );
            cx.observer.event(&Event::DeviceLog { step: step.id.clone(), text });
            Ok(StepResult::default())
        }
        Op::FirehoseErase { attrs } => {
            let spec = EraseSpec {
                sector_size: num(attrs, "SECTOR_SIZE_IN_BYTES", "erase")?,
                num_partition_sectors: num(attrs, "num_partition_sectors", "erase")?,
                start_sector: attr(attrs, "start_sector").unwrap_or("0").to_owned(),
                physical_partition_number: attr(attrs, "physical_partition_number")
                    .and_then(|v| v.parse().ok()),
                extra: rest(
                    attrs,
                    &[
                        "SECTOR_SIZE_IN_BYTES",
                        "num_partition_sectors",
                        "start_sector",
                        "physical_partition_number",
                    ],
                ),
            };
            let r = client(session, cx)?.erase(&spec).map_err(|e| proto(&e))?;
            device_logs(cx, &r.log);
            Ok(StepResult::default())
        }
        Op::FirehoseVendor { element, attrs } => {
            let r = client(session, cx)?
                .send_raw_element(element, attrs, RAW_ELEMENT_TIMEOUT)
                .map_err(|e| proto(&e))?;
            device_logs(cx, &r.log);
            Ok(StepResult::default())
        }
        Op::FirehoseProgram { label, file, sector_size, start_sector, sparse, attrs } => {
            let spec = ProgramSpec {
                sector_size: *sector_size,
                start_sector: start_sector.clone(),
                physical_partition_number: attr(attrs, "physical_partition_number")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                label: label.clone(),
                filename: attr(attrs, "filename").unwrap_or(file).to_owned(),
                extra: rest(
                    attrs,
                    &[
                        "SECTOR_SIZE_IN_BYTES",
                        "filename",
                        "label",
                        "num_partition_sectors",
                        "physical_partition_number",
                        "start_sector",
                    ],
                ),
            };
            program(session, cx, &spec, file, *sparse)
        }
        Op::FirehosePatch { attrs } => {
            let spec = PatchSpec {
                sector_size: num(attrs, "SECTOR_SIZE_IN_BYTES", "patch")?,
                byte_offset: num(attrs, "byte_offset", "patch")?,
                filename: attr(attrs, "filename").unwrap_or("DISK").to_owned(),
                physical_partition_number: attr(attrs, "physical_partition_number")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                size_in_bytes: num(attrs, "size_in_bytes", "patch")?,
                start_sector: attr(attrs, "start_sector").unwrap_or("0").to_owned(),
                value: attr(attrs, "value").unwrap_or("0").to_owned(),
                extra: rest(
                    attrs,
                    &[
                        "SECTOR_SIZE_IN_BYTES",
                        "byte_offset",
                        "filename",
                        "physical_partition_number",
                        "size_in_bytes",
                        "start_sector",
                        "value",
                    ],
                ),
            };
            let r = client(session, cx)?.patch(&spec).map_err(|e| proto(&e))?;
            device_logs(cx, &r.log);
            Ok(StepResult::default())
        }
        Op::FirehosePowerReset { delay_secs } => {
            let result = client(session, cx)?.power_reset(*delay_secs);
            session.firehose = None;
            match result {
                Ok(r) => device_logs(cx, &r.log),
                // The module may leave the bus before its ACK reaches us: that is the reset.
                Err(FirehoseError::Transport(TransportError::Disconnected)) => {
                    cx.observer.event(&Event::Warning {
                        step: step.id.clone(),
                        text: "the module left the bus before acknowledging the reset".into(),
                    });
                }
                Err(e) => return Err(proto(&e)),
            }
            Ok(StepResult::default())
        }
        other => Err(err(
            Port::Edl,
            FailureKind::NotSupported,
            format!("{other:?} is not an operation of the Firehose flow"),
        )),
    }
}

fn program(
    session: &mut Session,
    cx: &mut Cx<'_>,
    spec: &ProgramSpec,
    file: &str,
    sparse: bool,
) -> Result<StepResult, OpError> {
    let path = cx.package.path_of(file);
    let io = |e: std::io::Error| err(Port::Edl, FailureKind::Package, format!("{}: {e}", path.display()));
    let f = std::fs::File::open(&path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut reader = BufReader::with_capacity(256 * 1024, f);
    let id = cx.step.id.clone();
    if sparse {
        if sparse::is_sparse(&mut reader).map_err(io)? {
            let fh = client(session, cx)?;
            let sent = sparse::program(fh, spec, &mut reader, &path, &mut progress(cx.observer, &id))?;
            return Ok(StepResult { revision: None, bytes: sent });
        }
        cx.observer.event(&Event::Warning {
            step: id.clone(),
            text: format!(
                "{} is marked sparse=\"true\" but has no sparse header; sent as a plain image",
                path.display()
            ),
        });
    }
    let fh = client(session, cx)?;
    let r = fh.program(spec, &mut reader, len, &mut progress(cx.observer, &id)).map_err(|e| proto(&e))?;
    device_logs(cx, &r.log);
    Ok(StepResult { revision: None, bytes: len })
}

/// What answers on the EDL interface.
pub(super) enum Found {
    /// A boot ROM: its first bytes (a HELLO), or nothing yet.
    Sahara(Vec<u8>),
    /// A Firehose programmer: bytes after its answer to our `<nop>` (or its logs).
    Firehose(Vec<u8>),
}

pub(super) fn is_firehose(f: &Found) -> bool {
    matches!(f, Found::Firehose(_))
}

fn is_hello(bytes: &[u8]) -> bool {
    matches!(decode(bytes), Some((Ok(Packet::Hello(_)), _)))
}

/// Where the bytes after the first `<response …/>` document end, if one is complete.
/// Works on the raw bytes: an offset found in a lossy UTF-8 copy would not be an offset
/// into `bytes` once a non-UTF-8 byte came before the reply.
fn after_response(bytes: &[u8]) -> Option<usize> {
    const CLOSE: &[u8] = b"</data>";
    let at = find(bytes, b"<response")?;
    let end = find(bytes.get(at..)?, CLOSE)?;
    at.checked_add(end)?.checked_add(CLOSE.len()).filter(|&e| e <= bytes.len())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read what the EDL interface says first. A boot ROM says HELLO at once; silence means
/// either a ROM that already said it or a running programmer, which a `<nop>` tells apart
/// (a ROM answers garbage with a new HELLO or not at all).
pub(super) fn probe(link: &mut Link) -> Result<Found, TransportError> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        match link.recv(&mut buf, FIREHOSE_PROBE_AFTER) {
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(TransportError::Timeout(_)) => break,
            Err(e) => return Err(e),
        }
        if is_hello(&got) || got.len() >= PROBE_LIMIT {
            return Ok(Found::Sahara(got));
        }
        if got.starts_with(b"<?xml") && got.windows(7).any(|w| w == b"</data>") {
            // Logs of a programmer that is starting or running.
            return Ok(Found::Firehose(got));
        }
    }
    if !got.is_empty() {
        return Ok(Found::Sahara(got));
    }
    link.send(&crate::protocol::firehose::build_nop())?;
    loop {
        match link.recv(&mut buf, FIREHOSE_PROBE_REPLY) {
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(TransportError::Timeout(_)) => return Ok(Found::Sahara(got)),
            Err(e) => return Err(e),
        }
        if is_hello(&got) || got.len() >= PROBE_LIMIT {
            return Ok(Found::Sahara(got));
        }
        if let Some(end) = after_response(&got) {
            return Ok(Found::Firehose(got.get(end..).unwrap_or_default().to_vec()));
        }
    }
}

/// The chipset as the EDL interface tells it: Sahara command mode's MSM HW id, read from
/// the HELLO the target sent (never written to before that). The target then gets
/// SWITCH_MODE and says HELLO again; that link is kept in the session for the upload.
/// A Firehose programmer already running tells the 9x07 family by itself (the MDM9615
/// has no Firehose programmer, docs/facts/firehose.md [inferred]); its session is kept.
pub(super) fn edl_chip(session: &mut Session, cx: &mut Cx<'_>) -> Result<ModuleChip, OpError> {
    session.firehose = None;
    let mut link = match session.edl.take() {
        Some(l) => l,
        None => open(cx, Port::Edl)?,
    };
    match probe(&mut link).map_err(|e| err(Port::Edl, FailureKind::Protocol, e))? {
        Found::Firehose(rest) => {
            session.firehose = Some(FirehoseClient::new(Replay::boxed(link, rest)));
            Ok(ModuleChip::new(
                Chipset::Mdm9x07,
                "a Firehose programmer already runs on its EDL interface; an MDM9615 has none",
            ))
        }
        Found::Sahara(bytes) => {
            let mut sahara = SaharaClient::new(Replay::boxed(link, bytes));
            let identity = sahara.read_identity().map_err(|e| err(Port::Edl, FailureKind::Protocol, e))?;
            let (link, rest) = sahara.into_parts();
            session.edl = Some(Replay::boxed(link, rest));
            Ok(chip_from_msm_id(identity.hw_id.msm_id))
        }
    }
}

fn sahara_upload(session: &mut Session, cx: &mut Cx<'_>, programmer: &str) -> Result<StepResult, OpError> {
    let id = cx.step.id.clone();
    if session.firehose.is_some() {
        // The chipset check found the programmer running and kept its session.
        cx.observer.event(&Event::DeviceLog {
            step: id,
            text: "a Firehose programmer already answers on the EDL interface; upload skipped".into(),
        });
        return Ok(StepResult::default());
    }
    // After the chipset check the target is a Sahara boot ROM that was just switched to
    // image transfer: its fresh HELLO is read by the upload itself, nothing is probed.
    let (link, found) = if let Some(l) = session.edl.take() {
        (l, Found::Sahara(Vec::new()))
    } else {
        let mut l = open(cx, Port::Edl)?;
        let found = probe(&mut l).map_err(|e| named(Port::Edl, &e))?;
        (l, found)
    };
    let early = match found {
        Found::Firehose(rest) => {
            cx.observer.event(&Event::DeviceLog {
                step: id,
                text: "a Firehose programmer already answers on the EDL interface; upload skipped".into(),
            });
            let mut fh = FirehoseClient::new(Replay::boxed(link, rest));
            let logs = fh.drain_logs(STARTUP_QUIET, STARTUP_QUIET).map_err(|e| proto(&e))?;
            device_logs(cx, &logs);
            learn_chip_serial(session, &logs);
            session.firehose = Some(fh);
            return Ok(StepResult::default());
        }
        Found::Sahara(bytes) => bytes,
    };
    let path = cx.package.path_of(programmer);
    let image = std::fs::File::open(&path)
        .map_err(|e| err(Port::Edl, FailureKind::Package, format!("{}: {e}", path.display())))?;
    let mut sahara = SaharaClient::new(Replay::boxed(link, early)).with_timeouts(
        crate::protocol::sahara::SaharaTimeouts { hello: HELLO_TIMEOUT, ..Default::default() },
    );
    // No expected image id: serve the one the target asks for (13 on 9x07 boot ROMs).
    let report = sahara
        .upload_image(BufReader::new(image), None, &mut progress(cx.observer, &id))
        .map_err(|e| named(Port::Edl, &e))?;
    cx.observer.event(&Event::DeviceLog {
        step: id.clone(),
        text: format!(
            "programmer sent as image {} ({} bytes in {} reads), DONE: {:?}",
            report.image_id.map_or_else(|| "?".into(), |i| i.to_string()),
            report.bytes_served,
            report.reads,
            report.done
        ),
    });
    // "must first read <log from mdm9x07, then send <configure" (`docs/facts/firehose.md`).
    let mut fh = FirehoseClient::new(sahara.into_inner());
    let logs = fh.drain_logs(STARTUP_FIRST_WAIT, STARTUP_QUIET).map_err(|e| proto(&e))?;
    device_logs(cx, &logs);
    learn_chip_serial(session, &logs);
    session.firehose = Some(fh);
    Ok(StepResult { revision: None, bytes: report.image_size })
}

/// The programmer's `Chip serial num:` start-up log (docs/facts/firehose.md) names the module.
fn learn_chip_serial(session: &mut Session, logs: &[String]) {
    if let Some(n) = logs.iter().find_map(|l| crate::discovery::module_id::parse_chip_serial_log(l)) {
        session.learned.set_chip_serial(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::memory::stream_pair;

    #[test]
    fn a_reply_after_non_utf8_bytes_is_split_on_the_raw_offset() {
        // Invalid UTF-8 before the reply: a lossy copy is longer than the bytes.
        let mut bytes = vec![0xff, 0xfe, 0xc3];
        bytes.extend_from_slice(b"<?xml version=\"1.0\" ?><data><response value=\"ACK\"/></data>");
        bytes.extend_from_slice(b"tail");
        let end = after_response(&bytes).unwrap();
        assert_eq!(&bytes[end..], b"tail");
        assert_eq!(after_response(b"\xff\xff<response"), None);
        assert_eq!(after_response(&[0xff; 64]), None);
    }

    #[test]
    fn a_running_programmer_answers_the_probe() {
        let (host, mut dev) = stream_pair("edl");
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let n = dev.recv(&mut buf, Duration::from_secs(5)).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).contains("<nop"));
            let none: &[(&str, &str)] = &[];
            let mut reply = crate::protocol::firehose::encode_response(true, None, none).unwrap();
            reply.extend_from_slice(&crate::protocol::firehose::encode_log("after"));
            dev.send(&reply).unwrap();
            dev
        });
        let mut link: Link = Box::new(host);
        match probe(&mut link) {
            Ok(Found::Firehose(rest)) => assert!(String::from_utf8_lossy(&rest).contains("after")),
            _ => panic!("expected a running programmer"),
        }
        t.join().unwrap();
    }

    #[test]
    fn a_boot_rom_hello_is_kept_for_sahara() {
        let (host, mut dev) = stream_pair("edl");
        let hello = Packet::Hello(crate::protocol::sahara::Hello {
            version: 2,
            version_supported: 1,
            max_cmd_len: 0x400,
            mode: 0,
            reserved: [0; 6],
            len: crate::protocol::sahara::codec::HELLO_LEN,
        })
        .encode();
        dev.send(&hello).unwrap();
        let mut link: Link = Box::new(host);
        match probe(&mut link) {
            Ok(Found::Sahara(bytes)) => assert_eq!(bytes, hello),
            _ => panic!("expected Sahara"),
        }
    }
}
