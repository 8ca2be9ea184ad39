//! Replay of a real module's AT port: the EG25-G (EG25GGC) exchange that fwupd recorded
//! during its modem-manager setup, converted into a modemflash recording
//! (`tests/data/eg25ggc-at-setup.jsonl`, source and licence in `tests/data/README.md`).
//! The library's AT codec parses the real answers given back by the replay; the
//! library's own AT client, which ends commands with CR only where fwupd sent CR LF, is
//! caught as a divergence at that very byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use modemflash::discovery::{ModuleBus, Port};
use modemflash::plan::DeviceMode;
use modemflash::protocol::at::{AtClient, AtResponse, FinalResult, LineSplitter, ResponseAssembler};
use modemflash::record::ReplayBus;
use modemflash::transport::{Transport, TransportError};

fn recording() -> ReplayBus {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eg25ggc-at-setup.jsonl");
    let (bus, header) = ReplayBus::open(&p).unwrap();
    assert!(header.command.contains("EG25GGCR07A02M1G"), "{}", header.command);
    bus
}

/// Send `command` as fwupd did (CR LF) and assemble the answer with the library's codec.
fn ask(t: &mut dyn Transport, command: &str) -> Result<AtResponse, TransportError> {
    t.send(format!("{command}\r\n").as_bytes())?;
    let mut split = LineSplitter::new();
    let mut asm = ResponseAssembler::new(command);
    let mut buf = [0u8; 0x40];
    loop {
        let n = t.recv(&mut buf, Duration::from_millis(1500))?;
        for line in split.feed_collect(&buf[..n]) {
            if let Some(r) = asm.push_line(line) {
                return Ok(r);
            }
        }
    }
}

#[test]
fn the_real_eg25g_answers_replay_and_parse() {
    let mut bus = recording();
    assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Normal));
    let mut at = bus.open(Port::At).unwrap();
    assert_eq!(at.info().endpoint, "/dev/ttyUSB2");
    assert_eq!(bus.location().port_path.as_deref(), Some("usb:1-2"));
    // fwupd tries each command up to three times while the answer lacks OK.
    for cmd in ["AT+GETFWBRANCH", "AT+QSECBOOT=\"status\""] {
        for _ in 0..3 {
            let r = ask(at.as_mut(), cmd).unwrap();
            assert_eq!(r.result, FinalResult::Error, "{cmd}");
            assert!(r.lines.is_empty());
        }
    }
    // The first AT+QCFG got no answer within fwupd's 1.5 s; the replay says so at once.
    let e = ask(at.as_mut(), "AT+QCFG=\"secbootstat\"").unwrap_err();
    assert!(matches!(e, TransportError::Timeout(d) if d == Duration::from_millis(1500)), "{e}");
    let r = ask(at.as_mut(), "AT+QCFG=\"secbootstat\"").unwrap();
    assert_eq!(r.result, FinalResult::Ok);
    assert_eq!(r.lines, vec!["+QCFG: \"secbootstat\",0".to_owned()]);
    drop(at);
    assert_eq!(bus.finish(), None);
}

#[test]
fn modemflash_s_own_at_client_diverges_at_the_line_end() {
    let mut bus = recording();
    bus.detect().unwrap();
    let at = bus.open(Port::At).unwrap();
    let mut client = AtClient::new(at);
    let e = client.command("AT+GETFWBRANCH", Duration::from_secs(1)).unwrap_err();
    let d = bus.divergence().unwrap();
    assert!(e.to_string().contains("replay diverged"), "{e}");
    // `AT+GETFWBRANCH\r` matched; fwupd's LF after it is what this client does not send.
    assert_eq!(d.offset, Some(15), "{d}");
    assert_eq!(d.endpoint, "/dev/ttyUSB2");
    assert!(d.expected.ends_with(": 0a"), "{d}");
    assert_eq!(d.got, "a read");
}
