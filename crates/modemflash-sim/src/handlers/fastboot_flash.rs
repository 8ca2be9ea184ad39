//! What the fastboot bootloader keeps between commands, and how `flash:` turns a
//! downloaded image into NAND contents (`docs/facts/fastboot.md`).
//!
//! Design: the download is held in memory, bounded by `max-download-size` (the real LK
//! also keeps it in RAM until `flash:`). A raw image is written as is. A sparse image is
//! expanded chunk by chunk into a streaming [`PartitionWriter`]: RAW and FILL chunks are
//! written at their offsets, the gaps before them (DONT_CARE) are written as zeros
//! (what `simg2img` produces), so the partition's hash is the hash of the expanded image.
//!
//! Split images: AOSP sends a large image as several sparse pieces, each spanning the
//! whole partition with DONT_CARE where the other pieces are, each under its own
//! `flash:NAME`. The session keeps the writer of the last sparse flash; a sparse piece for
//! the same partition (same block size and block count) whose first data lies at or past
//! where the previous piece stopped continues that writer. After every piece the partition
//! is committed as "written so far, zeros after", so the last piece leaves exactly the
//! expanded image.

use std::io::Cursor;

use modemflash::protocol::fastboot::sparse::{ChunkKind, SparseError, SparseHeader, SparseReader};

use crate::nand::PartitionWriter;

/// Bytes reserved up front for a download; the buffer grows as data arrives, so a large
/// declared size costs nothing until the bytes come.
const INITIAL_RESERVE: usize = 1 << 20;
/// Scratch size for expanding sparse chunks.
const SCRATCH: usize = 64 * 1024;

/// The bootloader's memory, kept in [`crate::core::Core`] so every TCP connection of the
/// same boot sees it (like one USB device seen by successive host processes). A reboot
/// clears it.
#[derive(Default)]
pub struct Session {
    /// The module generation this memory belongs to.
    pub(crate) generation: u64,
    /// The last complete download.
    pub(crate) image: Option<Vec<u8>>,
    /// Progress of the last sparse flash, for split images.
    pub(crate) sparse: Option<SparseProgress>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("generation", &self.generation)
            .field("image_len", &self.image.as_ref().map(Vec::len))
            .field("sparse", &self.sparse.as_ref().map(|s| (&s.name, s.upto)))
            .finish()
    }
}

impl Session {
    /// Forget everything when the module has rebooted since.
    pub(crate) fn sync(&mut self, generation: u64) {
        if self.generation != generation {
            *self = Session { generation, ..Session::default() };
        }
    }

    /// A buffer for a download of `len` bytes.
    pub(crate) fn new_buffer(len: u64) -> Vec<u8> {
        Vec::with_capacity(usize::try_from(len).unwrap_or(usize::MAX).min(INITIAL_RESERVE))
    }
}

/// Where a split sparse image has got to.
#[derive(Debug, Clone)]
pub(crate) struct SparseProgress {
    name: String,
    blk_sz: u32,
    total_blks: u32,
    writer: PartitionWriter,
    /// Bytes written so far (RAW/FILL data and the zeros before it).
    upto: u64,
}

/// What a flash produced.
#[derive(Debug)]
pub(crate) struct Flashed {
    /// The content to commit.
    pub writer: PartitionWriter,
    /// False when cut short by a power loss.
    pub complete: bool,
    /// Whether the image was sparse (and how many bytes it expands to).
    pub sparse_span: Option<u64>,
}

/// Why a flash was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlashError {
    #[error("image too large for partition")]
    TooLarge,
    #[error("invalid sparse image: {0}")]
    Sparse(#[from] SparseError),
}

/// Write `len` bytes of a repeated 4-byte pattern at the writer's end.
fn fill(writer: &mut PartitionWriter, mut len: u64, pattern: [u8; 4]) {
    let scratch: Vec<u8> = pattern.iter().copied().cycle().take(SCRATCH).collect();
    while len > 0 {
        let n = usize::try_from(len).unwrap_or(usize::MAX).min(SCRATCH);
        writer.write(writer.len(), scratch.get(..n).unwrap_or_default());
        len -= n as u64;
    }
}

fn new_writer(name: &str, store: Option<&crate::nand_data::SharedData>) -> PartitionWriter {
    let w = PartitionWriter::new(name);
    match store {
        Some(s) => w.storing(s),
        None => w,
    }
}

