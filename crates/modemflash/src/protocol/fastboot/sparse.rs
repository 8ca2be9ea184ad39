//! Android sparse images (`docs/facts/fastboot.md`): a streaming, reader-based parser with
//! bounded allocations. All fields little-endian.
//!
//! File header (28 bytes): magic 0xED26FF3A, major 1, minor 0, file_hdr_sz, chunk_hdr_sz,
//! blk_sz, total_blks, total_chunks, image_checksum. Chunk header (12 bytes): type,
//! reserved, chunk_sz (output blocks), total_sz (input bytes including the header).
//! Larger header sizes than the structs are honoured by skipping the extra bytes
//! ([inferred] inferred from the size fields, as `docs/facts/fastboot.md` notes).

use std::io::{ErrorKind, Read, Seek, SeekFrom};

/// `0xED26FF3A`.
pub const SPARSE_MAGIC: u32 = 0xED26_FF3A;
/// Size of the file header struct.
pub const FILE_HEADER_LEN: usize = 28;
/// Size of the chunk header struct.
pub const CHUNK_HEADER_LEN: usize = 12;
/// Chunk types.
pub const CHUNK_RAW: u16 = 0xCAC1;
pub const CHUNK_FILL: u16 = 0xCAC2;
pub const CHUNK_DONT_CARE: u16 = 0xCAC3;
pub const CHUNK_CRC32: u16 = 0xCAC4;

/// Name of a chunk type, or `None` if unknown.
pub fn chunk_type_name(t: u16) -> Option<&'static str> {
    match t {
        CHUNK_RAW => Some("RAW"),
        CHUNK_FILL => Some("FILL"),
        CHUNK_DONT_CARE => Some("DONT_CARE"),
        CHUNK_CRC32 => Some("CRC32"),
        _ => None,
    }
}

/// Errors in a sparse image or a split request.
#[derive(Debug, thiserror::Error)]
pub enum SparseError {
    #[error("not a sparse image: expected magic 0xed26ff3a, got {0:#010x}")]
    BadMagic(u32),
    #[error("unsupported sparse version {major}.{minor}: expected major 1")]
    UnsupportedVersion { major: u16, minor: u16 },
    #[error("sparse header sizes file={file_hdr_sz} chunk={chunk_hdr_sz}: expected at least 28 and 12")]
    BadHeaderSize { file_hdr_sz: u16, chunk_hdr_sz: u16 },
    #[error("sparse block size {0}: expected a non-zero multiple of 4")]
    BadBlockSize(u32),
    #[error("sparse chunk {index}: unknown type {chunk_type:#06x} (expected 0xcac1..=0xcac4)")]
    UnknownChunkType { index: u32, chunk_type: u16 },
    #[error("sparse chunk {index} ({kind}): total_sz {got}, expected {expected}")]
    BadChunkSize { index: u32, kind: &'static str, expected: u64, got: u32 },
    #[error("sparse chunk {index} ends at block {end}, past the image's {total} blocks")]
    TooManyBlocks { index: u32, end: u64, total: u32 },
    #[error("sparse chunks cover {got} blocks, the header says {expected}")]
    BlockCountMismatch { expected: u32, got: u64 },
    #[error("sparse image truncated at byte {offset}: expected {expected}")]
    Truncated { offset: u64, expected: &'static str },
    #[error("sparse output does not fit: needs {needed} bytes, {available} available")]
    OutputTooSmall { needed: u64, available: u64 },
    #[error(
        "a sparse piece of at most {limit} bytes cannot hold one {block_size}-byte block with its headers"
    )]
    LimitTooSmall { limit: u64, block_size: u32 },
    #[error("image of {len} bytes has more than 2^32 blocks of {block_size} bytes")]
    TooManyBlocksForImage { len: u64, block_size: u32 },
    #[error("sparse I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2).and_then(|s| s.try_into().ok()).map_or(0, u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).and_then(|s| s.try_into().ok()).map_or(0, u32::from_le_bytes)
}

/// The sparse file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseHeader {
    pub major_version: u16,
    pub minor_version: u16,
    pub file_hdr_sz: u16,
    pub chunk_hdr_sz: u16,
    pub blk_sz: u32,
    pub total_blks: u32,
    pub total_chunks: u32,
    pub image_checksum: u32,
}

