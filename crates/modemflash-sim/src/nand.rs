//! The simulated NAND: named partitions whose contents tests can inspect.
//!
//! Partitions hold a length, a SHA-256 and the first bytes (enough for every header the
//! boot logic reads), not the whole image: a 1 GiB update must not cost 1 GiB of RAM.
//! Writes arrive sequentially in every protocol modelled here (streaming STREAM_WRITE,
//! fastboot flash, Firehose program); an out-of-order write is recorded as such.

use modemflash::catalog::RevisionScanner;
use modemflash::package::revision::{SCAN_LIMIT, carries_revision};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes kept from the start of each partition.
pub const HEAD_BYTES: usize = 4096;

/// What a partition holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub len: u64,
    /// Hex SHA-256 of the bytes written (`None` while erased).
    pub sha256: Option<String>,
    /// First [`HEAD_BYTES`] bytes.
    #[serde(with = "hex_bytes")]
    pub head: Vec<u8>,
    /// False when a write was cut short (power loss) or arrived out of order.
    pub complete: bool,
    /// The firmware revision string found in the bytes written, for partitions that carry
    /// it (`modemflash::package::revision::carries_revision`), by the library's scanner
    /// over the first `SCAN_LIMIT` bytes: bounded, whatever the image size.
    #[serde(default)]
    pub revision: Option<String>,
}

impl Content {
    /// True when nothing was ever written (or it was erased).
    pub fn is_erased(&self) -> bool {
        self.sha256.is_none()
    }
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Name without the `0:` prefix, lower-case (`sbl1`, `appsbl`, `boot`).
    pub name: String,
    /// Capacity in bytes, when the table gives one.
    pub capacity: Option<u64>,
    /// First sector, for sector-addressed protocols (Firehose).
    #[serde(default)]
    pub start_sector: Option<u64>,
    pub content: Content,
}

/// The whole flash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nand {
    pub partitions: Vec<Partition>,
    /// Raw bytes of the partition table last accepted (streaming PARTITION_TABLE).
    #[serde(with = "hex_bytes")]
    pub table: Vec<u8>,
}

pub use crate::nand_data::canonical;

impl Nand {
    /// Find a partition.
    pub fn get(&self, name: &str) -> Option<&Partition> {
        let n = canonical(name);
        self.partitions.iter().find(|p| p.name == n)
    }

    // Both indices come from `position` or a push just made: in bounds.
    #[allow(clippy::indexing_slicing)]
    fn get_or_add(&mut self, name: &str) -> &mut Partition {
        let n = canonical(name);
        let i = if let Some(i) = self.partitions.iter().position(|p| p.name == n) {
            i
        } else {
            self.partitions.push(Partition {
                name: n,
                capacity: None,
                start_sector: None,
                content: Content::default(),
            });
            self.partitions.len() - 1
        };
        // `i` is in bounds: found above, or the element just pushed.
        #[allow(clippy::indexing_slicing)]
        &mut self.partitions[i]
    }

    /// Define partitions (name, capacity in bytes), keeping contents of names that stay.
    pub fn define(&mut self, parts: &[(String, Option<u64>)]) {
        for (name, cap) in parts {
            self.get_or_add(name).capacity = *cap;
        }
    }

    /// The partition starting at `sector`.
    pub fn at_sector(&self, sector: u64) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.start_sector == Some(sector))
    }

    /// Record where a partition starts (Firehose learns it from `<program>` lines).
    pub fn set_start_sector(&mut self, name: &str, sector: u64) {
        self.get_or_add(name).start_sector = Some(sector);
    }

    /// Erase a partition (creates it when unknown).
    pub fn erase(&mut self, name: &str) {
        self.get_or_add(name).content = Content::default();
    }

    /// Store a finished write.
    pub fn store(&mut self, name: &str, content: Content) {
        self.get_or_add(name).content = content;
    }

    /// Hex SHA-256 of a partition's contents.
    pub fn sha256(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|p| p.content.sha256.clone())
    }
}

/// Accumulates one partition write.
#[derive(Debug, Clone)]
pub struct PartitionWriter {
    pub name: String,
    hasher: Sha256,
    len: u64,
    head: Vec<u8>,
    in_order: bool,
    /// Looks for the revision while data streams in (modem partitions only).
    scanner: Option<RevisionScanner>,
    /// Where the bytes themselves go (`nand_data.rs`), when the module keeps them.
    store: Option<crate::nand_data::SharedData>,
}

