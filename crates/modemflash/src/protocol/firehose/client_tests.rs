use std::collections::VecDeque;
use std::thread;
use std::time::Instant;

use super::*;
use crate::protocol::firehose::codec::{Command, CommandKind, encode_log, encode_response};
use crate::transport::LinkInfo;
use crate::transport::memory::{MemoryTransport, stream_pair};

const T: Duration = Duration::from_secs(5);
const NONE: [(&str, &str); 0] = [];

/// The device end: reads commands and raw bytes with the same scanner the host uses.
struct Dev {
    t: MemoryTransport,
    s: Scanner,
}

impl Dev {
    fn new(t: MemoryTransport) -> Self {
        Self { t, s: Scanner::default() }
    }

    fn fill(&mut self) {
        let mut buf = [0u8; 4096];
        let n = self.t.recv(&mut buf, T).unwrap();
        self.s.feed(&buf[..n]).unwrap();
    }

    fn command(&mut self) -> Command {
        loop {
            if let Some(cmd) = self.s.next_command().unwrap() {
                return cmd;
            }
            self.fill();
        }
    }

    fn raw(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        let mut got = 0;
        while got < n {
            if self.s.buffered() == 0 {
                self.fill();
            }
            got += self.s.take_raw(&mut out[got..]);
        }
        out
    }

    fn log(&mut self, s: &str) {
        self.t.send(&encode_log(s)).unwrap();
    }

    fn respond(&mut self, ack: bool, rawmode: Option<bool>, extra: &[(&str, &str)]) {
        self.t.send(&encode_response(ack, rawmode, extra).unwrap()).unwrap();
    }
}

fn session<F>(device: F) -> (FirehoseClient<MemoryTransport>, thread::JoinHandle<()>)
where
    F: FnOnce(Dev) + Send + 'static,
{
    let (host, dev) = stream_pair("edl");
    let handle = thread::spawn(move || device(Dev::new(dev)));
    let mut client = FirehoseClient::new(host);
    client.timeouts_mut().nak_log_grace = Duration::from_millis(100);
    client.timeouts_mut().power_drain_quiet = Duration::from_millis(100);
    (client, handle)
}

fn spec(sector: u32) -> ProgramSpec {
    ProgramSpec {
        sector_size: sector,
        start_sector: "13952".into(),
        physical_partition_number: 0,
        label: "rpm".into(),
        filename: "rpm.mbn".into(),
        extra: vec![("PAGES_PER_BLOCK".into(), "64".into())],
    }
}

#[test]
fn drain_startup_logs_9x07_style() {
    let (mut c, h) = session(|mut d| {
        d.log("Binary build date: Jan 11 2021 @ 10:00:00\n");
        d.log("Chip serial num: 305419896 (0x12345678)");
        d.log("Supported Functions: program configure power benchmark read getstorageinfo erase nop ");
        crate::testutil::hold_until_hangup(&mut d.t);
    });
    let logs = c.drain_logs(Duration::from_secs(2), Duration::from_millis(100)).unwrap();
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[0], "Binary build date: Jan 11 2021 @ 10:00:00\n");
    assert!(logs[2].ends_with("nop "));
    drop(c);
    h.join().unwrap();
}

/// The start-up drain on a virtual clock: the 9x07's three start-up lines are already sent;
/// the drain then waits one silence, short after the function list, QFirehose's 1 s when
/// the early end is off.
#[test]
fn the_start_up_drain_ends_a_short_silence_after_the_function_list() {
    use crate::protocol::firehose::startup::{AFTER_FUNCTION_LIST, StartupDrain};
    use crate::time::{SharedClock, VirtualClock};
    let on = StartupDrain::default();
    let off = StartupDrain { after_function_list: None, ..on };
    for (policy, silence) in [(on, AFTER_FUNCTION_LIST), (off, STARTUP_QUIET)] {
        let clock: SharedClock = std::sync::Arc::new(VirtualClock::default());
        let (host, dev) = stream_pair("edl");
        let mut d = Dev::new(dev);
        d.log("Binary build date: Jan 11 2021 @ 10:00:00\n");
        d.log("Chip serial num: 305419896 (0x12345678)");
        d.log("Supported Functions: program configure power benchmark read getstorageinfo erase nop ");
        let h = thread::spawn(move || crate::testutil::hold_until_hangup(&mut d.t));
        let mut c = FirehoseClient::new(host.with_clock(clock.clone())).with_clock(clock.clone());
        let logs = c.drain_startup(&policy).unwrap();
        assert_eq!(logs.len(), 3, "{logs:?}");
        assert_eq!(clock.now(), silence, "{policy:?}");
        drop(c);
        h.join().unwrap();
    }
}

