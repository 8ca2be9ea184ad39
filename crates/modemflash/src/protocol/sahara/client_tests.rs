//! [`SaharaClient`] against a scripted boot ROM on a memory pair.

use std::io::Cursor;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::client::{SaharaClient, SaharaTimeouts};
use super::codec::{HELLO_LEN, Hello, Packet};
use super::codes::{exec, status};
use super::error::SaharaError;
use super::framer::Framer;
use super::identity::HwId;
use super::machine::DoneStatus;
use crate::transport::memory::{MemoryTransport, pair};
use crate::transport::{LinkInfo, Transport, TransportError};

const T: Duration = Duration::from_secs(3);

/// The device end: reads host packets and raw data, skipping ZLPs.
struct Rom {
    t: MemoryTransport,
    f: Framer,
}

impl Rom {
    fn send(&mut self, p: &Packet) {
        self.t.send(&p.encode()).unwrap();
    }

    fn fill(&mut self) {
        let mut buf = [0u8; 8192];
        let n = self.t.recv(&mut buf, T).unwrap();
        self.f.push(&buf[..n]);
    }

    fn packet(&mut self) -> Packet {
        loop {
            if let Some(p) = self.f.next_packet() {
                return p.unwrap();
            }
            self.fill();
        }
    }

    fn raw(&mut self, n: usize) -> Vec<u8> {
        loop {
            if let Some(d) = self.f.take_raw(n) {
                return d;
            }
            self.fill();
        }
    }

    fn hello(&mut self, version: u32) {
        self.send(&Packet::Hello(Hello {
            version,
            version_supported: 1,
            max_cmd_len: 0x400,
            mode: 0,
            reserved: [0; 6],
            len: HELLO_LEN,
        }));
    }
}

fn spawn<R: Send + 'static>(
    script: impl FnOnce(&mut Rom) -> R + Send + 'static,
) -> (SaharaClient<MemoryTransport>, JoinHandle<R>) {
    // A USB-like link: writes that are a multiple of 512 bytes are followed by a ZLP.
    let info = LinkInfo { endpoint: "memory:edl".into(), max_packet_size: Some(512), zlp: true };
    let (host, dev) = pair(&info);
    let handle = thread::spawn(move || script(&mut Rom { t: dev, f: Framer::default() }));
    let timeouts = SaharaTimeouts { hello: Duration::from_millis(300), command: Duration::from_millis(500) };
    (SaharaClient::new(host).with_timeouts(timeouts), handle)
}

fn image(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678u32;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect()
}

#[test]
fn uploads_100k_image_with_reads_in_random_order() {
    let img = image(100 * 1024 + 300);
    let expected = img.clone();
    let (mut client, rom) = spawn(move |rom| {
        rom.hello(2);
        let Packet::HelloResp(r) = rom.packet() else { panic!() };
        assert_eq!((r.version, r.version_supported, r.status, r.mode), (2, 1, 0, 0));
        // ELF header and program headers first, then 4 KiB chunks in a shuffled order.
        let mut reads: Vec<(u64, u64)> = vec![(0, 0x34), (0x34, 0x60)];
        let mut chunks: Vec<(u64, u64)> = (0..expected.len() as u64)
            .step_by(0x1000)
            .map(|o| (o, 0x1000.min(expected.len() as u64 - o)))
            .collect();
        let mut seed = 7usize;
        for i in (1..chunks.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            chunks.swap(i, (seed >> 33) % (i + 1));
        }
        reads.extend(chunks);
        let mut rebuilt = vec![0u8; expected.len()];
        for (i, &(offset, length)) in reads.iter().enumerate() {
            if i % 2 == 0 {
                rom.send(&Packet::ReadData { image_id: 13, offset: offset as u32, length: length as u32 });
            } else {
                rom.send(&Packet::ReadData64 { image_id: 13, offset, length });
            }
            let data = rom.raw(length as usize);
            rebuilt[offset as usize..(offset + length) as usize].copy_from_slice(&data);
        }
        rom.send(&Packet::EndImageTx { image_id: 13, status: 0 });
        assert_eq!(rom.packet(), Packet::Done);
        rom.send(&Packet::DoneResp { status: 1 });
        assert_eq!(rebuilt, expected);
        reads.len() as u64
    });
    let mut last = (0, 0);
    let report = client.upload_image(Cursor::new(img.clone()), Some(13), &mut |d, t| last = (d, t)).unwrap();
    let reads = rom.join().unwrap();
    assert_eq!(report.reads, reads);
    assert_eq!(report.image_id, Some(13));
    assert_eq!(report.done, DoneStatus::Complete);
    assert_eq!(report.image_size, img.len() as u64);
    assert_eq!(report.bytes_served, img.len() as u64 + 0x34 + 0x60);
    assert_eq!(report.target.map(|h| h.version), Some(2));
    assert_eq!(last, (img.len() as u64, img.len() as u64));
}