impl PartitionWriter {
    pub fn new(name: &str) -> Self {
        PartitionWriter {
            name: canonical(name),
            hasher: Sha256::new(),
            len: 0,
            head: Vec::new(),
            in_order: true,
            scanner: carries_revision(name).then(RevisionScanner::new),
            store: None,
        }
    }

    /// Keep the bytes in `store` as well: a new write of the partition, so what it held
    /// before is forgotten first.
    #[must_use]
    pub fn storing(mut self, store: &crate::nand_data::SharedData) -> Self {
        if let Ok(mut d) = store.lock() {
            d.erase(&self.name);
        }
        self.store = Some(store.clone());
        self
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before the first byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Write `data` at byte `offset` of the partition.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if offset != self.len {
            self.in_order = false;
        }
        if self.head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head.len()).min(data.len());
            self.head.extend_from_slice(data.get(..take).unwrap_or_default());
        }
        self.hasher.update(data);
        if let Some(store) = &self.store
            && let Ok(mut d) = store.lock()
            && d.write(&self.name, offset, data).is_err()
        {
            // A host file system that cannot hold the bytes: the partition reads back
            // erased where they were lost; the hash still says what was written.
            self.in_order = false;
        }
        if let Some(scanner) = &mut self.scanner
            && scanner.scanned() < SCAN_LIMIT
        {
            let room = usize::try_from(SCAN_LIMIT - scanner.scanned()).unwrap_or(usize::MAX);
            scanner.feed(data.get(..room.min(data.len())).unwrap_or_default());
        }
        self.len = self.len.max(offset.saturating_add(data.len() as u64));
    }

    /// Leave the bytes up to `offset` as they are (a sparse image's DONT_CARE gap): the next
    /// write continues there, in order. The hash covers the bytes written only.
    pub fn skip_to(&mut self, offset: u64) {
        if offset >= self.len {
            // Erased NAND reads 0xFF.
            let head = usize::try_from(offset).unwrap_or(usize::MAX).min(HEAD_BYTES);
            if self.head.len() < head {
                self.head.resize(head, 0xff);
            }
            self.len = offset;
        } else {
            self.in_order = false;
        }
    }

    /// Finish: the partition's new contents. `complete` is false when cut short.
    pub fn finish(self, complete: bool) -> Content {
        let digest = self.hasher.finalize();
        Content {
            len: self.len,
            sha256: Some(digest.iter().map(|b| format!("{b:02x}")).collect()),
            head: self.head,
            complete: complete && self.in_order,
            revision: self.scanner.and_then(RevisionScanner::finish).map(|r| r.raw),
        }
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd hex length"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("bad hex"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_hash_and_persist() {
        let mut nand = Nand::default();
        nand.define(&[("0:SBL1".into(), Some(1 << 20))]);
        let mut w = PartitionWriter::new("0:SBL1");
        w.write(0, b"hello ");
        w.write(6, b"world");
        nand.store(&w.name.clone(), w.finish(true));
        let p = nand.get("sbl1").unwrap();
        assert_eq!(p.content.len, 11);
        assert_eq!(p.content.head, b"hello world");
        assert_eq!(
            nand.sha256("0:sbl1").unwrap(),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let json = serde_json::to_string(&nand).unwrap();
        let back: Nand = serde_json::from_str(&json).unwrap();
        assert_eq!(back, nand);
        nand.erase("SBL1");
        assert!(nand.get("sbl1").unwrap().content.is_erased());
    }

    #[test]
    fn modem_partitions_keep_the_revision_found_in_what_was_written() {
        let mut w = PartitionWriter::new("0:DSP2");
        let mut block = vec![0u8; 1024];
        block[1020..].copy_from_slice(b"EC20");
        w.write(0, &block);
        w.write(1024, b"AQAR02A05E2G\0 build");
        assert_eq!(w.finish(true).revision.as_deref(), Some("EC20AQAR02A05E2G"));
        let mut w = PartitionWriter::new("boot");
        w.write(0, b" EC20AQAR02A05E2G ");
        assert_eq!(w.finish(true).revision, None);
    }

    #[test]
    fn out_of_order_write_is_not_complete() {
        let mut w = PartitionWriter::new("boot");
        w.write(10, b"x");
        assert!(!w.finish(true).complete);
    }
}