/// Without the function list (a programmer that prints something else), QFirehose's rule.
#[test]
fn the_start_up_drain_without_a_function_list_waits_the_whole_silence() {
    use crate::protocol::firehose::startup::StartupDrain;
    use crate::time::{SharedClock, VirtualClock};
    let clock: SharedClock = std::sync::Arc::new(VirtualClock::default());
    let (host, dev) = stream_pair("edl");
    let mut d = Dev::new(dev);
    d.log("Chip serial num: 305419896 (0x12345678)");
    let h = thread::spawn(move || crate::testutil::hold_until_hangup(&mut d.t));
    let mut c = FirehoseClient::new(host.with_clock(clock.clone())).with_clock(clock.clone());
    assert_eq!(c.drain_startup(&StartupDrain::default()).unwrap().len(), 1);
    assert_eq!(clock.now(), STARTUP_QUIET);
    drop(c);
    h.join().unwrap();
}

#[test]
fn drain_with_nothing_is_empty() {
    let (mut c, h) = session(|mut d| crate::testutil::hold_until_hangup(&mut d.t));
    assert!(c.drain_logs(Duration::from_millis(50), Duration::from_millis(50)).unwrap().is_empty());
    drop(c);
    h.join().unwrap();
}

const NAK_9X55: [(&str, &str); 5] = [
    ("MemoryName", "NAND"),
    ("MaxPayloadSizeFromTargetInBytes", "2048"),
    ("MaxPayloadSizeToTargetInBytes", "8192"),
    ("MaxPayloadSizeToTargetInBytesSupported", "8192"),
    ("TargetName", "9x55"),
];

#[test]
fn configure_retries_with_offered_payload() {
    let (mut c, h) = session(|mut d| {
        let first = d.command();
        assert_eq!(first.kind, CommandKind::Configure);
        assert_eq!(first.attr("MaxPayloadSizeToTargetInBytes"), Some("16384"));
        d.respond(false, None, &NAK_9X55);
        let second = d.command();
        assert_eq!(second.attr("MaxPayloadSizeToTargetInBytes"), Some("8192"));
        let mut ack = NAK_9X55;
        ack[4].1 = "9x07";
        d.respond(true, None, &ack);
    });
    let opts = ConfigureOptions { max_payload_to_target: 16384, ..ConfigureOptions::default() };
    let n = c.configure(&opts).unwrap();
    assert_eq!(n.attempts, 2);
    assert_eq!(n.max_payload_to_target, 8192);
    assert_eq!(n.target_name.as_deref(), Some("9x07"));
    assert_eq!(c.max_payload(), 8192);
    h.join().unwrap();
}

#[test]
fn configure_nak_twice_fails_with_log() {
    let (mut c, h) = session(|mut d| {
        d.command();
        d.respond(false, None, &NAK_9X55);
        d.command();
        d.log("Not support configure MemoryName nand");
        d.respond(false, None, &NAK_9X55);
    });
    let opts = ConfigureOptions { max_payload_to_target: 16384, ..ConfigureOptions::default() };
    match c.configure(&opts) {
        Err(FirehoseError::Nak { cmd, device_log }) => {
            assert!(cmd.starts_with("<configure "));
            assert_eq!(device_log, ["Not support configure MemoryName nand"]);
        }
        other => panic!("{other:?}"),
    }
    h.join().unwrap();
}

#[test]
fn program_sends_padded_sectors_and_waits_for_final_ack() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let expect = data.clone();
    let (mut c, h) = session(move |mut d| {
        let cmd = d.command();
        assert_eq!(cmd.kind, CommandKind::Program);
        assert_eq!(cmd.attr_u64("num_partition_sectors").unwrap(), Some(5));
        assert_eq!(cmd.attr("PAGES_PER_BLOCK"), Some("64"));
        d.respond(true, Some(true), &NONE);
        let raw = d.raw(5 * 2048);
        assert_eq!(&raw[..10_000], &expect[..]);
        assert!(raw[10_000..].iter().all(|&b| b == 0));
        d.log("Finished sector address 13952");
        d.respond(true, Some(false), &NONE);
    });
    let mut calls = Vec::new();
    let resp =
        c.program(&spec(2048), &mut &data[..], data.len() as u64, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(resp.rawmode, Some(false));
    assert_eq!(resp.log, ["Finished sector address 13952"]);
    assert_eq!(calls, [(0, 10_240), (8192, 10_240), (10_240, 10_240)]);
    h.join().unwrap();
}

