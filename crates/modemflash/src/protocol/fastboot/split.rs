//! Splitting an image into Android sparse pieces of at most `max-download-size` bytes,
//! as AOSP does before flashing each piece under the same partition name
//! (`docs/facts/fastboot.md`, S12). A raw image becomes RAW runs framed by DONT_CARE skips; a
//! sparse image is split chunk-wise (big RAW chunks cut on block boundaries).
//!
//! Pieces are plans (offsets into the source), streamed by [`PieceReader`]: no piece is
//! ever held in memory. CRC32 chunks of a sparse input are dropped, since they cover the
//! whole image ([inferred] inferred; each piece gets `image_checksum` 0, "don't check").

use std::io::{Read, Seek, SeekFrom};

use super::sparse::{
    CHUNK_DONT_CARE, CHUNK_FILL, CHUNK_HEADER_LEN, CHUNK_RAW, ChunkHeader, ChunkKind, FILE_HEADER_LEN,
    SparseError, SparseHeader, SparseReader,
};

/// Block size used when turning a raw image into sparse pieces (AOSP default).
pub const DEFAULT_BLOCK_SIZE: u32 = 4096;

const HDR: u64 = CHUNK_HEADER_LEN as u64;
const FILE_HDR: u64 = FILE_HEADER_LEN as u64;

/// One chunk of a planned piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceChunk {
    /// RAW: `src_len` bytes from source offset `src_offset`, then `pad` zero bytes, for
    /// `blocks` blocks in total.
    Raw {
        blocks: u32,
        src_offset: u64,
        src_len: u64,
        pad: u64,
    },
    Fill {
        blocks: u32,
        pattern: [u8; 4],
    },
    DontCare {
        blocks: u32,
    },
}

impl PieceChunk {
    fn blocks(&self) -> u32 {
        match *self {
            Self::Raw { blocks, .. } | Self::Fill { blocks, .. } | Self::DontCare { blocks } => blocks,
        }
    }

    fn data_len(&self) -> u64 {
        match *self {
            Self::Raw { src_len, pad, .. } => src_len + pad,
            Self::Fill { .. } => 4,
            Self::DontCare { .. } => 0,
        }
    }

    fn header(&self) -> ChunkHeader {
        let (chunk_type, chunk_sz) = match *self {
            Self::Raw { blocks, .. } => (CHUNK_RAW, blocks),
            Self::Fill { blocks, .. } => (CHUNK_FILL, blocks),
            Self::DontCare { blocks } => (CHUNK_DONT_CARE, blocks),
        };
        let total = HDR + self.data_len();
        ChunkHeader { chunk_type, reserved: 0, chunk_sz, total_sz: u32::try_from(total).unwrap_or(u32::MAX) }
    }
}

/// One sparse image to download and flash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparsePiece {
    pub blk_sz: u32,
    pub total_blks: u32,
    pub chunks: Vec<PieceChunk>,
}

impl SparsePiece {
    /// The sparse file header of this piece.
    pub fn header(&self) -> SparseHeader {
        SparseHeader::new(self.blk_sz, self.total_blks, self.chunks.len() as u32)
    }

    /// Bytes of the encoded piece.
    pub fn encoded_len(&self) -> u64 {
        FILE_HDR + self.chunks.iter().map(|c| HDR + c.data_len()).sum::<u64>()
    }

    /// Stream the encoded piece. `base` is the source position where the image starts.
    pub fn reader<'a, R: Read + Seek>(&'a self, src: &'a mut R, base: u64) -> PieceReader<'a, R> {
        PieceReader { piece: self, src, base, stage: Stage::FileHeader, pos_in_stage: 0, chunk: 0 }
    }

    fn has_data(&self) -> bool {
        self.chunks.iter().any(|c| !matches!(c, PieceChunk::DontCare { .. }))
    }
}

/// Assembles pieces under a byte limit.
struct Builder {
    limit: u64,
    blk_sz: u32,
    total_blks: u32,
    pieces: Vec<SparsePiece>,
    chunks: Vec<PieceChunk>,
    used: u64,
    block: u64,
}