impl SparseHeader {
    /// A version 1.0 header with the standard header sizes.
    pub fn new(blk_sz: u32, total_blks: u32, total_chunks: u32) -> Self {
        Self {
            major_version: 1,
            minor_version: 0,
            file_hdr_sz: FILE_HEADER_LEN as u16,
            chunk_hdr_sz: CHUNK_HEADER_LEN as u16,
            blk_sz,
            total_blks,
            total_chunks,
            image_checksum: 0,
        }
    }

    /// Whether `prefix` starts with the sparse magic.
    pub fn is_sparse(prefix: &[u8]) -> bool {
        prefix.len() >= 4 && u32_at(prefix, 0) == SPARSE_MAGIC
    }

    /// Parse and validate the first 28 bytes.
    pub fn parse(b: &[u8]) -> Result<Self, SparseError> {
        if b.len() < FILE_HEADER_LEN {
            return Err(SparseError::Truncated { offset: b.len() as u64, expected: "a 28-byte file header" });
        }
        let magic = u32_at(b, 0);
        if magic != SPARSE_MAGIC {
            return Err(SparseError::BadMagic(magic));
        }
        let h = Self {
            major_version: u16_at(b, 4),
            minor_version: u16_at(b, 6),
            file_hdr_sz: u16_at(b, 8),
            chunk_hdr_sz: u16_at(b, 10),
            blk_sz: u32_at(b, 12),
            total_blks: u32_at(b, 16),
            total_chunks: u32_at(b, 20),
            image_checksum: u32_at(b, 24),
        };
        if h.major_version != 1 {
            return Err(SparseError::UnsupportedVersion { major: h.major_version, minor: h.minor_version });
        }
        if usize::from(h.file_hdr_sz) < FILE_HEADER_LEN || usize::from(h.chunk_hdr_sz) < CHUNK_HEADER_LEN {
            return Err(SparseError::BadHeaderSize {
                file_hdr_sz: h.file_hdr_sz,
                chunk_hdr_sz: h.chunk_hdr_sz,
            });
        }
        if h.blk_sz == 0 || !h.blk_sz.is_multiple_of(4) {
            return Err(SparseError::BadBlockSize(h.blk_sz));
        }
        Ok(h)
    }

    /// The 28 header bytes (header sizes written as given).
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut o = [0u8; FILE_HEADER_LEN];
        let fields: [&[u8]; 9] = [
            &SPARSE_MAGIC.to_le_bytes(),
            &self.major_version.to_le_bytes(),
            &self.minor_version.to_le_bytes(),
            &self.file_hdr_sz.to_le_bytes(),
            &self.chunk_hdr_sz.to_le_bytes(),
            &self.blk_sz.to_le_bytes(),
            &self.total_blks.to_le_bytes(),
            &self.total_chunks.to_le_bytes(),
            &self.image_checksum.to_le_bytes(),
        ];
        let mut at = 0;
        for f in fields {
            if let Some(dst) = o.get_mut(at..at + f.len()) {
                dst.copy_from_slice(f);
            }
            at += f.len();
        }
        o
    }
}

/// The 12-byte chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub chunk_type: u16,
    pub reserved: u16,
    pub chunk_sz: u32,
    pub total_sz: u32,
}

impl ChunkHeader {
    pub fn parse(b: &[u8]) -> Result<Self, SparseError> {
        if b.len() < CHUNK_HEADER_LEN {
            return Err(SparseError::Truncated {
                offset: b.len() as u64,
                expected: "a 12-byte chunk header",
            });
        }
        Ok(Self {
            chunk_type: u16_at(b, 0),
            reserved: u16_at(b, 2),
            chunk_sz: u32_at(b, 4),
            total_sz: u32_at(b, 8),
        })
    }

    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut out = [0u8; CHUNK_HEADER_LEN];
        let kind = self.chunk_type.to_le_bytes();
        let reserved = self.reserved.to_le_bytes();
        let blocks = self.chunk_sz.to_le_bytes();
        let total = self.total_sz.to_le_bytes();
        for (dst, src) in out.iter_mut().zip(kind.iter().chain(&reserved).chain(&blocks).chain(&total)) {
            *dst = *src;
        }
        out
    }
}