#[test]
fn program_without_rawmode_is_unexpected() {
    let (mut c, h) = session(|mut d| {
        d.command();
        d.respond(true, None, &NONE);
    });
    let r = c.program(&spec(2048), &mut &[0u8; 10][..], 10, &mut |_, _| {});
    assert!(matches!(r, Err(FirehoseError::UnexpectedResponse { .. })), "{r:?}");
    h.join().unwrap();
}

#[test]
fn erase_nak_carries_logs_before_and_after() {
    // `docs/facts/firehose.md`: the EG25GGB geometry error.
    let (mut c, h) = session(|mut d| {
        let cmd = d.command();
        assert_eq!(cmd.kind, CommandKind::Erase);
        d.log("start_sector = 13952 and num_partition_sectors =0x240)");
        d.respond(false, None, &NONE);
        d.log("start_sector unaligned");
        crate::testutil::hold_until_hangup(&mut d.t);
    });
    let spec = EraseSpec {
        sector_size: 2048,
        num_partition_sectors: 576,
        start_sector: "13952".into(),
        physical_partition_number: None,
        extra: vec![("PAGES_PER_BLOCK".into(), "64".into())],
    };
    let err = c.erase(&spec).unwrap_err();
    let FirehoseError::Nak { cmd, device_log } = &err else { panic!("{err:?}") };
    assert!(cmd.contains("start_sector=\"13952\""));
    assert_eq!(
        device_log,
        &["start_sector = 13952 and num_partition_sectors =0x240)", "start_sector unaligned"]
    );
    assert!(err.to_string().contains("start_sector unaligned"));
    drop(c);
    h.join().unwrap();
}

#[test]
fn silent_device_times_out_with_a_named_error() {
    let (mut c, h) = session(|mut d| {
        d.command();
        d.log("working");
        crate::testutil::hold_until_hangup(&mut d.t);
    });
    c.timeouts_mut().nop = Duration::from_millis(100);
    match c.nop() {
        Err(FirehoseError::NoResponse { cmd, device_log, .. }) => {
            assert_eq!(cmd, "<nop />");
            assert_eq!(device_log, ["working"]);
        }
        other => panic!("{other:?}"),
    }
    drop(c);
    h.join().unwrap();
}

#[test]
fn power_reset_then_disconnect() {
    let (mut c, h) = session(|mut d| {
        let cmd = d.command();
        assert_eq!(cmd.kind, CommandKind::Power);
        assert_eq!(cmd.attr("DelayInSeconds"), Some("10"));
        d.log("Inside handlePower() - Requested POWER_RESET");
        d.respond(true, None, &NONE);
        // Device drops off the bus.
    });
    let resp = c.power_reset(Some(10)).unwrap();
    assert_eq!(resp.rawmode, None);
    assert_eq!(resp.log, ["Inside handlePower() - Requested POWER_RESET"]);
    h.join().unwrap();
}

#[test]
fn read_takes_raw_bytes_sharing_a_read_with_xml() {
    let (mut c, h) = session(|mut d| {
        let cmd = d.command();
        assert_eq!(cmd.kind, CommandKind::Read);
        let mut all = encode_response(true, Some(true), &NONE).unwrap();
        all.extend((0..1024u32).map(|i| i as u8));
        all.extend(encode_response(true, Some(false), &NONE).unwrap());
        d.t.send(&all).unwrap();
    });
    let mut out = Vec::new();
    let resp = c.read(&spec(512), 2, &mut out, &mut |_, _| {}).unwrap();
    assert_eq!(resp.rawmode, Some(false));
    assert_eq!(out, (0..1024u32).map(|i| i as u8).collect::<Vec<_>>());
    h.join().unwrap();
}