/// Flash a raw image. With `power_loss`, only the first half is written.
pub(crate) fn flash_raw(
    name: &str,
    image: &[u8],
    capacity: Option<u64>,
    power_loss: bool,
    store: Option<&crate::nand_data::SharedData>,
) -> Result<Flashed, FlashError> {
    if capacity.is_some_and(|c| image.len() as u64 > c) {
        return Err(FlashError::TooLarge);
    }
    let mut writer = new_writer(name, store);
    let take = if power_loss { image.len() / 2 } else { image.len() };
    writer.write(0, image.get(..take).unwrap_or_default());
    Ok(Flashed { writer, complete: !power_loss, sparse_span: None })
}

/// First pass: validate the whole image and find where its first data chunk starts.
fn scan(image: &[u8]) -> Result<(SparseHeader, Option<u64>), SparseError> {
    let mut sr = SparseReader::new(Cursor::new(image))?;
    let h = *sr.header();
    let blk = u64::from(h.blk_sz);
    let mut first = None;
    while let Some(c) = sr.next_chunk()? {
        if first.is_none() && matches!(c.kind, ChunkKind::Raw | ChunkKind::Fill(_)) && c.blocks > 0 {
            first = Some(c.start_block * blk);
        }
    }
    Ok((h, first))
}

/// Flash a sparse image, continuing `progress` when it is the next piece of the same
/// split image. Returns what to commit; `progress` is updated for the next piece.
pub(crate) fn flash_sparse(
    name: &str,
    image: &[u8],
    capacity: Option<u64>,
    progress: &mut Option<SparseProgress>,
    power_loss: bool,
    store: Option<&crate::nand_data::SharedData>,
) -> Result<Flashed, FlashError> {
    let (h, first_data) = scan(image)?;
    let blk = u64::from(h.blk_sz);
    let span = u64::from(h.total_blks) * blk;
    if capacity.is_some_and(|c| span > c) {
        return Err(FlashError::TooLarge);
    }
    let continues = progress.as_ref().is_some_and(|p| {
        p.name == name
            && p.blk_sz == h.blk_sz
            && p.total_blks == h.total_blks
            && first_data.is_none_or(|f| f >= p.upto)
    });
    let mut state = match progress.take() {
        Some(p) if continues => p,
        _ => SparseProgress {
            name: name.to_owned(),
            blk_sz: h.blk_sz,
            total_blks: h.total_blks,
            writer: new_writer(name, store),
            upto: 0,
        },
    };
    let mut sr = SparseReader::new(Cursor::new(image))?;
    let mut scratch = vec![0u8; SCRATCH];
    let stop_at = if power_loss { span / 2 } else { u64::MAX };
    let mut cut = false;
    while let Some(c) = sr.next_chunk()? {
        let at = c.start_block * blk;
        let len = u64::from(c.blocks) * blk;
        if !matches!(c.kind, ChunkKind::Raw | ChunkKind::Fill(_)) || len == 0 {
            continue;
        }
        if at >= stop_at {
            cut = true;
            break;
        }
        // Chunks only move forward, and a continued image starts at or past `upto`.
        fill(&mut state.writer, at.saturating_sub(state.upto), [0; 4]);
        match c.kind {
            ChunkKind::Fill(p) => fill(&mut state.writer, len, p),
            _ => loop {
                let n = sr.read_raw(&mut scratch)?;
                if n == 0 {
                    break;
                }
                state.writer.write(state.writer.len(), scratch.get(..n).unwrap_or_default());
            },
        }
        state.upto = at + len;
    }
    if cut || power_loss {
        // Power lost in the middle: what was written stays, nothing after it.
        let writer = state.writer;
        return Ok(Flashed { writer, complete: false, sparse_span: Some(span) });
    }
    let mut whole = state.writer.clone();
    fill(&mut whole, span.saturating_sub(state.upto), [0; 4]);
    *progress = Some(state);
    Ok(Flashed { writer: whole, complete: true, sparse_span: Some(span) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use modemflash::protocol::fastboot::sparse::{CHUNK_DONT_CARE, CHUNK_FILL, CHUNK_RAW, ChunkHeader};
    use sha2::{Digest, Sha256};

    const B: u32 = 4096;

    enum C<'a> {
        Raw(&'a [u8]),
        Fill(u32, [u8; 4]),
        Skip(u32),
    }

    fn sparse(total_blks: u32, chunks: &[C<'_>]) -> Vec<u8> {
        let mut out = SparseHeader::new(B, total_blks, chunks.len() as u32).encode().to_vec();
        for c in chunks {
            let (t, blocks, body): (u16, u32, Vec<u8>) = match c {
                C::Raw(d) => (CHUNK_RAW, d.len() as u32 / B, d.to_vec()),
                C::Fill(n, p) => (CHUNK_FILL, *n, p.to_vec()),
                C::Skip(n) => (CHUNK_DONT_CARE, *n, Vec::new()),
            };
            let total_sz = 12 + body.len() as u32;
            out.extend_from_slice(
                &ChunkHeader { chunk_type: t, reserved: 0, chunk_sz: blocks, total_sz }.encode(),
            );
            out.extend_from_slice(&body);
        }
        out
    }

    fn hex(d: &[u8]) -> String {
        Sha256::digest(d).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn raw_image_and_capacity() {
        let f = flash_raw("boot", b"hello", Some(10), false, None).unwrap();
        let c = f.writer.finish(f.complete);
        assert_eq!(c.sha256.unwrap(), hex(b"hello"));
        assert!(matches!(flash_raw("boot", &[0; 11], Some(10), false, None), Err(FlashError::TooLarge)));
        let f = flash_raw("boot", &[1; 10], None, true, None).unwrap();
        assert!(!f.complete);
        assert_eq!(f.writer.len(), 5);
    }

    #[test]
    fn sparse_expands_with_zeros_for_dont_care() {
        let a = vec![0xaa; B as usize];
        let img = sparse(4, &[C::Raw(&a), C::Skip(1), C::Fill(1, [1, 2, 3, 4]), C::Skip(1)]);
        let mut progress = None;
        let f = flash_sparse("system", &img, None, &mut progress, false, None).unwrap();
        let mut want = a.clone();
        want.extend(vec![0u8; B as usize]);
        want.extend([1u8, 2, 3, 4].repeat(B as usize / 4));
        want.extend(vec![0u8; B as usize]);
        let c = f.writer.finish(true);
        assert_eq!(c.len, 4 * u64::from(B));
        assert_eq!(c.sha256.unwrap(), hex(&want));
        assert!(matches!(
            flash_sparse("system", &img, Some(4096), &mut None, false, None),
            Err(FlashError::TooLarge)
        ));
    }

    #[test]
    fn split_pieces_accumulate_and_a_repeat_starts_over() {
        let a = vec![0x11; B as usize];
        let b = vec![0x22; B as usize];
        let p1 = sparse(3, &[C::Raw(&a), C::Skip(2)]);
        let p2 = sparse(3, &[C::Skip(1), C::Raw(&b), C::Skip(1)]);
        let p3 = sparse(3, &[C::Skip(2), C::Raw(&a)]);
        let mut progress = None;
        for p in [&p1, &p2] {
            flash_sparse("system", p, None, &mut progress, false, None).unwrap();
        }
        let f = flash_sparse("system", &p3, None, &mut progress, false, None).unwrap();
        let whole = [a.clone(), b.clone(), a.clone()].concat();
        assert_eq!(f.writer.finish(true).sha256.unwrap(), hex(&whole));
        // Piece 1 again: a new image, not a continuation.
        let f = flash_sparse("system", &p1, None, &mut progress, false, None).unwrap();
        let fresh = [a.clone(), vec![0; 2 * B as usize]].concat();
        assert_eq!(f.writer.finish(true).sha256.unwrap(), hex(&fresh));
        // Another partition never continues this one.
        let f = flash_sparse("userdata", &p2, None, &mut progress, false, None).unwrap();
        let other = [vec![0; B as usize], b, vec![0; B as usize]].concat();
        assert_eq!(f.writer.finish(true).sha256.unwrap(), hex(&other));
    }

    #[test]
    fn corrupt_sparse_is_refused_before_writing() {
        let a = vec![0x11; B as usize];
        let mut img = sparse(2, &[C::Raw(&a), C::Skip(1)]);
        img.truncate(img.len() - 20);
        assert!(matches!(
            flash_sparse("boot", &img, None, &mut None, false, None),
            Err(FlashError::Sparse(_))
        ));
    }
}