impl Builder {
    fn new(limit: u64, blk_sz: u32, total_blks: u32) -> Result<Self, SparseError> {
        // File header, leading skip, one RAW block and its header, trailing skip.
        if limit < FILE_HDR + 3 * HDR + u64::from(blk_sz) {
            return Err(SparseError::LimitTooSmall { limit, block_size: blk_sz });
        }
        Ok(Self {
            limit,
            blk_sz,
            total_blks,
            pieces: Vec::new(),
            chunks: Vec::new(),
            used: FILE_HDR,
            block: 0,
        })
    }

    /// Room for a chunk's data once its header and the trailing skip are reserved.
    fn room(&self) -> u64 {
        self.limit.saturating_sub(self.used + 2 * HDR)
    }

    fn push(&mut self, c: PieceChunk) {
        self.block += u64::from(c.blocks());
        if let (PieceChunk::DontCare { blocks: more }, Some(PieceChunk::DontCare { blocks })) =
            (c, self.chunks.last_mut())
        {
            // Runs of skips merge, so they never grow a piece.
            *blocks = blocks.saturating_add(more);
            return;
        }
        self.used += HDR + c.data_len();
        self.chunks.push(c);
    }

    fn close(&mut self) {
        let end = self.block;
        if end < u64::from(self.total_blks) {
            let rest = u64::from(self.total_blks) - end;
            self.chunks.push(PieceChunk::DontCare { blocks: rest as u32 });
        }
        let piece = SparsePiece {
            blk_sz: self.blk_sz,
            total_blks: self.total_blks,
            chunks: std::mem::take(&mut self.chunks),
        };
        if piece.has_data() {
            self.pieces.push(piece);
        }
        self.used = FILE_HDR;
        if end > 0 {
            self.chunks.push(PieceChunk::DontCare { blocks: end as u32 });
            self.used += HDR;
        }
        self.block = end;
    }

    fn add_raw(&mut self, mut blocks: u32, mut src_offset: u64, mut src_len: u64) {
        let blk = u64::from(self.blk_sz);
        while blocks > 0 {
            let fit = (self.room() / blk).min(u64::from(blocks)) as u32;
            if fit == 0 {
                self.close();
                continue;
            }
            let bytes = u64::from(fit) * blk;
            let take = src_len.min(bytes);
            self.push(PieceChunk::Raw { blocks: fit, src_offset, src_len: take, pad: bytes - take });
            blocks -= fit;
            src_offset += take;
            src_len -= take;
        }
    }

    fn add_small(&mut self, c: PieceChunk) {
        let merges = matches!(
            (c, self.chunks.last()),
            (PieceChunk::DontCare { .. }, Some(PieceChunk::DontCare { .. }))
        );
        if !merges && self.used + 2 * HDR + c.data_len() > self.limit {
            self.close();
        }
        self.push(c);
    }

    fn finish(mut self) -> Vec<SparsePiece> {
        self.close();
        if self.pieces.is_empty() {
            // Nothing but skips: still send one piece so the partition is "flashed".
            self.pieces.push(SparsePiece {
                blk_sz: self.blk_sz,
                total_blks: self.total_blks,
                chunks: vec![PieceChunk::DontCare { blocks: self.total_blks }],
            });
        }
        self.pieces
    }
}

/// Plan the pieces for a raw image of `len` bytes (the last block zero-padded).
pub fn split_raw(len: u64, blk_sz: u32, limit: u64) -> Result<Vec<SparsePiece>, SparseError> {
    if blk_sz == 0 || !blk_sz.is_multiple_of(4) {
        return Err(SparseError::BadBlockSize(blk_sz));
    }
    let total_blks = u32::try_from(len.div_ceil(u64::from(blk_sz)))
        .map_err(|_| SparseError::TooManyBlocksForImage { len, block_size: blk_sz })?;
    let mut b = Builder::new(limit, blk_sz, total_blks)?;
    b.add_raw(total_blks, 0, len);
    Ok(b.finish())
}

