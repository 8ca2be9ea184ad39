use std::io::{Cursor, Read};

use super::*;
use crate::protocol::fastboot::sparse::tests::image;
use crate::protocol::fastboot::sparse::{CHUNK_CRC32, apply};
use proptest::prelude::*;

fn encode(piece: &SparsePiece, src: &[u8]) -> Vec<u8> {
    let mut cur = Cursor::new(src.to_vec());
    let mut out = Vec::new();
    piece.reader(&mut cur, 0).read_to_end(&mut out).unwrap();
    assert_eq!(out.len() as u64, piece.encoded_len());
    out
}

/// Apply every piece in order onto one buffer.
fn reassemble(pieces: &[SparsePiece], src: &[u8], limit: u64) -> Vec<u8> {
    let span = pieces.first().map_or(0, |p| p.total_blks as usize * p.blk_sz as usize);
    let mut out = vec![0u8; span];
    for p in pieces {
        let bytes = encode(p, src);
        assert!(bytes.len() as u64 <= limit, "piece of {} bytes over limit {limit}", bytes.len());
        apply(&bytes[..], &mut out).unwrap();
    }
    out
}

#[test]
fn raw_split_reexpands_to_the_original() {
    let data: Vec<u8> = (0..(10 * 4096 + 100u32)).map(|i| (i * 7 % 251) as u8).collect();
    let limit = 28 + 36 + 3 * 4096;
    let pieces = split_raw(data.len() as u64, 4096, limit).unwrap();
    assert_eq!(pieces.len(), 4);
    // First piece: RAW then trailing skip; middle: skip, RAW, skip; last: skip, RAW.
    assert!(matches!(
        pieces[0].chunks[..],
        [PieceChunk::Raw { blocks: 3, .. }, PieceChunk::DontCare { blocks: 8 }]
    ));
    assert!(matches!(
        pieces[1].chunks[..],
        [
            PieceChunk::DontCare { blocks: 3 },
            PieceChunk::Raw { blocks: 3, .. },
            PieceChunk::DontCare { blocks: 5 }
        ]
    ));
    assert!(matches!(
        pieces[3].chunks[..],
        [PieceChunk::DontCare { blocks: 9 }, PieceChunk::Raw { blocks: 2, src_len: 4196, pad: 3996, .. }]
    ));
    let out = reassemble(&pieces, &data, limit);
    assert_eq!(&out[..data.len()], &data[..]);
    assert!(out[data.len()..].iter().all(|&b| b == 0));
}

#[test]
fn sparse_split_is_chunkwise_and_reexpands() {
    let blk = 8u32;
    let raw1: Vec<u8> = (0..5 * 8u8).collect();
    let raw2: Vec<u8> = (0..4 * 8u8).map(|i| 200 - i).collect();
    let img = image(
        blk,
        16,
        &[
            (CHUNK_RAW, 5, raw1),
            (CHUNK_FILL, 2, vec![1, 2, 3, 4]),
            (CHUNK_DONT_CARE, 3, vec![]),
            (CHUNK_RAW, 4, raw2),
            (CHUNK_CRC32, 0, vec![0; 4]),
            (CHUNK_DONT_CARE, 2, vec![]),
        ],
    );
    let mut expected = vec![0u8; 16 * 8];
    apply(&img[..], &mut expected).unwrap();

    let limit = 28 + 36 + 2 * 8 + 12;
    let mut cur = Cursor::new(img.clone());
    let pieces = split_sparse(&mut cur, limit).unwrap();
    assert!(pieces.len() > 2);
    for p in &pieces {
        assert_eq!(p.chunks.iter().map(PieceChunk::blocks).sum::<u32>(), 16);
    }
    assert_eq!(reassemble(&pieces, &img, limit), expected);

    // With a generous limit it stays one piece (without the CRC chunk).
    let mut cur = Cursor::new(img.clone());
    let one = split_sparse(&mut cur, 1 << 20).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(reassemble(&one, &img, 1 << 20), expected);
}

