//! Synthetic firmware packages: legacy MDM9615 (QFlash layout) and Firehose 9x07
//! (QFirehose layout), written to a directory or a zip.

mod firehose;
mod legacy;
mod write;

pub use firehose::{FirehoseSpec, partition_layout, write as write_firehose};
pub use legacy::{LegacySpec, TABLE_VERSION, partition_entries, partition_table, write as write_legacy};
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

/// Marker put into boot images so a virtual module can tell which revision it booted:
/// the Android boot header's command line holds `quectel.revision=<REV>`.
pub const REVISION_MARKER: &str = "quectel.revision=";
