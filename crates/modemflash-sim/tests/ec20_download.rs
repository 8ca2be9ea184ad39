#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The EC20 R1 (MDM9615) download path, driven by the host clients: DIAG 0x3A → DMSS
//! upload of the programmer → GO → streaming DLOAD of the boot chain → RESET → boot.

use std::sync::Arc;
use std::time::Duration;

use modemflash::module::{DeviceMode, Port};
use modemflash::package::{ihex, ptable};
use modemflash::protocol::diag::{DiagClient, SwitchOutcome};
use modemflash::protocol::dmss::{DmssClient, DmssError, GoOutcome, NakReason, ProbedMode};
use modemflash::protocol::hdlc::encode;
use modemflash::protocol::streaming::{
    DownloadFlag, HelloOptions, PartitionStatus, PartitionTableOptions, Reply, StreamingClient,
    StreamingError,
};
use modemflash::transport::Transport;
use modemflash::transport::memory::MemoryTransport;
use modemflash_sim::boot::TEMP_APPSBL_MARKER;
use modemflash_sim::builder::{LegacySpec, partition_table};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, SimEvent, VirtualClock};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(60);
const PROBE: Duration = Duration::from_secs(2);
const PROGRAMMER_AT: u32 = 0x4170_0000;

fn start(config: ModuleConfig) -> Module {
    let mode = config.start_mode;
    let m = Module::start(config, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[mode], WAIT).unwrap();
    m
}

fn dload_config() -> ModuleConfig {
    let mut c = ModuleConfig::new(Model::Ec20R1);
    c.start_mode = DeviceMode::Dload;
    c
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(151).wrapping_add(seed) ^ (i >> 8) as u8).collect()
}

