//! The server against a client that speaks the protocol as vhci-hcd does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::super::proto::{self, Command, DeviceInfo, OpHeader, Submit};
use super::{BUSID, UsbIpServer};
use crate::{Model, Module, ModuleConfig, RealClock};
use modemflash::module::DeviceMode;

fn ec25_edl() -> (Module, UsbIpServer) {
    let cfg = ModuleConfig {
        start_mode: DeviceMode::Edl,
        reenum_delay: Duration::from_millis(200),
        ..ModuleConfig::new(Model::Ec25)
    };
    let m = Module::start(cfg, Arc::new(RealClock::default()));
    let s = UsbIpServer::start(m.clone(), TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    (m, s)
}

fn connect(s: &UsbIpServer) -> TcpStream {
    let c = TcpStream::connect(s.local_addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c
}

fn import(s: &UsbIpServer) -> Option<(TcpStream, DeviceInfo)> {
    let mut c = connect(s);
    c.write_all(&proto::encode_import_request(BUSID)).unwrap();
    let mut h = [0u8; 8];
    c.read_exact(&mut h).unwrap();
    if OpHeader::parse(&h).unwrap().status != proto::ST_OK {
        return None;
    }
    let mut d = vec![0u8; proto::DEVICE_LEN];
    c.read_exact(&mut d).unwrap();
    Some((c, DeviceInfo::parse(&d).unwrap()))
}

fn submit(c: &mut TcpStream, seqnum: u32, dir_in: bool, ep: u8, length: u32, setup: [u8; 8], out: &[u8]) {
    let s = Submit { seqnum, devid: 0x10002, dir_in, ep, transfer_flags: 0, length, interval: 0, setup };
    c.write_all(&Command::Submit(s).encode_header()).unwrap();
    c.write_all(out).unwrap();
}

/// (command, seqnum, status, data)
fn reply(c: &mut TcpStream) -> (u32, u32, i32, Vec<u8>) {
    let mut h = [0u8; 48];
    c.read_exact(&mut h).unwrap();
    let (cmd, seq, status, actual) = proto::parse_ret(&h).unwrap();
    let mut data = Vec::new();
    // IN data follows RET_SUBMIT only for IN URBs: these tests use odd seqnums for IN.
    if cmd == proto::RET_SUBMIT && actual > 0 && seq % 2 == 1 {
        data = vec![0u8; actual as usize];
        c.read_exact(&mut data).unwrap();
    }
    (cmd, seq, status, data)
}

/// GET_DESCRIPTOR(type, index) for `len` bytes.
fn get_descriptor(kind: u8, index: u8, len: u16) -> [u8; 8] {
    let [l0, l1] = len.to_le_bytes();
    [0x80, 6, index, kind, 0, 0, l0, l1]
}

#[test]
fn lists_imports_and_describes_the_edl_device() {
    let (_m, s) = ec25_edl();
    let mut c = connect(&s);
    c.write_all(&[0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0]).unwrap();
    let mut b = Vec::new();
    c.read_to_end(&mut b).unwrap();
    assert_eq!(&b[8..12], &1u32.to_be_bytes(), "one device exported");
    let (mut c, dev) = import(&s).expect("import");
    assert_eq!((dev.vid, dev.pid, dev.bcd_device, dev.busid.as_str()), (0x05c6, 0x9008, 0, BUSID));
    assert!(import(&s).is_none(), "a device is imported once");
    // Odd seqnums are IN (the helper reads their data).
    submit(&mut c, 1, true, 0, 18, get_descriptor(1, 0, 18), &[]);
    let (cmd, seq, status, data) = reply(&mut c);
    assert_eq!((cmd, seq, status), (proto::RET_SUBMIT, 1, 0));
    assert_eq!(&data[8..12], &[0xc6, 0x05, 0x08, 0x90]);
    submit(&mut c, 3, true, 0, 9, get_descriptor(2, 0, 9), &[]);
    let (_, _, _, cfg) = reply(&mut c);
    assert_eq!(cfg.len(), 9, "truncated to wLength");
    assert_eq!(cfg[2], 0x20);
    submit(&mut c, 5, true, 0, 255, get_descriptor(3, 7, 255), &[]);
    assert_eq!(reply(&mut c).2, -proto::EPIPE, "unknown string stalls");
    submit(&mut c, 2, false, 0, 0, [0, 9, 1, 0, 0, 0, 0, 0], &[]);
    assert_eq!(reply(&mut c).2, 0, "SET_CONFIGURATION");
}

#[test]
fn bulk_in_waits_for_data_and_unlink_cancels_it() {
    let (_m, s) = ec25_edl();
    let (mut c, _) = import(&s).expect("import");
    // The boot ROM speaks first: Sahara HELLO (48 bytes) on 0x81.
    submit(&mut c, 1, true, 1, 512, [0; 8], &[]);
    let (cmd, seq, status, hello) = reply(&mut c);
    assert_eq!((cmd, seq, status, hello.len()), (proto::RET_SUBMIT, 1, 0, 48));
    assert_eq!(&hello[..4], &1u32.to_le_bytes(), "HELLO command id");
    // Nothing more to say: the next IN is held, not answered empty.
    submit(&mut c, 3, true, 1, 512, [0; 8], &[]);
    c.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
    let mut h = [0u8; 48];
    assert!(c.read_exact(&mut h).is_err(), "an IN with no data must wait");
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(&Command::Unlink { seqnum: 4, unlink_seqnum: 3 }.encode_header()).unwrap();
    assert_eq!(reply(&mut c), (proto::RET_UNLINK, 4, -proto::ECONNRESET, Vec::new()));
    // Unlinking something already completed says 0.
    c.write_all(&Command::Unlink { seqnum: 6, unlink_seqnum: 1 }.encode_header()).unwrap();
    assert_eq!(reply(&mut c), (proto::RET_UNLINK, 6, 0, Vec::new()));
}

#[test]
fn a_reset_unplugs_the_device_and_the_next_mode_is_exported() {
    let (m, s) = ec25_edl();
    let (mut c, _) = import(&s).expect("import");
    m.power_cycle();
    let mut rest = Vec::new();
    // The server closes the connection: the host sees the device unplugged.
    let _ = c.read_to_end(&mut rest);
    let mut again = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(50));
        again = import(&s);
        if again.is_some() {
            break;
        }
    }
    let (_, dev) = again.expect("re-exported after the re-enumeration delay");
    assert_eq!((dev.vid, dev.pid), (0x05c6, 0x9008), "an erased EC25 boots back into EDL");
}

