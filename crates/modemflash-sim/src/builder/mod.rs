//! Synthetic firmware packages: legacy MDM9615 (QFlash layout) and Firehose 9x07
//! (QFirehose layout), written to a directory or a zip.

mod firehose;
mod legacy;
pub(crate) mod write;

pub use firehose::{FirehoseSpec, partition_layout, write as write_firehose};
pub use legacy::{LegacySpec, TABLE_VERSION, partition_entries, partition_table, write as write_legacy};
pub(crate) use write::write_file_with;
pub use write::zip_dir;

use std::path::PathBuf;

/// What the builder wrote.
#[derive(Debug, Clone)]
pub struct Built {
    /// Package root.
    pub root: PathBuf,
    /// Package-relative paths and sizes.
    pub files: Vec<(String, u64)>,
}

impl Built {
    /// Sum of all file sizes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|(_, s)| s).sum()
    }
}

/// The version record a modem image carries: the revision string as `ATI` prints it, NUL
/// separated, e.g. `EC20AQAR02A04E2G  1  [Jun 30 2017 10:21:29]`. The revision is compiled
/// into the modem firmware (`dsp2.mbn` on the 9615, `NON-HLOS.ubi` on the 9x07) [I]; the
/// field module answered `Current version EC20AQAR02A03E2G 1 [Dec 10 2015 10:21:29]`
/// (docs/facts/field-evidence.md). The exact bytes around it are an assumption.
pub fn version_blob(revision: &str) -> Vec<u8> {
    format!("\0QCOM_VERSION\0{revision}  1  [Jun 30 2017 10:21:29]\0").into_bytes()
}

/// Where in a modem image of `size` bytes (after a `header` of `header_len`) the version
/// record goes: the middle of the image, but no further than 4 MiB in, unaligned, so a
/// reader must scan the stream rather than a 4 KiB head [I: its real place is unknown].
pub(crate) fn version_offset(size: u64, header_len: usize) -> u64 {
    ((size / 2).min(4 << 20) + 3).max(header_len as u64)
}