/// A 40-byte MBN v3 header and `body` bytes after it.
fn mbn(image_id: u32, load: u32, body: &[u8]) -> Vec<u8> {
    let code = body.len() as u32;
    let mut out = Vec::new();
    for v in [image_id, 3, 0, load, code, code, load + code, 0, load + code, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(body);
    out
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn table() -> Vec<u8> {
    partition_table(&LegacySpec::default())
}

/// The programmer as Intel HEX, parsed back into segments.
fn programmer() -> ihex::HexImage {
    let text = ihex::write(PROGRAMMER_AT, &bytes(9000, 7), Some(PROGRAMMER_AT));
    ihex::parse(text.as_bytes()).unwrap()
}

fn dmss(m: &Module) -> DmssClient<MemoryTransport> {
    DmssClient::new(m.bus().open(Port::Dm).unwrap())
}

/// From DMSS mode: upload the programmer, GO, and return the programmer's port.
fn start_programmer(m: &Module) -> StreamingClient<MemoryTransport> {
    let mut c = dmss(m);
    assert_eq!(c.probe(PROBE).unwrap(), ProbedMode::Dload);
    c.nop().unwrap();
    let params = c.params().unwrap();
    assert_eq!((params.version, params.min_version, params.max_write_size), (8, 1, 1024));
    let hex = programmer();
    let segments: Vec<(u32, &[u8])> = hex.segments.iter().map(|s| (s.address, s.data.as_slice())).collect();
    let mut last = (0, 0);
    c.upload(&segments, &mut |done, total| last = (done, total)).unwrap();
    assert_eq!(last, (9000, 9000));
    assert_eq!(c.go(hex.entry().unwrap(), Some(Duration::from_secs(5))).unwrap(), GoOutcome::Acked);
    drop(c);
    m.bus().wait_for(&[DeviceMode::Streaming], WAIT).unwrap();
    assert_eq!(m.with_core(|c| c.ram.get(&PROGRAMMER_AT).map(Vec::len)), Some(9000), "RAM survives GO");
    let mut c = dmss(m);
    assert_eq!(c.probe(PROBE).unwrap(), ProbedMode::StreamingProgrammer);
    StreamingClient::new(c.into_inner())
}

/// HELLO, SECURITY_MODE, PARTITION_TABLE.
fn prepare(s: &mut StreamingClient<MemoryTransport>) {
    let hello = s.hello(&HelloOptions::QFLASH_9615).unwrap();
    assert_eq!((hello.version, hello.min_version, hello.max_block_size), (3, 2, 1024));
    assert_eq!((hello.window_size, hello.features), (Some(2), Some(0x09)));
    s.security_mode(true).unwrap();
    let outcome = s.send_partition_table(&table(), &PartitionTableOptions::QFLASH_9615).unwrap();
    assert_eq!(outcome.last, PartitionStatus::Accepted);
}

fn write(s: &mut StreamingClient<MemoryTransport>, name: &str, image: &[u8]) -> Result<u64, StreamingError> {
    s.open_multi(name)?;
    let n = s.write_image(image, image.len() as u64, None, &mut |_, _| {})?;
    s.close()?;
    Ok(n)
}

fn boot_chain(appsbl_extra: &[u8]) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut appsbl = appsbl_extra.to_vec();
    appsbl.extend(bytes(21_000, 4));
    vec![
        ("0:SBL1", "sbl1", mbn(21, 0x4000_0000, &bytes(20_000, 1))),
        ("0:SBL2", "sbl2", mbn(22, 0x4010_0000, &bytes(30_011, 2))),
        ("0:RPM", "rpm", mbn(23, 0x0002_0000, &bytes(1_024 * 9, 3))),
        ("0:APPSBL", "appsbl", mbn(5, 0x4170_0000, &appsbl)),
    ]
}

#[test]
fn full_download_from_normal_mode_boots_the_new_chain() {
    let m = start(ModuleConfig::new(Model::Ec20R1));
    let mut d = DiagClient::new(m.bus().open(Port::Dm).unwrap());
    assert_eq!(d.ext_build_id().unwrap().revision, "EC20AQAR02A03E2G");
    assert_eq!(d.switch_to_dload().unwrap(), SwitchOutcome::Echoed);
    drop(d);
    m.bus().wait_for(&[DeviceMode::Dload], WAIT).unwrap();

    let mut s = start_programmer(&m);
    prepare(&mut s);
    let chain = boot_chain(&[]);
    for (sent, _, image) in &chain {
        assert_eq!(write(&mut s, sent, image).unwrap(), image.len() as u64);
    }
    s.reset().unwrap();
    drop(s);
    m.bus().wait_for(&[DeviceMode::Normal], WAIT).unwrap();

    let history = m.history();
    for (_, name, image) in &chain {
        assert_eq!(m.with_core(|c| c.nand.sha256(name)), Some(sha256(image)), "{name}");
        assert!(m.with_core(|c| c.nand.get(name).unwrap().content.complete));
        assert!(
            history
                .iter()
                .any(|e| matches!(e, SimEvent::PartitionWritten { name: written, size, sha256: hash }
                if written == name && *size == image.len() as u64 && *hash == sha256(image))),
            "no partition_written event for {name}"
        );
    }
    assert_eq!(m.with_core(|c| c.nand.table.clone()), table());
    assert!(
        history.iter().any(|e| matches!(e, SimEvent::Booted { revision } if revision == "EC20AQAR02A03E2G"))
    );
    assert_eq!(m.revision(), "EC20AQAR02A03E2G");
}

#[test]
fn temporary_appsbl_boots_into_fastboot() {
    let m = start(dload_config());
    let mut s = start_programmer(&m);
    prepare(&mut s);
    // QFirehose's recipe sets the Quectel flag; the programmer knows it.
    assert_eq!(s.set_download_flag(true).unwrap(), DownloadFlag::Done);
    for (sent, _, image) in boot_chain(TEMP_APPSBL_MARKER) {
        write(&mut s, sent, &image).unwrap();
    }
    assert_eq!(s.set_download_flag(false).unwrap(), DownloadFlag::Done);
    s.reset().unwrap();
    m.bus().wait_for(&[DeviceMode::Fastboot], WAIT).unwrap();
}

#[test]
fn dmss_write_nak_is_named() {
    let mut config = dload_config();
    config.faults = vec![Fault::parse("nak@step=dmss:write").unwrap()];
    let m = start(config);
    let mut c = dmss(&m);
    let hex = programmer();
    let segments: Vec<(u32, &[u8])> = hex.segments.iter().map(|s| (s.address, s.data.as_slice())).collect();
    let err = c.upload(&segments, &mut |_, _| {}).unwrap_err();
    match &err {
        DmssError::Nak { command, addr, reason } => {
            assert_eq!((*command, *addr, *reason), ("WRITE_32BIT", Some(PROGRAMMER_AT), NakReason::FAILED));
        }
        other => panic!("expected a NAK, got {other:?}"),
    }
    assert!(err.to_string().contains("operation failed"), "{err}");
}

#[test]
fn go_to_an_unwritten_address_is_refused() {
    let m = start(dload_config());
    let mut c = dmss(&m);
    let err = c.go(PROGRAMMER_AT, Some(Duration::from_secs(2))).unwrap_err();
    assert!(matches!(err, DmssError::Nak { reason: NakReason::INVALID_ADDRESS, .. }), "{err}");
    c.write32(PROGRAMMER_AT, &bytes(100, 0)).unwrap();
    let err = c.go(PROGRAMMER_AT + 4, Some(Duration::from_secs(2))).unwrap_err();
    assert!(matches!(err, DmssError::Nak { reason: NakReason::INVALID_ADDRESS, .. }), "{err}");
    // Too much data in one packet.
    c.set_max_chunk(2000);
    let err = c.write32(PROGRAMMER_AT + 100, &bytes(1025, 0)).unwrap_err();
    assert!(matches!(err, DmssError::Nak { reason: NakReason::INVALID_LENGTH, .. }), "{err}");
    assert_eq!(m.bus().current().mode, Some(DeviceMode::Dload));
    // A streaming HELLO is not DMSS.
    let mut t = c.into_inner();
    t.send(&encode(&modemflash::protocol::streaming::hello::encode_hello(&HelloOptions::default()), true))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = t.recv(&mut buf, PROBE).unwrap();
    assert_eq!(&buf[..n], encode(&[0x03, 0x00, 0x06], true).as_slice());
}

#[test]
fn power_loss_while_writing_appsbl_leaves_it_partial() {
    let mut config = dload_config();
    config.faults = vec![Fault::parse("power-loss@step=streaming:write:0:APPSBL").unwrap()];
    let m = start(config);
    let mut s = start_programmer(&m);
    prepare(&mut s);
    let chain = boot_chain(&[]);
    for (sent, _, image) in &chain[..3] {
        write(&mut s, sent, image).unwrap();
    }
    let err = write(&mut s, "0:APPSBL", &chain[3].2).unwrap_err();
    assert!(matches!(err, StreamingError::Transport(_) | StreamingError::NoReply { .. }), "{err}");
    drop(s);
    m.bus().wait_for(&[DeviceMode::Dload], WAIT).unwrap();
    let appsbl = m.with_core(|c| c.nand.get("appsbl").unwrap().content.clone());
    assert!(!appsbl.complete);
    assert!(appsbl.len < chain[3].2.len() as u64);
    assert_eq!(m.with_core(|c| c.nand.sha256("sbl1")), Some(sha256(&chain[0].2)));
    assert!(
        m.history()
            .iter()
            .any(|e| matches!(e, SimEvent::Fault { step, .. } if step == "streaming:write:0:APPSBL"))
    );
    assert_eq!(dmss(&m).probe(PROBE).unwrap(), ProbedMode::Dload);
}

#[test]
fn streaming_state_machine_refusals() {
    let m = start(dload_config());
    let mut s = start_programmer(&m);
    let device = |e: StreamingError| match e {
        StreamingError::Device { code, .. } => code,
        other => panic!("expected a device ERROR, got {other:?}"),
    };
    // Before HELLO everything is an invalid command.
    assert_eq!(device(s.security_mode(true).unwrap_err()), 0x05);
    let hello = s.hello(&HelloOptions::QFIREHOSE).unwrap();
    assert_eq!((hello.version, hello.features), (4, Some(0)));
    // PARTITION_TABLE needs SECURITY_MODE, OPEN_MULTI a table.
    assert_eq!(device(s.partition_table(&table(), false).unwrap_err()), 0x0F);
    s.security_mode(true).unwrap();
    assert_eq!(device(s.open_multi("0:SBL1").unwrap_err()), 0x0F);
    assert_eq!(
        s.partition_table(b"not a table at all", false).unwrap(),
        PartitionStatus::FormatNotRecognized
    );
    assert_eq!(s.partition_table(&table(), false).unwrap(), PartitionStatus::Accepted);
    // Another table differs until overridden.
    let other =
        ptable::encode(3, &[("0:SBL1", 4, 0, [0xff, 1, 0, 0xff]), ("0:NEW", 4, 0, [0xff, 1, 0, 0xff])]);
    assert_eq!(s.partition_table(&other, false).unwrap(), PartitionStatus::Differs);
    assert!(matches!(s.open_multi("0:NEW"), Err(StreamingError::OpenMulti { status: 5, .. })));
    assert_eq!(s.partition_table(&table(), false).unwrap(), PartitionStatus::Accepted);
    assert!(matches!(s.open_multi("0:NOSUCH"), Err(StreamingError::OpenMulti { status: 5, .. })));
    s.nop(b"ping").unwrap();
    // RESET refused while an image is open; writes beyond the partition refused.
    s.open_multi("0:RPM").unwrap();
    assert_eq!(device(s.reset().unwrap_err()), 0x0F);
    let cap = m.with_core(|c| c.nand.get("rpm").unwrap().capacity.unwrap());
    let mut link = s.into_link();
    let mut frame = vec![0x07];
    frame.extend_from_slice(&(cap as u32).to_le_bytes());
    frame.push(0);
    link.send(&frame, true).unwrap();
    let replies = [link.recv(PROBE).unwrap(), link.recv(PROBE).unwrap()];
    assert_eq!(Reply::parse(&replies[0]).unwrap(), Reply::Log("Out of space".into()));
    assert!(matches!(Reply::parse(&replies[1]).unwrap(), Reply::Error { code: 0x12, .. }));
    // ERASE_FLASH is refused.
    link.send(&[0x1D], true).unwrap();
    let replies = [link.recv(PROBE).unwrap(), link.recv(PROBE).unwrap()];
    assert!(matches!(Reply::parse(&replies[0]).unwrap(), Reply::Log(_)));
    assert!(matches!(Reply::parse(&replies[1]).unwrap(), Reply::Error { code: 0x07, .. }));
    let mut s = StreamingClient::from_link(link);
    s.close().unwrap();
    s.nop(b"x").unwrap();
    s.reset().unwrap();
    m.bus().wait_for(&[DeviceMode::Dload], WAIT).unwrap();
}

#[test]
fn download_flag_unsupported_and_short_packet_padding() {
    let mut config = dload_config();
    config.streaming_download_flag = false;
    let m = start(config);
    let mut s = start_programmer(&m);
    s.hello(&HelloOptions::QFLASH_9615).unwrap();
    assert!(matches!(s.set_download_flag(true).unwrap(), DownloadFlag::Unsupported { .. }));
    // A NOP echo whose frame is exactly 64 bytes gets two extra flags.
    let data = (0u8..=255)
        .map(|fill| vec![fill; 59])
        .find(|d| {
            let mut p = vec![0x0A];
            p.extend_from_slice(d);
            encode(&p, true).len() == 64
        })
        .unwrap();
    let mut link = s.into_link();
    let mut req = vec![0x09];
    req.extend_from_slice(&data);
    link.send(&req, true).unwrap();
    let t = link.transport_mut();
    let mut buf = [0u8; 128];
    let n = t.recv(&mut buf, PROBE).unwrap();
    let mut want = vec![0x0A];
    want.extend_from_slice(&data);
    let mut want = encode(&want, true);
    want.extend_from_slice(&[0x7E, 0x7E]);
    assert_eq!(&buf[..n], want.as_slice());
}