#[test]
fn the_at_interfaces_notification_endpoint_never_gets_at_replies() {
    let cfg = ModuleConfig { reenum_delay: Duration::from_millis(200), ..ModuleConfig::new(Model::Ec25) };
    let m = Module::start(cfg, Arc::new(RealClock::default()));
    let s = UsbIpServer::start(m.clone(), TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let (mut c, dev) = import(&s).expect("import");
    assert_eq!((dev.vid, dev.pid), (0x2c7c, 0x0125));
    // Interface 2 (AT): interrupt 0x85, bulk IN 0x84, bulk OUT 0x03.
    submit(&mut c, 1, true, 5, 16, [0; 8], &[]);
    submit(&mut c, 3, true, 4, 512, [0; 8], &[]);
    submit(&mut c, 2, false, 3, 7, [0; 8], b"AT+GSN\r");
    let (cmd, seq, status, _) = reply(&mut c);
    assert_eq!((cmd, seq, status), (proto::RET_SUBMIT, 2, 0), "the OUT completes");
    let mut text = Vec::new();
    let (cmd, seq, status, data) = reply(&mut c);
    assert_eq!(
        (cmd, seq, status),
        (proto::RET_SUBMIT, 3, 0),
        "the reply comes on bulk IN, not the interrupt endpoint"
    );
    text.extend(data);
    // The echo first, then the IMEI and OK, each on a bulk IN of its own.
    let mut seq = 5;
    while !String::from_utf8_lossy(&text).contains("OK") && seq < 40 {
        submit(&mut c, seq, true, 4, 512, [0; 8], &[]);
        let (cmd, got, status, data) = reply(&mut c);
        assert_eq!((cmd, got, status), (proto::RET_SUBMIT, seq, 0));
        text.extend(data);
        seq += 2;
    }
    assert!(String::from_utf8_lossy(&text).contains("\r\nOK\r\n"), "{text:?}");
    c.write_all(&Command::Unlink { seqnum: 4, unlink_seqnum: 1 }.encode_header()).unwrap();
    assert_eq!(reply(&mut c), (proto::RET_UNLINK, 4, -proto::ECONNRESET, Vec::new()));
}
