use std::io::Cursor;
use std::thread;
use std::time::Instant;

use super::*;
use crate::protocol::fastboot::codec::parse_command;
use crate::protocol::fastboot::sparse::{self, CHUNK_DONT_CARE, CHUNK_RAW};
use crate::protocol::fastboot::tcp::FastbootTcp;
use crate::transport::memory::{MemoryTransport, stream_pair};

const T: Duration = Duration::from_secs(5);

fn reply<X: Transport>(t: &mut X, r: &Reply) {
    t.send(&r.encode().unwrap()).unwrap();
}

/// What the fake device saw.
#[derive(Debug, Default)]
struct Seen {
    commands: Vec<Command>,
    /// Sizes of the data writes.
    writes: Vec<usize>,
    partition: Vec<u8>,
    flashes: usize,
}

/// A fastboot device: answers the sargo getvars, `max-download-size` with `max_dl`,
/// takes downloads, applies `flash:` (sparse or raw) to a partition buffer of `part_len`
/// bytes, and stops after `reboot`.
fn serve<X: Transport>(mut t: X, max_dl: Option<&'static str>, part_len: usize) -> Seen {
    let mut seen = Seen { partition: vec![0; part_len], ..Seen::default() };
    let mut staged: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = t.recv(&mut buf, T).unwrap();
        let cmd = parse_command(&buf[..n]).unwrap();
        seen.commands.push(cmd.clone());
        match cmd {
            Command::GetVar(v) => match (v.as_str(), max_dl) {
                ("product", _) => reply(&mut t, &Reply::Okay("sargo".into())),
                ("version-bootloader", _) => reply(&mut t, &Reply::Okay("b4s4-0.4-8048689".into())),
                ("serialno", _) => reply(&mut t, &Reply::Okay("97XAY12BGM".into())),
                ("secure", _) => reply(&mut t, &Reply::Okay("yes".into())),
                ("max-download-size", Some(v)) => reply(&mut t, &Reply::Okay(v.into())),
                _ => reply(&mut t, &Reply::Fail("variable not found".into())),
            },
            Command::Download(size) => {
                reply(&mut t, &Reply::Info("receiving".into()));
                reply(&mut t, &Reply::Data(size));
                staged.clear();
                while staged.len() < size as usize {
                    let n = t.recv(&mut buf, T).unwrap();
                    seen.writes.push(n);
                    staged.extend_from_slice(&buf[..n]);
                }
                reply(&mut t, &Reply::Okay(String::new()));
            }
            Command::Flash(_) => {
                reply(&mut t, &Reply::Info("writing".into()));
                if SparseHeader::is_sparse(&staged) {
                    sparse::apply(&staged[..], &mut seen.partition).unwrap();
                } else {
                    seen.partition[..staged.len()].copy_from_slice(&staged);
                }
                seen.flashes += 1;
                reply(&mut t, &Reply::Okay(String::new()));
            }
            Command::Erase(p) if p == "bad" => reply(&mut t, &Reply::Fail("partition does not exist".into())),
            Command::Reboot => {
                reply(&mut t, &Reply::Okay(String::new()));
                return seen;
            }
            _ => reply(&mut t, &Reply::Okay(String::new())),
        }
    }
}

fn start(
    max_dl: Option<&'static str>,
    part_len: usize,
    opts: FastbootOptions,
) -> (FastbootClient<MemoryTransport>, thread::JoinHandle<Seen>) {
    let (host, dev) = stream_pair("fastboot");
    let h = thread::spawn(move || serve(dev, max_dl, part_len));
    (FastbootClient::new(host, opts), h)
}