#[test]
fn sparse_split_at_nonzero_stream_position() {
    let data: Vec<u8> = (0..48u8).collect();
    let img = image(16, 3, &[(CHUNK_RAW, 3, data.clone())]);
    let mut with_prefix = b"PREFIX".to_vec();
    with_prefix.extend_from_slice(&img);
    let mut cur = Cursor::new(with_prefix.clone());
    cur.set_position(6);
    let limit = 28 + 36 + 16;
    let pieces = split_sparse(&mut cur, limit).unwrap();
    assert_eq!(pieces.len(), 3);
    let mut out = vec![0u8; 48];
    for p in &pieces {
        let mut bytes = Vec::new();
        p.reader(&mut cur, 6).read_to_end(&mut bytes).unwrap();
        apply(&bytes[..], &mut out).unwrap();
    }
    assert_eq!(out, data);
}

#[test]
fn only_skips_gives_one_skip_piece() {
    let img = image(4, 10, &[(CHUNK_DONT_CARE, 10, vec![])]);
    let pieces = split_sparse(&mut Cursor::new(img), 100).unwrap();
    assert_eq!(pieces.len(), 1);
    assert_eq!(pieces[0].chunks, [PieceChunk::DontCare { blocks: 10 }]);
}

#[test]
fn limits_and_block_sizes_are_checked() {
    assert!(matches!(split_raw(10_000, 4096, 28 + 36 + 4095), Err(SparseError::LimitTooSmall { .. })));
    assert!(matches!(split_raw(10_000, 0, 1 << 20), Err(SparseError::BadBlockSize(0))));
    assert!(matches!(split_raw(10_000, 6, 1 << 20), Err(SparseError::BadBlockSize(6))));
    assert!(matches!(split_raw(u64::MAX, 4, 1 << 20), Err(SparseError::TooManyBlocksForImage { .. })));
}

#[test]
fn short_source_is_an_io_error() {
    let pieces = split_raw(100, 4, 1 << 20).unwrap();
    let mut cur = Cursor::new(vec![0u8; 50]);
    let mut out = Vec::new();
    let e = pieces[0].reader(&mut cur, 0).read_to_end(&mut out).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
}

proptest! {
    #[test]
    fn raw_split_round_trips(len in 1usize..3000, blocks_per_piece in 1u64..6, blk in prop::sample::select(vec![4u32, 16, 64])) {
        let data: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
        let limit = 28 + 36 + blocks_per_piece * u64::from(blk);
        let pieces = split_raw(len as u64, blk, limit).unwrap();
        let out = reassemble(&pieces, &data, limit);
        prop_assert_eq!(&out[..len], &data[..]);
    }

    #[test]
    fn sparse_split_round_trips(
        chunks in proptest::collection::vec((0u8..3, 1u32..6), 1..12),
        extra in 0u64..40,
    ) {
        let blk = 4u32;
        let mut spec = Vec::new();
        let mut total = 0;
        for (i, (kind, n)) in chunks.iter().enumerate() {
            let t = [super::CHUNK_RAW, super::CHUNK_FILL, super::CHUNK_DONT_CARE][*kind as usize];
            let payload = match t {
                super::CHUNK_RAW => (0..n * blk).map(|j| (i as u32 * 31 + j) as u8).collect(),
                super::CHUNK_FILL => vec![i as u8, 1, 2, 3],
                _ => vec![],
            };
            spec.push((t, *n, payload));
            total += n;
        }
        let img = image(blk, total, &spec);
        let mut expected = vec![0u8; (total * blk) as usize];
        apply(&img[..], &mut expected).unwrap();
        let limit = 28 + 36 + u64::from(blk) + extra;
        let pieces = split_sparse(&mut Cursor::new(img.clone()), limit).unwrap();
        prop_assert_eq!(reassemble(&pieces, &img, limit), expected);
    }
}