#[test]
fn image_auth_failure_is_a_named_error() {
    let (mut client, rom) = spawn(|rom| {
        rom.hello(2);
        rom.packet();
        rom.send(&Packet::ReadData { image_id: 13, offset: 0, length: 0x34 });
        rom.raw(0x34);
        rom.send(&Packet::EndImageTx { image_id: 13, status: status::IMAGE_AUTH_FAILURE });
    });
    let err = client.upload_image(Cursor::new(image(4096)), Some(13), &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(
            err,
            SaharaError::ImageTransfer { image_id: 13, status: 0x25, name: "image authentication failure" }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("image authentication failure"));
    rom.join().unwrap();
}

#[test]
fn silent_target_gets_a_one_byte_nudge() {
    let (mut client, rom) = spawn(|rom| {
        assert_eq!(rom.raw(1), [0]);
        rom.hello(2);
        rom.packet();
        rom.send(&Packet::ReadData { image_id: 7, offset: 0, length: 16 });
        rom.raw(16);
        rom.send(&Packet::EndImageTx { image_id: 7, status: 0 });
        rom.packet();
        rom.send(&Packet::DoneResp { status: 0 });
    });
    let report = client.upload_image(Cursor::new(image(16)), None, &mut |_, _| {}).unwrap();
    assert_eq!(report.done, DoneStatus::Pending);
    rom.join().unwrap();

    let (mut client, rom) = spawn(|rom| {
        assert_eq!(rom.raw(1), [0]);
        crate::testutil::hold_until_hangup(&mut rom.t);
    });
    let err = client.upload_image(Cursor::new(image(16)), None, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, SaharaError::NoHello { .. }), "{err}");
    drop(client);
    rom.join().unwrap();
}

#[test]
fn out_of_range_read_resets_and_silence_times_out() {
    let (mut client, rom) = spawn(|rom| {
        rom.hello(2);
        rom.packet();
        rom.send(&Packet::ReadData { image_id: 13, offset: 4000, length: 200 });
        assert_eq!(rom.packet(), Packet::Reset);
    });
    let err = client.upload_image(Cursor::new(image(4096)), None, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, SaharaError::ReadOutOfRange { offset: 4000, length: 200, image_size: 4096, .. }));
    rom.join().unwrap();

    let (mut client, rom) = spawn(|rom| {
        rom.hello(2);
        rom.packet();
        crate::testutil::hold_until_hangup(&mut rom.t);
    });
    let err = client.upload_image(Cursor::new(image(10)), None, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, SaharaError::Timeout { waiting_for: "READ_DATA or END_IMAGE_TX", .. }), "{err}");
    drop(client);
    rom.join().unwrap();
}

const PK: [u8; 32] = [
    0xcc, 0x31, 0x53, 0xa8, 0x02, 0x93, 0x93, 0x9b, 0x90, 0xd0, 0x2d, 0x3b, 0xf8, 0xb2, 0x3e, 0x02, 0x92,
    0xe4, 0x52, 0xfe, 0xf6, 0x62, 0xc7, 0x49, 0x98, 0x42, 0x1a, 0xda, 0xd4, 0x2a, 0x38, 0x0f,
];

fn answer(rom: &mut Rom, cmd: u32, data: &[u8]) {
    assert_eq!(rom.packet(), Packet::Execute { client_cmd: cmd });
    rom.send(&Packet::ExecuteResp { client_cmd: cmd, len: data.len() as u32 });
    assert_eq!(rom.packet(), Packet::ExecuteData { client_cmd: cmd });
    rom.t.send(data).unwrap();
}

#[test]
fn identity_then_upload_after_switch_mode() {
    let (mut client, rom) = spawn(|rom| {
        rom.hello(2);
        let Packet::HelloResp(r) = rom.packet() else { panic!() };
        assert_eq!(r.mode, 3);
        rom.send(&Packet::CmdReady);
        answer(rom, exec::SERIAL_NUM_READ, &0x0CF9_4C64u32.to_le_bytes());
        answer(rom, exec::MSM_HW_ID_READ, &0x0004_80E1_0000_0000u64.to_le_bytes());
        answer(rom, exec::OEM_PK_HASH_READ, &PK.repeat(3));
        assert_eq!(rom.packet(), Packet::SwitchMode { mode: 0 });
        // Fresh HELLO, then a normal upload.
        rom.hello(2);
        let Packet::HelloResp(r) = rom.packet() else { panic!() };
        assert_eq!(r.mode, 0);
        rom.send(&Packet::ReadData { image_id: 13, offset: 0, length: 8 });
        rom.raw(8);
        rom.send(&Packet::EndImageTx { image_id: 13, status: 0 });
        rom.packet();
        rom.send(&Packet::DoneResp { status: 1 });
    });
    let id = client.read_identity().unwrap();
    assert_eq!(id.serial, 0x0CF9_4C64);
    assert_eq!(id.hw_id, HwId { msm_id: 0x0004_80E1, oem_id: 0, model_id: 0 });
    assert_eq!(id.pk_hash, PK);
    assert_eq!(id.sahara_version, 2);
    let report = client.upload_image(Cursor::new(image(8)), Some(13), &mut |_, _| {}).unwrap();
    assert_eq!(report.done, DoneStatus::Complete);
    rom.join().unwrap();
}

#[test]
fn refused_execute_is_typed() {
    let (mut client, rom) = spawn(|rom| {
        rom.hello(3);
        rom.packet();
        rom.send(&Packet::CmdReady);
        answer(rom, exec::SERIAL_NUM_READ, &[1, 0, 0, 0]);
        assert_eq!(rom.packet(), Packet::Execute { client_cmd: exec::READ_CHIP_ID_V3 });
        rom.send(&Packet::EndImageTx { image_id: 0, status: status::UNSUPPORTED_EXEC_CMD });
    });
    let err = client.read_identity().unwrap_err();
    assert!(matches!(err, SaharaError::ExecuteFailed { name: "READ_CHIP_ID_V3", status: 0x1F, .. }), "{err}");
    rom.join().unwrap();
}

#[test]
fn disconnect_is_a_transport_error() {
    let (mut client, rom) = spawn(|rom| {
        rom.hello(2);
    });
    rom.join().unwrap();
    let err = client.upload_image(Cursor::new(image(8)), None, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, SaharaError::Transport(TransportError::Disconnected)), "{err}");
}