#[test]
fn raw_element_and_patch_and_storageinfo() {
    let (mut c, h) = session(|mut d| {
        let v = d.command();
        assert_eq!(v.kind, CommandKind::Other("erase_quectel".into()));
        assert_eq!(v.attr("c_project_name"), Some("a&b\"c"));
        d.respond(true, None, &NONE);
        let p = d.command();
        assert_eq!(p.kind, CommandKind::Patch);
        assert_eq!(p.attr("value"), Some("CRC32(0,4096)"));
        d.respond(true, Some(false), &NONE);
        let g = d.command();
        assert_eq!(g.kind, CommandKind::GetStorageInfo);
        d.log(r#"{"storage_info": {"total_blocks":1024, "mem_type":"NAND"}}"#);
        d.respond(true, None, &NONE);
    });
    c.send_raw_element("erase_quectel", &[("vendor", "quectel"), ("c_project_name", "a&b\"c")], T).unwrap();
    let patch = PatchSpec {
        sector_size: 2048,
        byte_offset: 12,
        filename: "DISK".into(),
        physical_partition_number: 0,
        size_in_bytes: 4,
        start_sector: "643".into(),
        value: "CRC32(0,4096)".into(),
        extra: vec![],
    };
    c.patch(&patch).unwrap();
    let info = c.getstorageinfo(0).unwrap();
    assert!(info.log[0].contains("\"mem_type\":\"NAND\""));
    h.join().unwrap();
}

/// A transport that discards writes and answers every `<program>` with canned ACKs:
/// the shape the `firehose_program_null` benchmark needs.
struct NullDevice {
    pending: VecDeque<u8>,
    written: u64,
    info: LinkInfo,
}

impl Transport for NullDevice {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        if data.starts_with(b"<?xml") && data.windows(8).any(|w| w == b"<program") {
            self.pending.extend(encode_response(true, Some(true), &NONE).unwrap());
            self.pending.extend(encode_response(true, Some(false), &NONE).unwrap());
        } else {
            self.written += data.len() as u64;
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if self.pending.is_empty() {
            return Err(TransportError::Timeout(timeout));
        }
        let n = buf.len().min(self.pending.len());
        for (d, s) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }

    fn info(&self) -> &LinkInfo {
        &self.info
    }
}

#[test]
fn program_over_a_null_transport() {
    let null = NullDevice { pending: VecDeque::new(), written: 0, info: LinkInfo::stream("null") };
    let mut c = FirehoseClient::new(null);
    let data = vec![0xA5u8; 1 << 20];
    for _ in 0..3 {
        c.program(&spec(4096), &mut &data[..], data.len() as u64, &mut |_, _| {}).unwrap();
    }
    assert_eq!(c.into_inner().written, 3 << 20);
}

#[test]
fn a_chatty_programmer_keeps_only_the_newest_lines() {
    let (mut c, h) = session(|mut d| {
        d.command();
        for i in 0..3000 {
            d.log(&format!("line {i}"));
        }
        d.respond(true, None, &NONE);
    });
    let r = c.nop().unwrap();
    assert_eq!(r.log.len(), LOG_MAX_LINES);
    assert_eq!(r.log[0], LOG_DROPPED);
    assert_eq!(r.log.last().map(String::as_str), Some("line 2999"));
    h.join().unwrap();
}

#[test]
fn log_bytes_are_capped_too() {
    let mut log = Vec::new();
    for _ in 0..100 {
        keep(&mut log, "x".repeat(10_000));
    }
    assert!(log.iter().map(String::len).sum::<usize>() <= LOG_MAX_BYTES);
    assert_eq!(log[0], LOG_DROPPED);
    assert!(log.len() >= 2);
}

#[test]
fn a_programmer_that_logs_forever_does_not_keep_a_command_alive_forever() {
    let (mut c, h) = session(|mut d| {
        d.command();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until && d.t.send(&encode_log("still busy")).is_ok() {
            thread::sleep(Duration::from_millis(20));
        }
    });
    c.timeouts_mut().nop = Duration::from_millis(200);
    c.timeouts_mut().log_keepalive_max = Duration::from_millis(300);
    let t0 = Instant::now();
    match c.nop() {
        Err(FirehoseError::NoResponse { device_log, .. }) => assert!(!device_log.is_empty()),
        other => panic!("{other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    drop(c);
    h.join().unwrap();
}