/// What a chunk produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// `blocks × blk_sz` data bytes follow in the input.
    Raw,
    /// Every output word is this 4-byte pattern.
    Fill([u8; 4]),
    /// Output blocks are left alone.
    DontCare,
    /// CRC32 of the output so far.
    Crc32(u32),
}

/// One parsed chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub kind: ChunkKind,
    /// First output block.
    pub start_block: u64,
    /// Output blocks covered.
    pub blocks: u32,
    /// For RAW: input offset of the data (from the start of the image) and its length.
    pub data_offset: u64,
    pub data_len: u64,
}

/// Streaming sparse parser over any reader.
#[derive(Debug)]
pub struct SparseReader<R> {
    inner: R,
    header: SparseHeader,
    chunks_read: u32,
    next_block: u64,
    /// Unread RAW data of the current chunk.
    raw_left: u64,
    /// Input bytes consumed.
    pos: u64,
}

impl<R: Read> SparseReader<R> {
    /// Read and validate the file header (skipping any bytes beyond 28).
    pub fn new(mut inner: R) -> Result<Self, SparseError> {
        let mut b = [0u8; FILE_HEADER_LEN];
        read_full(&mut inner, &mut b, 0, "a 28-byte file header")?;
        let header = SparseHeader::parse(&b)?;
        let mut me =
            Self { inner, header, chunks_read: 0, next_block: 0, raw_left: 0, pos: FILE_HEADER_LEN as u64 };
        let extra = u64::from(header.file_hdr_sz) - FILE_HEADER_LEN as u64;
        me.skip(extra, "the rest of the file header")?;
        Ok(me)
    }

    pub fn header(&self) -> &SparseHeader {
        &self.header
    }

    /// Input bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    fn skip(&mut self, mut n: u64, expected: &'static str) -> Result<(), SparseError> {
        let mut scratch = [0u8; 512];
        while n > 0 {
            let want = usize::try_from(n).unwrap_or(usize::MAX).min(scratch.len());
            let buf = scratch.get_mut(..want).unwrap_or_default();
            read_full(&mut self.inner, buf, self.pos, expected)?;
            self.pos += want as u64;
            n -= want as u64;
        }
        Ok(())
    }

    /// Read RAW data of the current chunk into `buf`; `Ok(0)` once it is all read.
    pub fn read_raw(&mut self, buf: &mut [u8]) -> Result<usize, SparseError> {
        let want = usize::try_from(self.raw_left).unwrap_or(usize::MAX).min(buf.len());
        let Some(dst) = buf.get_mut(..want) else { return Ok(0) };
        if want == 0 {
            return Ok(0);
        }
        let n = loop {
            match self.inner.read(dst) {
                Ok(0) => return Err(SparseError::Truncated { offset: self.pos, expected: "RAW chunk data" }),
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        self.raw_left -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }

    /// The next chunk, skipping unread RAW data of the previous one. `Ok(None)` after
    /// `total_chunks` chunks, once the block count has been checked.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, SparseError> {
        let left = self.raw_left;
        self.skip(left, "RAW chunk data")?;
        self.raw_left = 0;
        let h = self.header;
        if self.chunks_read >= h.total_chunks {
            if self.next_block != u64::from(h.total_blks) {
                return Err(SparseError::BlockCountMismatch { expected: h.total_blks, got: self.next_block });
            }
            return Ok(None);
        }
        let index = self.chunks_read;
        let mut b = [0u8; CHUNK_HEADER_LEN];
        read_full(&mut self.inner, &mut b, self.pos, "a chunk header")?;
        self.pos += CHUNK_HEADER_LEN as u64;
        let extra = u64::from(h.chunk_hdr_sz) - CHUNK_HEADER_LEN as u64;
        self.skip(extra, "the rest of a chunk header")?;
        let ch = ChunkHeader::parse(&b)?;
        let hdr = u64::from(h.chunk_hdr_sz);
        let Some(kind_name) = chunk_type_name(ch.chunk_type) else {
            return Err(SparseError::UnknownChunkType { index, chunk_type: ch.chunk_type });
        };
        let data_len = u64::from(ch.chunk_sz) * u64::from(h.blk_sz);
        let expected = match ch.chunk_type {
            CHUNK_RAW => hdr + data_len,
            CHUNK_FILL | CHUNK_CRC32 => hdr + 4,
            _ => hdr,
        };
        if u64::from(ch.total_sz) != expected {
            return Err(SparseError::BadChunkSize { index, kind: kind_name, expected, got: ch.total_sz });
        }
        let start_block = self.next_block;
        let blocks = if ch.chunk_type == CHUNK_CRC32 { 0 } else { ch.chunk_sz };
        let end = start_block + u64::from(blocks);
        if end > u64::from(h.total_blks) {
            return Err(SparseError::TooManyBlocks { index, end, total: h.total_blks });
        }
        let mut word = [0u8; 4];
        let kind = match ch.chunk_type {
            CHUNK_RAW => ChunkKind::Raw,
            CHUNK_FILL | CHUNK_CRC32 => {
                read_full(&mut self.inner, &mut word, self.pos, "a 4-byte FILL/CRC32 value")?;
                self.pos += 4;
                if ch.chunk_type == CHUNK_FILL {
                    ChunkKind::Fill(word)
                } else {
                    ChunkKind::Crc32(u32::from_le_bytes(word))
                }
            }
            _ => ChunkKind::DontCare,
        };
        let raw = kind == ChunkKind::Raw;
        self.raw_left = if raw { data_len } else { 0 };
        self.chunks_read += 1;
        self.next_block = end;
        Ok(Some(Chunk {
            kind,
            start_block,
            blocks,
            data_offset: self.pos,
            data_len: if raw { data_len } else { 0 },
        }))
    }
}

