#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::discovery::ModuleBus;
use crate::module::Port;
use crate::transport::memory::MemoryTransport;
use crate::transport::{Transport, TransportError};

/// A `Write` whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn payloads_are_text_hex_or_hashed() {
    let p = Payload::of(b"AT+GSN\r", false);
    assert_eq!(p.ascii.as_deref(), Some("AT+GSN\r"));
    assert_eq!(p.bytes().unwrap(), b"AT+GSN\r");
    let p = Payload::of(&[0x7e, 0x00, 0xff], false);
    assert_eq!(p.hex.as_deref(), Some("7e00ff"));
    let big = vec![0xabu8; LARGE_PAYLOAD + 1];
    let p = Payload::of(&big, false);
    assert_eq!(p.len, LARGE_PAYLOAD + 1);
    assert!(p.bytes().is_none());
    assert_eq!(p.head.as_deref().unwrap().len(), HEAD_BYTES * 2);
    assert_eq!(Payload::of(&big, true).bytes().unwrap(), big);
    assert_eq!(unhex("0g"), None);
    assert_eq!(unhex("abc"), None);
}

/// A bus with one memory endpoint per port; the module side is driven by a thread.
struct OnePort {
    host: Option<MemoryTransport>,
}

impl ModuleBus for OnePort {
    fn detect(&mut self) -> Result<Option<crate::module::DeviceMode>, crate::discovery::BusError> {
        Ok(Some(crate::module::DeviceMode::Normal))
    }
    fn wait_for(
        &mut self,
        _: &[crate::module::DeviceMode],
        _: Duration,
    ) -> Result<crate::module::DeviceMode, crate::discovery::BusError> {
        Ok(crate::module::DeviceMode::Normal)
    }
    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, crate::discovery::BusError> {
        self.host.take().map(|t| Box::new(t) as Box<dyn Transport>).ok_or(crate::discovery::BusError::Open {
            port: port.name(),
            endpoint: "memory".into(),
            why: "already open".into(),
        })
    }
    fn endpoint(&self, _: Port) -> String {
        "memory:at".into()
    }
}

fn session(bus: &mut dyn ModuleBus, command: &[u8]) -> Result<Vec<u8>, TransportError> {
    assert_eq!(bus.detect().unwrap(), Some(crate::module::DeviceMode::Normal));
    let mut t = bus.open(Port::At).map_err(|e| TransportError::Io(std::io::Error::other(e.to_string())))?;
    // Split writes: replay compares the stream, not the write boundaries.
    let (a, b) = command.split_at(2);
    t.send(a)?;
    t.send(b)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4];
    loop {
        match t.recv(&mut buf, Duration::from_millis(300)) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(TransportError::Timeout(_)) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn record_one() -> Vec<u8> {
    let (host, mut module) = crate::transport::memory::pair(&crate::transport::LinkInfo::stream("memory:at"));
    let (done_tx, done) = std::sync::mpsc::channel::<()>();
    let th = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        while !got.ends_with(b"\r") {
            let n = module.recv(&mut buf, Duration::from_secs(5)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"AT+GSN\r");
        module.send(b"\r\n861234567890123\r\n\r\nOK\r\n").unwrap();
        // Keep the link up until the host has timed out once.
        let _ = done.recv();
    });
    let out = Shared::default();
    let rec = Recorder::new(Box::new(out.clone()), "test", false);
    let mut bus = RecordingBus::new(Box::new(OnePort { host: Some(host) }), rec);
    let first = session(&mut bus, b"AT+GSN\r").unwrap();
    done_tx.send(()).unwrap();
    th.join().unwrap();
    assert_eq!(first, b"\r\n861234567890123\r\n\r\nOK\r\n");
    drop(bus);
    out.0.lock().unwrap().clone()
}

#[test]
fn a_recording_replays_and_a_changed_command_diverges() {
    let text = record_one();
    let s = String::from_utf8(text.clone()).unwrap();
    assert!(s.lines().next().unwrap().contains("\"format\":\"modemflash-recording\""), "{s}");
    assert!(s.contains("\"ev\":\"read_failed\""), "{s}");

    let (mut replay, header) = ReplayBus::from_reader(&text[..]).unwrap();
    assert_eq!(header.version, VERSION);
    let got = session(&mut replay, b"AT+GSN\r").unwrap();
    assert_eq!(got, b"\r\n861234567890123\r\n\r\nOK\r\n");
    assert_eq!(replay.finish(), None);

    let (mut replay, _) = ReplayBus::from_reader(&text[..]).unwrap();
    let e = session(&mut replay, b"AT+GSM\r").unwrap_err();
    let d = replay.divergence().unwrap();
    assert_eq!(d.offset, Some(5), "{d}");
    assert_eq!(d.endpoint, "memory:at:host");
    assert_eq!(d.expected, "4e 0d");
    assert_eq!(d.got, "4d 0d");
    assert!(e.to_string().contains("replay diverged"), "{e}");
}

#[test]
fn a_bad_header_is_refused_with_its_line() {
    let e = ReplayBus::from_reader(&b"{\"format\":\"x\"}\n"[..]).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
    let e = ReplayBus::from_reader(&b""[..]).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
}
