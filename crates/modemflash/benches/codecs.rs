//! Host-side codec throughput (issue 3): `hdlc_encode`, `hdlc_decode` and
//! `firehose_program_null` (the Firehose program data phase against a transport that
//! discards data and answers ACKs). Run: `cargo bench -p modemflash --bench codecs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::unused_self,
    missing_docs
)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modemflash::protocol::firehose::client::FirehoseClient;
use modemflash::protocol::firehose::codec::ProgramSpec;
use modemflash::protocol::hdlc::{Decoder, encode_into};
use modemflash::transport::{LinkInfo, Transport, TransportError};

/// Pseudo-random payload: realistic escaping density (about 2 in 256 bytes escaped).
fn payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn hdlc(c: &mut Criterion) {
    // Streaming DLOAD writes: 1024-byte data blocks plus a 5-byte header.
    let frame = payload(1029);
    let frames_per_iter = 256;
    let mut g = c.benchmark_group("hdlc");
    g.throughput(Throughput::Bytes((frame.len() * frames_per_iter) as u64));
    g.bench_function("hdlc_encode", |b| {
        let mut out = Vec::with_capacity(frame.len() * frames_per_iter * 2);
        b.iter(|| {
            out.clear();
            for _ in 0..frames_per_iter {
                encode_into(black_box(&frame), true, &mut out);
            }
            black_box(out.len())
        });
    });
    let mut wire = Vec::new();
    for _ in 0..frames_per_iter {
        encode_into(&frame, true, &mut wire);
    }
    g.bench_function("hdlc_decode", |b| {
        let mut d = Decoder::default();
        b.iter(|| {
            let mut n = 0usize;
            for chunk in black_box(&wire).chunks(16 * 1024) {
                d.feed(chunk, |f| n += f.map_or(0, <[u8]>::len));
            }
            assert_eq!(n, frame.len() * frames_per_iter);
            n
        });
    });
    g.finish();
}

/// A Firehose target that accepts everything: ACK rawmode=true to `<program>`, then
/// counts raw bytes and ACKs rawmode=false when the announced amount arrived.
struct NullTarget {
    info: LinkInfo,
    replies: VecDeque<u8>,
    expect: u64,
    got: u64,
}

const ACK_RAW: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" rawmode=\"true\" />\n</data>";
const ACK_DONE: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" rawmode=\"false\" />\n</data>";

impl Transport for NullTarget {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        if self.expect == 0 && data.starts_with(b"<?xml") {
            self.replies.extend(ACK_RAW);
            self.expect = u64::MAX;
        } else {
            self.got += data.len() as u64;
            if self.got >= self.expect_total() {
                self.replies.extend(ACK_DONE);
                self.expect = 0;
                self.got = 0;
            }
        }
        Ok(())
    }
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if self.replies.is_empty() {
            return Err(TransportError::Timeout(timeout));
        }
        let n = buf.len().min(self.replies.len());
        for (d, s) in buf.iter_mut().zip(self.replies.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }
    fn info(&self) -> &LinkInfo {
        &self.info
    }
}

const IMAGE: u64 = 64 << 20;
const SECTOR: u32 = 4096;

impl NullTarget {
    fn expect_total(&self) -> u64 {
        IMAGE.div_ceil(u64::from(SECTOR)) * u64::from(SECTOR)
    }
}

/// A reader that hands out zeros without touching memory bandwidth beyond the caller's
/// buffer (the bench measures the host protocol cost, not the disk).
struct Zeros(u64);

impl std::io::Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.0) as usize;
        buf[..n].fill(0);
        self.0 -= n as u64;
        Ok(n)
    }
}

fn firehose(c: &mut Criterion) {
    let mut g = c.benchmark_group("firehose");
    g.throughput(Throughput::Bytes(IMAGE));
    g.sample_size(20);
    let spec = ProgramSpec {
        sector_size: SECTOR,
        start_sector: "0".into(),
        physical_partition_number: 0,
        label: "system".into(),
        filename: "system.ubi".into(),
        extra: vec![],
    };
    let target = NullTarget { info: LinkInfo::stream("null"), replies: VecDeque::new(), expect: 0, got: 0 };
    let mut client = FirehoseClient::new(target);
    // 1 MiB payloads, as on eMMC/UFS and the USB path with several transfers in flight.
    client.set_max_payload(1 << 20);
    g.bench_function("firehose_program_null", |b| {
        b.iter(|| {
            let mut reader = Zeros(IMAGE);
            client.program(&spec, &mut reader, IMAGE, &mut |_, _| {}).unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, hdlc, firehose);
criterion_main!(benches);