/// Plan the pieces for a sparse image read from `src` (at its current position), by
/// reading chunk headers and seeking over data.
pub fn split_sparse<R: Read + Seek>(src: &mut R, limit: u64) -> Result<Vec<SparsePiece>, SparseError> {
    let base = src.stream_position()?;
    let mut sr = SparseReader::new(&mut *src)?;
    let h = *sr.header();
    let mut b = Builder::new(limit, h.blk_sz, h.total_blks)?;
    while let Some(c) = sr.next_chunk()? {
        match c.kind {
            ChunkKind::Raw => {
                b.add_raw(c.blocks, c.data_offset, c.data_len);
                sr.seek_past_raw(base)?;
            }
            ChunkKind::Fill(pattern) => b.add_small(PieceChunk::Fill { blocks: c.blocks, pattern }),
            ChunkKind::DontCare => b.add_small(PieceChunk::DontCare { blocks: c.blocks }),
            ChunkKind::Crc32(_) => {}
        }
    }
    Ok(b.finish())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    FileHeader,
    ChunkHeader,
    Data,
    Done,
}

/// Streams one [`SparsePiece`] as bytes, reading RAW data from the source.
#[derive(Debug)]
pub struct PieceReader<'a, R> {
    piece: &'a SparsePiece,
    src: &'a mut R,
    base: u64,
    stage: Stage,
    pos_in_stage: u64,
    chunk: usize,
}

fn copy_from(src: &[u8], from: u64, out: &mut [u8]) -> usize {
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    let rest = src.get(from..).unwrap_or_default();
    let n = rest.len().min(out.len());
    if let (Some(d), Some(s)) = (out.get_mut(..n), rest.get(..n)) {
        d.copy_from_slice(s);
    }
    n
}

impl<R: Read + Seek> PieceReader<'_, R> {
    fn advance(&mut self, next: Stage) {
        self.stage = next;
        self.pos_in_stage = 0;
    }

    fn after_chunk_stage(&self) -> Stage {
        if self.chunk < self.piece.chunks.len() { Stage::ChunkHeader } else { Stage::Done }
    }
}

impl<R: Read + Seek> Read for PieceReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if out.is_empty() {
                return Ok(0);
            }
            match self.stage {
                Stage::Done => return Ok(0),
                Stage::FileHeader => {
                    let n = copy_from(&self.piece.header().encode(), self.pos_in_stage, out);
                    if n == 0 {
                        let next = self.after_chunk_stage();
                        self.advance(next);
                        continue;
                    }
                    self.pos_in_stage += n as u64;
                    return Ok(n);
                }
                Stage::ChunkHeader => {
                    let Some(c) = self.piece.chunks.get(self.chunk) else {
                        self.advance(Stage::Done);
                        continue;
                    };
                    let n = copy_from(&c.header().encode(), self.pos_in_stage, out);
                    if n == 0 {
                        self.advance(Stage::Data);
                        continue;
                    }
                    self.pos_in_stage += n as u64;
                    return Ok(n);
                }
                Stage::Data => {
                    let Some(&c) = self.piece.chunks.get(self.chunk) else {
                        self.advance(Stage::Done);
                        continue;
                    };
                    let at = self.pos_in_stage;
                    let n = match c {
                        PieceChunk::Raw { src_offset, src_len, pad, .. } => {
                            if at < src_len {
                                if at == 0 {
                                    self.src.seek(SeekFrom::Start(self.base + src_offset))?;
                                }
                                let want = usize::try_from(src_len - at).unwrap_or(usize::MAX).min(out.len());
                                let dst = out.get_mut(..want).unwrap_or_default();
                                let n = self.src.read(dst)?;
                                if n == 0 {
                                    return Err(std::io::Error::new(
                                        std::io::ErrorKind::UnexpectedEof,
                                        format!(
                                            "image ended inside a RAW run at source offset {}",
                                            src_offset + at
                                        ),
                                    ));
                                }
                                n
                            } else {
                                let want =
                                    usize::try_from(src_len + pad - at).unwrap_or(usize::MAX).min(out.len());
                                let dst = out.get_mut(..want).unwrap_or_default();
                                dst.fill(0);
                                want
                            }
                        }
                        PieceChunk::Fill { pattern, .. } => copy_from(&pattern, at, out),
                        PieceChunk::DontCare { .. } => 0,
                    };
                    if n == 0 {
                        self.chunk += 1;
                        let next = self.after_chunk_stage();
                        self.advance(next);
                        continue;
                    }
                    self.pos_in_stage += n as u64;
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
