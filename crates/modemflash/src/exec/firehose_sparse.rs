//! Android sparse images (`sparse="true"` in rawprogram) over Firehose, streamed and never
//! expanded: each run of consecutive RAW/FILL chunks becomes one `<program>` at the run's
//! sector (`start_sector` + offset), carrying the run's sector offset inside the image as
//! `file_sector_offset`; DONT_CARE chunks are skipped, CRC32 chunks ignored. QFirehose
//! splits sparse images into runs the same way (`docs/facts/firehose.md`) [confirmed]; that it
//! names the offset `file_sector_offset` in the image's unsparsed sectors is [inferred].
//!
//! Three handles on the file keep memory constant whatever the image: one checks every
//! chunk header first (alignment, total), one looks ahead for the end of each run, one
//! streams the data.

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::error::{Cause, SparseProblem};
use super::step::{OpError, on};
use crate::discovery::Port;
use crate::protocol::fastboot::sparse::{Chunk, ChunkKind, SparseError, SparseHeader, SparseReader};
use crate::protocol::firehose::{FirehoseClient, ProgramSpec};
use crate::transport::Transport;

/// Whether `r` starts with the sparse magic (the position is put back to 0).
pub(super) fn is_sparse<R: Read + Seek>(r: &mut R) -> io::Result<bool> {
    r.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match r.read(head.get_mut(got..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    r.seek(SeekFrom::Start(0))?;
    Ok(SparseHeader::is_sparse(head.get(..got).unwrap_or_default()))
}

/// Finds runs of data chunks (byte offset in the unsparsed image, length) by reading
/// chunk headers only.
struct Runs<R> {
    sr: SparseReader<R>,
    blk: u64,
    pending: Option<Chunk>,
}

impl<R: Read + Seek> Runs<R> {
    fn new(mut r: R) -> Result<Self, SparseError> {
        r.seek(SeekFrom::Start(0))?;
        let sr = SparseReader::new(r)?;
        let blk = u64::from(sr.header().blk_sz);
        Ok(Runs { sr, blk, pending: None })
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>, SparseError> {
        if let Some(c) = self.pending.take() {
            return Ok(Some(c));
        }
        let c = self.sr.next_chunk()?;
        self.sr.seek_past_raw(0)?;
        Ok(c)
    }

    fn next_run(&mut self) -> Result<Option<(u64, u64)>, SparseError> {
        let mut run: Option<(u64, u64)> = None;
        while let Some(c) = self.next_chunk()? {
            match c.kind {
                ChunkKind::DontCare if run.is_some() => return Ok(run),
                ChunkKind::DontCare | ChunkKind::Crc32(_) => {}
                ChunkKind::Raw | ChunkKind::Fill(_) => {
                    let (off, len) = (c.start_block * self.blk, u64::from(c.blocks) * self.blk);
                    match &mut run {
                        None => run = Some((off, len)),
                        Some((o, l)) if *o + *l == off => *l += len,
                        Some(_) => {
                            self.pending = Some(c);
                            return Ok(run);
                        }
                    }
                }
            }
        }
        Ok(run)
    }
}

/// The data of one run, read from the streaming handle.
struct RunReader<'a, R> {
    sr: &'a mut SparseReader<R>,
    blk: u64,
    /// The current chunk: its kind, length and bytes already produced.
    cur: Option<(ChunkKind, u64, u64)>,
    left: u64,
}

fn io_err(e: SparseError) -> io::Error {
    match e {
        SparseError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

impl<R: Read> Read for RunReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.left == 0 || buf.is_empty() {
                return Ok(0);
            }
            match &mut self.cur {
                Some((kind, len, done)) if *done < *len => {
                    let want =
                        usize::try_from((*len - *done).min(self.left)).unwrap_or(usize::MAX).min(buf.len());
                    let dst = buf.get_mut(..want).unwrap_or_default();
                    let n = match kind {
                        ChunkKind::Raw => self.sr.read_raw(dst).map_err(io_err)?,
                        ChunkKind::Fill(p) => {
                            // Chunks start on a block (a multiple of 4): the phase is the offset.
                            let phase = (*done % 4) as usize;
                            for (i, b) in dst.iter_mut().enumerate() {
                                *b = p.get((phase + i) % 4).copied().unwrap_or(0);
                            }
                            want
                        }
                        ChunkKind::DontCare | ChunkKind::Crc32(_) => 0,
                    };
                    if n == 0 {
                        return Ok(0);
                    }
                    *done += n as u64;
                    self.left -= n as u64;
                    return Ok(n);
                }
                _ => match self.sr.next_chunk().map_err(io_err)? {
                    None => return Ok(0),
                    Some(c) => {
                        if matches!(c.kind, ChunkKind::Raw | ChunkKind::Fill(_)) {
                            self.cur = Some((c.kind, u64::from(c.blocks) * self.blk, 0));
                        }
                    }
                },
            }
        }
    }
}

fn open(path: &Path) -> io::Result<BufReader<std::fs::File>> {
    Ok(BufReader::with_capacity(64 * 1024, std::fs::File::open(path)?))
}

/// Send a sparse image whose first sector is `base` (a number: the package refuses a
/// sparse line without one). `data` is the (already open) file; returns the bytes sent.
pub(super) fn program<T: Transport>(
    fh: &mut FirehoseClient<T>,
    spec: &ProgramSpec,
    base: u64,
    data: &mut BufReader<std::fs::File>,
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, OpError> {
    let name = path.display().to_string();
    let bad = |problem: SparseProblem| OpError::on(Port::Edl, Cause::Sparse { path: name.clone(), problem });
    let sparse_err = |e: SparseError| bad(e.into());
    let io = |e: io::Error| bad(e.into());
    let sector = u64::from(spec.sector_size.max(1));
    // Pass 1: check every run before the device sees anything.
    let mut check = Runs::new(open(path).map_err(io)?).map_err(sparse_err)?;
    let mut total = 0u64;
    let mut pieces = 0u64;
    while let Some((off, len)) = check.next_run().map_err(sparse_err)? {
        if off % sector != 0 || len % sector != 0 {
            return Err(bad(SparseProblem::Unaligned { offset: off, len, sector }));
        }
        total += len;
        pieces += 1;
    }
    // Pass 2: look ahead for runs on one handle, stream the data from the other.
    let mut runs = Runs::new(open(path).map_err(io)?).map_err(sparse_err)?;
    data.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut sr = SparseReader::new(data).map_err(sparse_err)?;
    let blk = u64::from(sr.header().blk_sz);
    let mut sent = 0u64;
    let mut extra: Vec<(String, String)> = spec
        .extra
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("sparse") && !k.eq_ignore_ascii_case("file_sector_offset"))
        .cloned()
        .collect();
    extra.push(("file_sector_offset".into(), String::new()));
    progress(0, total);
    while let Some((off, len)) = runs.next_run().map_err(sparse_err)? {
        let mut piece = spec.clone();
        piece.start_sector = (base + off / sector).to_string();
        if let Some(last) = extra.last_mut() {
            last.1 = (off / sector).to_string();
        }
        piece.extra.clone_from(&extra);
        let mut reader = RunReader { sr: &mut sr, blk, cur: None, left: len };
        fh.program(&piece, &mut reader, len, &mut |d, _| progress(sent + d, total)).map_err(on(Port::Edl))?;
        sent += len;
    }
    if pieces == 0 {
        return Err(bad(SparseProblem::Empty));
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::fastboot::sparse::{CHUNK_DONT_CARE, CHUNK_FILL, CHUNK_RAW};

    /// A sparse image from (type, blocks, payload) chunks, block size 8.
    fn image(chunks: &[(u16, u32, Vec<u8>)]) -> Vec<u8> {
        crate::protocol::fastboot::sparse::tests::image(8, chunks.iter().map(|c| c.1).sum(), chunks)
    }

    #[test]
    fn runs_merge_neighbours_and_split_at_dont_care() {
        let img = image(&[
            (CHUNK_RAW, 2, vec![1; 16]),
            (CHUNK_FILL, 1, vec![7, 7, 7, 7]),
            (CHUNK_DONT_CARE, 3, vec![]),
            (CHUNK_RAW, 1, vec![2; 8]),
        ]);
        let mut runs = Runs::new(std::io::Cursor::new(img.clone())).unwrap();
        assert_eq!(runs.next_run().unwrap(), Some((0, 24)));
        assert_eq!(runs.next_run().unwrap(), Some((48, 8)));
        assert_eq!(runs.next_run().unwrap(), None);
        // The data side produces exactly the runs' bytes.
        let mut sr = SparseReader::new(std::io::Cursor::new(img)).unwrap();
        let mut out = Vec::new();
        RunReader { sr: &mut sr, blk: 8, cur: None, left: 24 }.read_to_end(&mut out).unwrap();
        let mut want = vec![1u8; 16];
        want.extend([7u8; 8]);
        assert_eq!(out, want);
        out.clear();
        RunReader { sr: &mut sr, blk: 8, cur: None, left: 8 }.read_to_end(&mut out).unwrap();
        assert_eq!(out, vec![2u8; 8]);
    }

    #[test]
    fn detects_the_magic() {
        let img = image(&[(CHUNK_RAW, 1, vec![1; 8])]);
        assert!(is_sparse(&mut std::io::Cursor::new(img)).unwrap());
        assert!(!is_sparse(&mut std::io::Cursor::new(b"UBI#....".to_vec())).unwrap());
        assert!(!is_sparse(&mut std::io::Cursor::new(Vec::new())).unwrap());
    }
}
