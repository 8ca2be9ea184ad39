#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The virtual EC25 driven the way an independent client (bkerler's edl) drives a real
//! one, by a small byte-level driver written here from the protocol facts, without the
//! library's Sahara or Firehose clients: Sahara command mode (serial, MSM HW id), SWITCH_MODE
//! to image transfer and the fresh HELLO that follows, the programmer upload, then Firehose
//! `<configure>` and `<getstorageinfo>`.
//!
//! Sahara packets (little-endian u32 words): HELLO 0x01, HELLO_RESP 0x02, READ_DATA 0x03,
//! END_IMAGE_TX 0x04, DONE 0x05, DONE_RESP 0x06, CMD_READY 0x0B, SWITCH_MODE 0x0C,
//! EXECUTE 0x0D, EXECUTE_RESP 0x0E, EXECUTE_DATA 0x0F; modes 0 image transfer pending, 3
//! command; EXECUTE commands 0x01 serial number, 0x02 MSM HW id (docs/facts/sahara.md).

use std::sync::Arc;
use std::time::Duration;

use modemflash::module::{DeviceMode, Port};
use modemflash::transport::Transport;
use modemflash_sim::builder::{self, FirehoseSpec};
use modemflash_sim::{Fault, Model, Module, ModuleConfig, VirtualClock};

const T: Duration = Duration::from_secs(10);

struct Raw<L> {
    link: L,
    buf: Vec<u8>,
}

impl<L: Transport> Raw<L> {
    fn take(&mut self, n: usize) -> Vec<u8> {
        let mut b = [0u8; 4096];
        while self.buf.len() < n {
            let got = self.link.recv(&mut b, T).unwrap();
            self.buf.extend_from_slice(&b[..got]);
        }
        self.buf.drain(..n).collect()
    }

    /// One Sahara packet: (command, words after the header).
    fn packet(&mut self) -> (u32, Vec<u32>) {
        let h = self.take(8);
        let (cmd, len) = (u32_at(&h, 0), u32_at(&h, 4) as usize);
        assert!((8..=0x400).contains(&len), "packet length {len}");
        let body = self.take(len - 8);
        (cmd, body.chunks_exact(4).map(|w| u32_at(w, 0)).collect())
    }