#[test]
fn sargo_getvars() {
    let (mut c, h) = start(None, 0, FastbootOptions::default());
    assert_eq!(c.getvar("product").unwrap(), "sargo");
    match c.getvar("version-device") {
        Err(FastbootError::Fail { cmd, message }) => {
            assert_eq!(cmd, "getvar:version-device");
            assert_eq!(message, "variable not found");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.getvar("version-bootloader").unwrap(), "b4s4-0.4-8048689");
    assert_eq!(c.getvar("serialno").unwrap(), "97XAY12BGM");
    assert_eq!(c.getvar("secure").unwrap(), "yes");
    assert_eq!(c.max_download_size().unwrap(), None, "FAIL means no limit");
    c.reboot().unwrap();
    h.join().unwrap();
}

#[test]
fn download_in_blocks_and_flash_collects_info() {
    let opts = FastbootOptions { block_size: 1000, ..FastbootOptions::default() };
    let (mut c, h) = start(Some(" 0x10000\n"), 4096, opts);
    let data: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
    let mut calls = Vec::new();
    assert_eq!(
        c.flash_image("aboot", &mut Cursor::new(data.clone()), 2500, &mut |d, t| calls.push((d, t))).unwrap(),
        1
    );
    assert_eq!(calls, [(0, 2500), (1000, 2500), (2000, 2500), (2500, 2500)]);
    assert_eq!(c.messages(), [Reply::Info("receiving".into()), Reply::Info("writing".into())]);
    assert_eq!(c.take_messages().len(), 2);
    assert!(c.messages().is_empty());
    c.erase("system").unwrap();
    assert!(matches!(c.erase("bad"), Err(FastbootError::Fail { .. })));
    c.continue_boot().unwrap();
    c.reboot().unwrap();
    let seen = h.join().unwrap();
    assert_eq!(seen.writes, [1000, 1000, 500]);
    assert_eq!(&seen.partition[..2500], &data[..]);
    assert_eq!(
        seen.commands,
        [
            Command::GetVar("max-download-size".into()),
            Command::Download(2500),
            Command::Flash("aboot".into()),
            Command::Erase("system".into()),
            Command::Erase("bad".into()),
            Command::Continue,
            Command::Reboot,
        ]
    );
}

#[test]
fn big_raw_image_is_split_into_sparse_pieces() {
    let opts = FastbootOptions { sparse_block_size: 512, ..FastbootOptions::default() };
    let (mut c, h) = start(Some("4096"), 10_240, opts);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    let mut last = (0, 0);
    let pieces =
        c.flash_image("system", &mut Cursor::new(data.clone()), 10_000, &mut |d, t| last = (d, t)).unwrap();
    assert!(pieces >= 3, "{pieces}");
    assert_eq!(last.0, last.1);
    c.reboot().unwrap();
    let seen = h.join().unwrap();
    assert_eq!(seen.flashes, pieces);
    assert_eq!(&seen.partition[..10_000], &data[..]);
    for cmd in &seen.commands {
        if let Command::Download(n) = cmd {
            assert!(*n <= 4096);
        }
    }
}

#[test]
fn big_sparse_image_is_split_chunkwise() {
    let blk = 512u32;
    let raw: Vec<u8> = (0..6 * 512u32).map(|i| (i % 253) as u8).collect();
    let img = sparse::tests::image(blk, 10, &[(CHUNK_RAW, 6, raw.clone()), (CHUNK_DONT_CARE, 4, vec![])]);
    let (mut c, h) = start(Some("0x800"), 5120, FastbootOptions::default());
    let pieces =
        c.flash_image("modem", &mut Cursor::new(img.clone()), img.len() as u64, &mut |_, _| {}).unwrap();
    assert_eq!(pieces, 2);
    c.reboot().unwrap();
    let seen = h.join().unwrap();
    assert_eq!(&seen.partition[..raw.len()], &raw[..]);
}

#[test]
fn download_limit_and_size_mismatch() {
    let opts = FastbootOptions { max_download_size: Some(100), ..FastbootOptions::default() };
    let (host, mut dev) = stream_pair("fastboot");
    let mut c = FastbootClient::new(host, opts);
    assert!(matches!(
        c.download(&mut &[0u8; 101][..], 101, &mut |_, _| {}),
        Err(FastbootError::TooLarge { len: 101, limit: 100 })
    ));
    let h = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let n = dev.recv(&mut buf, T).unwrap();
        assert_eq!(&buf[..n], b"download:00000010");
        reply(&mut dev, &Reply::Data(8));
        let n = dev.recv(&mut buf, T).unwrap();
        assert_eq!(&buf[..n], b"download:00000010");
        reply(&mut dev, &Reply::Okay(String::new()));
        crate::testutil::hold_until_hangup(&mut dev);
    });
    assert!(matches!(
        c.download(&mut &[0u8; 16][..], 16, &mut |_, _| {}),
        Err(FastbootError::DataSizeMismatch { asked: 16, granted: 8 })
    ));
    assert!(matches!(
        c.download(&mut &[0u8; 16][..], 16, &mut |_, _| {}),
        Err(FastbootError::UnexpectedReply { .. })
    ));
    drop(c);
    h.join().unwrap();
}

#[test]
fn silent_device_and_garbage_reply() {
    let opts = FastbootOptions { command_timeout: Duration::from_millis(50), ..FastbootOptions::default() };
    let (host, mut dev) = stream_pair("fastboot");
    let mut c = FastbootClient::new(host, opts);
    assert!(matches!(c.getvar("product"), Err(FastbootError::NoReply { .. })));
    dev.send(b"BOGUS").unwrap();
    assert!(matches!(c.getvar("product"), Err(FastbootError::BadReply { .. })));
}

#[test]
fn short_reader_is_reported() {
    let (mut c, h) = start(None, 0, FastbootOptions::default());
    assert!(matches!(
        c.download(&mut &[0u8; 10][..], 20, &mut |_, _| {}),
        Err(FastbootError::ShortInput { expected: 20, got: 10 })
    ));
    drop(c);
    let _ = h.join();
}

#[test]
fn pacing_spaces_blocks() {
    let opts =
        FastbootOptions { block_size: 10, pacing: Duration::from_millis(20), ..FastbootOptions::default() };
    let (mut c, h) = start(None, 64, opts);
    let t0 = Instant::now();
    c.download(&mut &[1u8; 30][..], 30, &mut |_, _| {}).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(40));
    c.reboot().unwrap();
    assert_eq!(h.join().unwrap().writes, [10, 10, 10]);
}

#[test]
fn over_tcp_framing() {
    let (host, dev) = stream_pair("tcp");
    let h = thread::spawn(move || {
        let dev = FastbootTcp::server_handshake(dev, T).unwrap();
        serve(dev, Some("0x10000000"), 70_000)
    });
    let tcp = FastbootTcp::client_handshake(host, T).unwrap();
    let mut c = FastbootClient::new(tcp, FastbootOptions::default());
    assert_eq!(c.getvar("product").unwrap(), "sargo");
    assert_eq!(c.max_download_size().unwrap(), Some(0x1000_0000));
    let data: Vec<u8> = (0..70_000u32).map(|i| (i / 3) as u8).collect();
    c.flash_image("boot", &mut Cursor::new(data.clone()), 70_000, &mut |_, _| {}).unwrap();
    c.reboot().unwrap();
    let seen = h.join().unwrap();
    assert_eq!(seen.partition, data);
    assert!(seen.writes.iter().all(|&w| w <= EG25_BLOCK_SIZE));
}
