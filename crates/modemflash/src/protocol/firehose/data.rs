//! The `rawmode="true"` data phase of `<program>` (`docs/facts/firehose.md` step 3,
//! `docs/facts/firehose.md`): `ceil(len / sector)` sectors sent as chunks of at most the
//! negotiated payload, each a whole number of sectors, the last zero-padded. One buffer
//! is reused for every chunk.

use std::io::{ErrorKind, Read};

use super::FirehoseError;

/// Sectors needed for `len` bytes: `ceil(len / sector_size)`.
pub fn sectors_for(len: u64, sector_size: u32) -> u64 {
    if sector_size == 0 { 0 } else { len.div_ceil(u64::from(sector_size)) }
}

/// Produces the data-phase chunks from a reader.
#[derive(Debug)]
pub struct DataChunker {
    buf: Vec<u8>,
    sector_size: usize,
    /// File bytes still to read.
    remaining: u64,
    /// Bytes (padding included) handed out so far.
    done: u64,
    total: u64,
}

impl DataChunker {
    /// Plan the data phase for a file of `len` bytes. Chunks are the largest multiple
    /// of `sector_size` not above `max_payload`.
    pub fn new(len: u64, sector_size: u32, max_payload: u64) -> Result<Self, FirehoseError> {
        let bad = |why: &'static str| FirehoseError::BadGeometry { sector_size, max_payload, why };
        if sector_size == 0 {
            return Err(bad("the sector size must not be 0"));
        }
        let sector = u64::from(sector_size);
        let chunk = max_payload / sector * sector;
        if chunk == 0 {
            return Err(bad("the payload limit must hold at least one sector"));
        }
        let total = sectors_for(len, sector_size)
            .checked_mul(sector)
            .ok_or(bad("the padded length does not fit in 64 bits"))?;
        // Never allocate more than the data needs (a tiny file with a big payload).
        let cap = usize::try_from(chunk.min(total.max(sector)))
            .map_err(|_| bad("the chunk size does not fit in memory"))?;
        Ok(Self { buf: vec![0; cap], sector_size: sector_size as usize, remaining: len, done: 0, total })
    }

    /// Bytes the whole data phase sends (`sectors × sector_size`).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes handed out so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Read the next chunk from `reader`. `Ok(None)` once everything was produced.
    /// A reader that ends before the declared length is an error.
    pub fn next_chunk<R: Read + ?Sized>(&mut self, reader: &mut R) -> Result<Option<&[u8]>, FirehoseError> {
        if self.done >= self.total {
            return Ok(None);
        }
        let want = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(self.buf.len());
        let mut filled = 0;
        while filled < want {
            let Some(dst) = self.buf.get_mut(filled..want) else { break };
            match reader.read(dst) {
                Ok(0) => {
                    return Err(FirehoseError::ShortInput {
                        expected: self.done + self.remaining,
                        got: self.done + filled as u64,
                    });
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(FirehoseError::Io(e)),
            }
        }
        self.remaining -= filled as u64;
        let padded = filled.div_ceil(self.sector_size) * self.sector_size;
        let padded = padded.min(self.buf.len());
        if let Some(pad) = self.buf.get_mut(filled..padded) {
            pad.fill(0);
        }
        self.done += padded as u64;
        Ok(self.buf.get(..padded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(data: &[u8], sector: u32, payload: u64) -> Vec<Vec<u8>> {
        let mut c = DataChunker::new(data.len() as u64, sector, payload).unwrap();
        let mut r = data;
        let mut out = Vec::new();
        while let Some(chunk) = c.next_chunk(&mut r).unwrap() {
            out.push(chunk.to_vec());
        }
        assert_eq!(c.done(), c.total());
        out
    }

    #[test]
    fn exact_multiple() {
        let data = vec![7u8; 8192 * 2];
        let chunks = run(&data, 4096, 8192);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| c.len() == 8192));
    }

    #[test]
    fn last_chunk_is_padded_to_a_sector() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let chunks = run(&data, 4096, 8192);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [8192, 4096]);
        assert_eq!(&chunks[1][..10_000 - 8192], &data[8192..]);
        assert!(chunks[1][10_000 - 8192..].iter().all(|&b| b == 0));
    }

    #[test]
    fn payload_not_a_multiple_of_sector() {
        let chunks = run(&[1u8; 5000], 2048, 5000);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [4096, 2048]);
    }

    #[test]
    fn empty_file_sends_nothing() {
        assert!(run(&[], 4096, 8192).is_empty());
        assert_eq!(sectors_for(0, 4096), 0);
        assert_eq!(sectors_for(1, 4096), 1);
        assert_eq!(sectors_for(4097, 4096), 2);
    }

    #[test]
    fn bad_geometry_and_short_input() {
        assert!(matches!(DataChunker::new(1, 0, 8192), Err(FirehoseError::BadGeometry { .. })));
        assert!(matches!(DataChunker::new(1, 4096, 2048), Err(FirehoseError::BadGeometry { .. })));
        assert!(matches!(DataChunker::new(u64::MAX, 4096, 8192), Err(FirehoseError::BadGeometry { .. })));
        let mut c = DataChunker::new(10_000, 4096, 8192).unwrap();
        let mut r: &[u8] = &[0u8; 9000];
        assert!(c.next_chunk(&mut r).unwrap().is_some());
        assert!(matches!(
            c.next_chunk(&mut r),
            Err(FirehoseError::ShortInput { expected: 10_000, got: 9000 })
        ));
    }

    #[test]
    fn longer_reader_is_cut_at_len() {
        let mut c = DataChunker::new(3, 512, 8192).unwrap();
        let mut r: &[u8] = b"abcdef";
        assert_eq!(c.next_chunk(&mut r).unwrap().map(<[u8]>::len), Some(512));
        assert!(c.next_chunk(&mut r).unwrap().is_none());
        assert_eq!(r, b"def");
    }

    proptest! {
        #[test]
        fn chunks_are_sector_multiples_and_concat_to_padded_input(
            len in 0usize..20_000, sector in prop::sample::select(vec![512u32, 2048, 4096]), payload in 512u64..20_000,
        ) {
            prop_assume!(payload >= u64::from(sector));
            let data: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let chunks = run(&data, sector, payload);
            let mut all = Vec::new();
            for c in &chunks {
                prop_assert!(c.len() as u64 <= payload);
                prop_assert_eq!(c.len() % sector as usize, 0);
                all.extend_from_slice(c);
            }
            prop_assert_eq!(all.len() as u64, sectors_for(len as u64, sector) * u64::from(sector));
            prop_assert_eq!(&all[..len], &data[..]);
            prop_assert!(all[len..].iter().all(|&b| b == 0));
        }
    }
}