impl<R: Read + Seek> SparseReader<R> {
    /// Seek past the unread RAW data of the current chunk instead of reading it. The
    /// image must start at stream position `base`.
    pub fn seek_past_raw(&mut self, base: u64) -> Result<(), SparseError> {
        if self.raw_left > 0 {
            self.pos += self.raw_left;
            self.raw_left = 0;
            self.inner.seek(SeekFrom::Start(base + self.pos))?;
        }
        Ok(())
    }
}

/// Fill `buf` completely or report truncation at `offset`.
pub(super) fn read_full<R: Read + ?Sized>(
    r: &mut R,
    buf: &mut [u8],
    offset: u64,
    expected: &'static str,
) -> Result<(), SparseError> {
    let mut got = 0;
    while let Some(dst) = buf.get_mut(got..).filter(|d| !d.is_empty()) {
        match r.read(dst) {
            Ok(0) => return Err(SparseError::Truncated { offset: offset + got as u64, expected }),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Apply a sparse image to `out` (a partition image): RAW and FILL blocks are written,
/// DONT_CARE blocks left as they are. Returns the bytes the image spans
/// (`total_blks × blk_sz`). For the simulator's `flash:` and for tests.
pub fn apply<R: Read>(reader: R, out: &mut [u8]) -> Result<u64, SparseError> {
    let mut sr = SparseReader::new(reader)?;
    let blk = u64::from(sr.header().blk_sz);
    let span = u64::from(sr.header().total_blks) * blk;
    if span > out.len() as u64 {
        return Err(SparseError::OutputTooSmall { needed: span, available: out.len() as u64 });
    }
    while let Some(c) = sr.next_chunk()? {
        let from = usize::try_from(c.start_block * blk).unwrap_or(usize::MAX);
        let len = usize::try_from(u64::from(c.blocks) * blk).unwrap_or(usize::MAX);
        let Some(dst) = out.get_mut(from..from.saturating_add(len)) else {
            return Err(SparseError::OutputTooSmall { needed: span, available: 0 });
        };
        match c.kind {
            ChunkKind::Raw => {
                let mut at = 0;
                while at < dst.len() {
                    let n = sr.read_raw(dst.get_mut(at..).unwrap_or_default())?;
                    if n == 0 {
                        break;
                    }
                    at += n;
                }
            }
            ChunkKind::Fill(p) => {
                for (i, b) in dst.iter_mut().enumerate() {
                    *b = p.get(i % 4).copied().unwrap_or(0);
                }
            }
            ChunkKind::DontCare | ChunkKind::Crc32(_) => {}
        }
    }
    Ok(span)
}

#[cfg(test)]
#[path = "sparse_tests.rs"]
pub(crate) mod tests;
