//! Backups of a module (`docs/backup.md`): one file per partition read back (`<label>.bin`),
//! the NV items (`nv.json`) and `manifest.json` (the module's identity and revision, and
//! each file's offset, length and SHA-256). Every file is written to a temporary name in
//! the backup folder and renamed when complete, so a folder never holds a half-written
//! file under its real name; the manifest is written last, so a folder with a manifest is
//! a finished backup.
//!
//! The reading itself is a plan (`plan::backup`) run by the executor; this module holds
//! the file formats.

pub mod nv;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{Op, Plan};

/// `manifest.json`.
pub const MANIFEST: &str = "manifest.json";
/// `nv.json`.
pub const NV_FILE: &str = "nv.json";
/// The manifest format version.
pub const FORMAT: u32 = 1;

/// What went wrong with a backup folder.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a backup manifest ({why})")]
    BadManifest { path: String, why: String },
    #[error(
        "{path}: the file does not match the manifest ({why}); the backup is damaged, restore from another copy"
    )]
    Damaged { path: String, why: String },
}

fn io(path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Io { path: path.display().to_string(), source }
}

/// One partition file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionFile {
    pub label: String,
    /// File name inside the backup folder (`<label>.bin`).
    pub file: String,
    /// Byte offset in the NAND (start sector × sector size).
    pub offset: u64,
    pub length: u64,
    pub sha256: String,
    pub start_sector: u64,
    pub sector_size: u32,
}

/// Who the module was when it was backed up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupIdentity {
    pub imei: Option<String>,
    pub chip_serial: Option<String>,
    pub revision: Option<String>,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub identity: BackupIdentity,
    /// The package whose programmer and layout were used, when there was one.
    pub package: Option<String>,
    pub partitions: Vec<PartitionFile>,
    /// `nv.json` when NV items were read.
    pub nv: Option<String>,
    /// What could not be backed up, and why.
    pub not_backed_up: Vec<String>,
}

/// The temporary name of `path` while it is being written.
pub fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

/// Write `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let tmp = temp_name(path);
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// The hex SHA-256 and length of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64), BackupError> {
    let mut f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
        len += n as u64;
    }
    Ok((h.finalize().iter().map(|b| format!("{b:02x}")).collect(), len))
}

/// The file name a partition is kept under: its label, with anything but letters,
/// digits, `-` and `_` replaced (labels come from package XML).
pub fn file_for(label: &str) -> String {
    let safe: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{}.bin", if safe.is_empty() { "unnamed" } else { &safe })
}

/// After a backup plan ran: hash what it wrote and write the manifest (last).
pub fn finish(
    dir: &Path,
    plan: &Plan,
    identity: BackupIdentity,
    notes: &[String],
) -> Result<Manifest, BackupError> {
    let mut partitions = Vec::new();
    let mut nv = None;
    for step in &plan.steps {
        match &step.op {
            Op::FirehoseRead { label, sector_size, start_sector, out, .. } => {
                let path = Path::new(out);
                let (sha256, length) = hash_file(path)?;
                partitions.push(PartitionFile {
                    label: label.clone(),
                    file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                    offset: start_sector.saturating_mul(u64::from(*sector_size)),
                    length,
                    sha256,
                    start_sector: *start_sector,
                    sector_size: *sector_size,
                });
            }
            Op::NvBackup { .. } => nv = Some(NV_FILE.to_owned()),
            _ => {}
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        identity,
        package: Some(plan.package.clone()).filter(|p| !p.is_empty()),
        partitions,
        nv,
        not_backed_up: notes.to_vec(),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::BadManifest { path: dir.display().to_string(), why: e.to_string() })?;
    write_atomic(&dir.join(MANIFEST), &json)?;
    Ok(manifest)
}

/// Read a backup folder's manifest and check every file against it.
pub fn load(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|e| io(&path, e))?;
    let m: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::BadManifest { path: path.display().to_string(), why: e.to_string() })?;
    if m.format != FORMAT {
        return Err(BackupError::BadManifest {
            path: path.display().to_string(),
            why: format!("format {} (this version reads {FORMAT})", m.format),
        });
    }
    for p in &m.partitions {
        if p.file != file_for(&p.label) {
            return Err(BackupError::BadManifest {
                path: path.display().to_string(),
                why: format!("file name {:?} for label {:?}", p.file, p.label),
            });
        }
        let f = dir.join(&p.file);
        let (sha, len) = hash_file(&f)?;
        if len != p.length || sha != p.sha256 {
            return Err(BackupError::Damaged {
                path: f.display().to_string(),
                why: format!(
                    "{len} bytes with SHA-256 {sha}, the manifest says {} bytes, {}",
                    p.length, p.sha256
                ),
            });
        }
    }
    Ok(m)
}

/// The NV record of a backup folder, when it has one.
pub fn load_nv(dir: &Path) -> Result<Option<nv::NvBackup>, BackupError> {
    let path = dir.join(NV_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BackupError::BadManifest { path: path.display().to_string(), why: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_no_temp_file_and_labels_are_safe() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.bin");
        write_atomic(&p, b"abc").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        assert!(!temp_name(&p).exists());
        assert_eq!(file_for("../etc/passwd"), "___etc_passwd.bin");
        assert_eq!(file_for("sbl"), "sbl.bin");
        assert_eq!(hash_file(&p).unwrap().1, 3);
    }
}