    fn send_words(&mut self, words: &[u32]) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.link.send(&bytes).unwrap();
    }

    fn hello_resp(&mut self, mode: u32) {
        // HELLO_RESP, 0x30 bytes: version 2, compatible 1, status 0, mode, six reserved words.
        self.send_words(&[0x02, 0x30, 2, 1, 0, mode, 1, 2, 3, 4, 5, 6]);
    }

    fn execute(&mut self, what: u32) -> Vec<u8> {
        self.send_words(&[0x0D, 0x0C, what]);
        let (cmd, w) = self.packet();
        assert_eq!((cmd, w[0]), (0x0E, what), "EXECUTE_RESP");
        self.send_words(&[0x0F, 0x0C, what]);
        self.take(w[1] as usize)
    }

    /// Firehose: read until a `<response` document ends; returns every document read.
    fn xml_until_response(&mut self) -> String {
        let mut text = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
        let mut b = [0u8; 4096];
        while !(text.contains("<response") && text.rfind("</data>") > text.find("<response")) {
            let n = self.link.recv(&mut b, T).unwrap();
            text.push_str(&String::from_utf8_lossy(&b[..n]));
        }
        text
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn edl(faults: Vec<Fault>) -> Module {
    let cfg = ModuleConfig { start_mode: DeviceMode::Edl, faults, ..ModuleConfig::new(Model::Ec25) };
    let m = Module::start(cfg, Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[DeviceMode::Edl], T).unwrap();
    m
}

#[test]
fn command_mode_switch_upload_then_firehose_as_edl_does() {
    let tmp = tempfile::tempdir().unwrap();
    builder::write_firehose(tmp.path(), &FirehoseSpec::default()).unwrap();
    let programmer = std::fs::read(tmp.path().join("update/firehose/prog_nand_firehose_9x07.mbn")).unwrap();
    let m = edl(vec![]);
    let mut raw = Raw { link: m.bus().open(Port::Edl).unwrap(), buf: Vec::new() };

    // The boot ROM speaks first: HELLO v2, compatible 1, mode 0 (image transfer pending).
    let (cmd, w) = raw.packet();
    assert_eq!((cmd, w[0], w[1], w[3]), (0x01, 2, 1, 0), "HELLO");
    raw.hello_resp(3);
    assert_eq!(raw.packet().0, 0x0B, "CMD_READY");
    let serial = raw.execute(0x01);
    assert_eq!(serial.len(), 4);
    let hw = u64::from_le_bytes(raw.execute(0x02).try_into().unwrap());
    assert_eq!(hw >> 32, 0x0004_80E1, "MSM_ID of the 9x07 family");

    // edl switches with mode 3 and then waits for a HELLO, in the mode it asked for.
    raw.send_words(&[0x0C, 0x0C, 3]);
    let (cmd, w) = raw.packet();
    assert_eq!((cmd, w[3]), (0x01, 3), "a fresh HELLO in command mode, not CMD_READY");
    // Its upload then answers that HELLO with image transfer.
    raw.hello_resp(0);
    let mut served = 0usize;
    loop {
        let (cmd, w) = raw.packet();
        match cmd {
            0x03 => {
                let (image, offset, len) = (w[0], w[1] as usize, w[2] as usize);
                assert_eq!(image, 13, "EHOSTDL");
                raw.link.send(&programmer[offset..offset + len]).unwrap();
                served += len;
            }
            0x04 => {
                assert_eq!((w[0], w[1]), (13, 0), "END_IMAGE_TX success");
                break;
            }
            other => panic!("unexpected Sahara command {other:#x}"),
        }
    }
    assert!(served > 52);
    raw.send_words(&[0x05, 0x08]);
    let (cmd, w) = raw.packet();
    assert_eq!(cmd, 0x06, "DONE_RESP");
    assert!(w[0] <= 1);

    // The programmer: `<configure>` answered with ACK, then the storage report.
    let cfg = "<?xml version=\"1.0\" ?><data><configure MemoryName=\"nand\" Verbose=\"0\" \
               AlwaysValidate=\"0\" MaxDigestTableSizeInBytes=\"2048\" MaxPayloadSizeToTargetInBytes=\"8192\" \
               ZLPAwareHost=\"1\" SkipStorageInit=\"0\" /></data>";
    raw.link.send(cfg.as_bytes()).unwrap();
    let text = raw.xml_until_response();
    assert!(text.contains("value=\"ACK\""), "{text}");
    raw.link
        .send(b"<?xml version=\"1.0\" ?><data><getstorageinfo physical_partition_number=\"0\" /></data>")
        .unwrap();
    // The JSON sits XML-escaped in a `<log value=…>` attribute, as the real programmer sends it.
    let text = raw.xml_until_response().replace("&quot;", "\"");
    // edl reads block_size as bytes per block: pages per block = block_size / page_size.
    assert!(text.contains("\"block_size\":262144") && text.contains("\"page_size\":4096"), "{text}");
}

#[test]
fn a_nudge_wedges_the_fragile_rom_and_a_sahara_answer_does_not() {
    // Control for the listen-first probe tests: the fault switch really fires on one
    // stray byte, and never on a proper HELLO_RESP.
    let m = edl(vec![Fault::parse("fragile-rom").unwrap()]);
    let mut raw = Raw { link: m.bus().open(Port::Edl).unwrap(), buf: Vec::new() };
    assert_eq!(raw.packet().0, 0x01);
    raw.hello_resp(3);
    assert_eq!(raw.packet().0, 0x0B, "CMD_READY: a Sahara answer is fine");

    let m = edl(vec![Fault::parse("fragile-rom").unwrap()]);
    let mut raw = Raw { link: m.bus().open(Port::Edl).unwrap(), buf: Vec::new() };
    assert_eq!(raw.packet().0, 0x01);
    raw.link.send(&[0x7E, 0x06, 0x4E, 0x95, 0x7E]).unwrap(); // a DMSS NOP
    raw.hello_resp(3);
    let mut b = [0u8; 64];
    assert!(raw.link.recv(&mut b, Duration::from_millis(500)).is_err(), "the wedged ROM answers nothing");
}
