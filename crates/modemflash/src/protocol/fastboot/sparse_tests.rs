use super::*;
use proptest::prelude::*;

/// Build a sparse image: (type, chunk_sz, payload) per chunk; total_sz is computed.
pub(crate) fn image(blk: u32, total_blks: u32, chunks: &[(u16, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = SparseHeader::new(blk, total_blks, chunks.len() as u32).encode().to_vec();
    for (t, sz, payload) in chunks {
        let h =
            ChunkHeader { chunk_type: *t, reserved: 0, chunk_sz: *sz, total_sz: 12 + payload.len() as u32 };
        out.extend_from_slice(&h.encode());
        out.extend_from_slice(payload);
    }
    out
}

fn sample() -> Vec<u8> {
    let raw: Vec<u8> = (0..8u8).collect();
    image(
        4,
        7,
        &[
            (CHUNK_RAW, 2, raw),
            (CHUNK_FILL, 1, vec![0xAA, 0xBB, 0xCC, 0xDD]),
            (CHUNK_DONT_CARE, 3, vec![]),
            (CHUNK_RAW, 1, vec![9, 9, 9, 9]),
            (CHUNK_CRC32, 0, vec![1, 2, 3, 4]),
        ],
    )
}

#[test]
fn header_bytes() {
    let h = SparseHeader::new(4096, 10, 3);
    assert_eq!(
        h.encode(),
        [
            0x3a, 0xff, 0x26, 0xed, 1, 0, 0, 0, 28, 0, 12, 0, 0x00, 0x10, 0, 0, 10, 0, 0, 0, 3, 0, 0, 0, 0,
            0, 0, 0
        ]
    );
    assert_eq!(SparseHeader::parse(&h.encode()).unwrap(), h);
    assert!(SparseHeader::is_sparse(&h.encode()));
    assert!(!SparseHeader::is_sparse(b"\x7fELF"));
    assert!(!SparseHeader::is_sparse(b"\x3a\xff"));
}

#[test]
fn chunk_header_bytes() {
    let c = ChunkHeader { chunk_type: CHUNK_RAW, reserved: 0, chunk_sz: 1, total_sz: 4108 };
    assert_eq!(c.encode(), [0xc1, 0xca, 0, 0, 1, 0, 0, 0, 0x0c, 0x10, 0, 0]);
    assert_eq!(ChunkHeader::parse(&c.encode()).unwrap(), c);
    assert!(matches!(ChunkHeader::parse(&[0; 11]), Err(SparseError::Truncated { .. })));
    assert_eq!(chunk_type_name(CHUNK_CRC32), Some("CRC32"));
    assert_eq!(chunk_type_name(0x1234), None);
}

#[test]
fn parses_every_chunk_type() {
    let img = sample();
    let mut r = SparseReader::new(&img[..]).unwrap();
    let c = r.next_chunk().unwrap().unwrap();
    assert_eq!((c.kind, c.start_block, c.blocks, c.data_offset, c.data_len), (ChunkKind::Raw, 0, 2, 40, 8));
    let mut buf = [0u8; 3];
    assert_eq!(r.read_raw(&mut buf).unwrap(), 3);
    assert_eq!(buf, [0, 1, 2]);
    // The rest of the RAW data is skipped by next_chunk.
    let c = r.next_chunk().unwrap().unwrap();
    assert_eq!((c.kind, c.start_block, c.blocks), (ChunkKind::Fill([0xAA, 0xBB, 0xCC, 0xDD]), 2, 1));
    assert_eq!(r.read_raw(&mut buf).unwrap(), 0);
    let c = r.next_chunk().unwrap().unwrap();
    assert_eq!((c.kind, c.start_block, c.blocks), (ChunkKind::DontCare, 3, 3));
    let c = r.next_chunk().unwrap().unwrap();
    assert_eq!((c.kind, c.start_block, c.blocks), (ChunkKind::Raw, 6, 1));
    let c = r.next_chunk().unwrap().unwrap();
    assert_eq!(c.kind, ChunkKind::Crc32(0x0403_0201));
    assert!(r.next_chunk().unwrap().is_none());
    assert_eq!(r.position(), img.len() as u64);
}

#[test]
fn apply_writes_raw_and_fill_and_keeps_dont_care() {
    let mut out = vec![0x55u8; 32];
    assert_eq!(apply(&sample()[..], &mut out).unwrap(), 28);
    assert_eq!(&out[..8], &[0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(&out[8..12], &[0xAA, 0xBB, 0xCC, 0xDD]);
    assert_eq!(&out[12..24], &[0x55; 12]);
    assert_eq!(&out[24..28], &[9, 9, 9, 9]);
    let mut small = vec![0u8; 27];
    assert!(matches!(apply(&sample()[..], &mut small), Err(SparseError::OutputTooSmall { needed: 28, .. })));
}

#[test]
fn larger_header_sizes_are_honoured() {
    let mut h = SparseHeader::new(4, 2, 2);
    h.file_hdr_sz = 32;
    h.chunk_hdr_sz = 16;
    let mut img = h.encode().to_vec();
    img.extend_from_slice(&[0xEE; 4]);
    let raw = ChunkHeader { chunk_type: CHUNK_RAW, reserved: 0, chunk_sz: 1, total_sz: 20 };
    img.extend_from_slice(&raw.encode());
    img.extend_from_slice(&[0xEE; 4]);
    img.extend_from_slice(b"ABCD");
    let fill = ChunkHeader { chunk_type: CHUNK_FILL, reserved: 0, chunk_sz: 1, total_sz: 20 };
    img.extend_from_slice(&fill.encode());
    img.extend_from_slice(&[0xEE; 4]);
    img.extend_from_slice(b"xyzw");
    let mut out = vec![0u8; 8];
    apply(&img[..], &mut out).unwrap();
    assert_eq!(&out, b"ABCDxyzw");
}

fn err(img: &[u8]) -> SparseError {
    let mut r = match SparseReader::new(img) {
        Ok(r) => r,
        Err(e) => return e,
    };
    loop {
        match r.next_chunk() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("parsed fine"),
            Err(e) => return e,
        }
    }
}

#[test]
fn typed_errors() {
    let good = sample();
    let mut bad = good.clone();
    bad[0] = 0;
    assert!(matches!(err(&bad), SparseError::BadMagic(_)));
    let mut bad = good.clone();
    bad[4] = 2;
    assert!(matches!(err(&bad), SparseError::UnsupportedVersion { major: 2, .. }));
    let mut bad = good.clone();
    bad[8] = 20;
    assert!(matches!(err(&bad), SparseError::BadHeaderSize { .. }));
    let mut bad = good.clone();
    bad[12] = 3;
    assert!(matches!(err(&bad), SparseError::BadBlockSize(3)));
    let mut bad = good.clone();
    bad[28] = 0xC5;
    assert!(matches!(err(&bad), SparseError::UnknownChunkType { index: 0, chunk_type: 0xCAC5 }));
    let mut bad = good.clone();
    bad[36] = 21;
    assert!(matches!(err(&bad), SparseError::BadChunkSize { index: 0, kind: "RAW", expected: 20, got: 21 }));
    let mut bad = good.clone();
    bad[16] = 5; // total_blks 5 < 7
    assert!(matches!(err(&bad), SparseError::TooManyBlocks { .. }));
    let mut bad = good.clone();
    bad[16] = 9;
    assert!(matches!(err(&bad), SparseError::BlockCountMismatch { expected: 9, got: 7 }));
    assert!(matches!(err(&good[..20]), SparseError::Truncated { offset: 20, .. }));
    assert!(matches!(err(&good[..45]), SparseError::Truncated { .. }));
    assert!(matches!(err(&good[..good.len() - 1]), SparseError::Truncated { .. }));
}

#[test]
fn huge_declared_sizes_do_not_allocate() {
    // A RAW chunk claiming 4 GiB of data: the parser only errors when it runs dry.
    let img = image(4096, u32::MAX, &[(CHUNK_RAW, 0x000F_FFFF, vec![])]);
    assert!(matches!(err(&img), SparseError::BadChunkSize { .. }));
    let mut img = SparseHeader::new(4096, 0x000F_FFFF, 1).encode().to_vec();
    let h = ChunkHeader { chunk_type: CHUNK_RAW, reserved: 0, chunk_sz: 0x000F_FFFF, total_sz: 0xFFFF_F00C };
    img.extend_from_slice(&h.encode());
    assert!(matches!(err(&img), SparseError::Truncated { .. }));
}

proptest! {
    #[test]
    fn never_panics_on_random_bytes(tail in proptest::collection::vec(any::<u8>(), 0..200), hdr in any::<bool>()) {
        let mut data = if hdr { SparseHeader::new(4, 8, 3).encode().to_vec() } else { Vec::new() };
        data.extend(tail);
        if let Ok(mut r) = SparseReader::new(&data[..]) {
            let mut buf = [0u8; 16];
            for _ in 0..16 {
                match r.next_chunk() {
                    Ok(Some(_)) => { let _ = r.read_raw(&mut buf); }
                    _ => break,
                }
            }
        }
        let mut out = vec![0u8; 64];
        let _ = apply(&data[..], &mut out);
    }
}
