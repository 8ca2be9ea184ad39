//! Firmware packages: open a directory or a `.zip`, work out what kind of package it is,
//! give every file its role, and validate all of it before any module is touched.
//!
//! Kinds (`docs/facts/quectel.md`):
//! - **legacy MDM9615** (EC20 R1, QFlash-style): DMSS `.hex` programmer → streaming DLOAD →
//!   fastboot. No `md5.txt`, no Firehose programmer — both normal for this kind.
//! - **Firehose 9x07** (EC25/EC21/EG25-G/EC20 R2, QFirehose-style): Sahara → Firehose, driven
//!   by `update/firehose/rawprogram*.xml` and `patch*.xml`, checked against `md5.txt`.
//! - **plain fastboot images**: files named after partitions.
//!
//! Every problem is collected (not just the first), each naming its file.

pub mod elf;
mod firehose;
mod firehose_lines;
mod fit;
pub mod geometry;
pub mod headers;
pub mod ihex;
mod legacy;
pub mod md5;
pub mod ptable;
mod report;
pub mod revision;
pub mod source;

use std::path::{Path, PathBuf};

pub use firehose::{FirehoseLayout, XmlOp};
pub use firehose_lines::{EraseLine, PatchLine, ProgramEntry, Sector};
pub use legacy::LegacyLayout;
pub use report::{FileDetails, FileReport, Finding, Phase, Report, Role, Severity, Use};
pub use source::{Source, SourceFile};

use crate::catalog::Chipset;

/// Errors that stop a package from being opened at all. Problems *inside* a package that
/// opened are [`Finding`]s in its [`Report`].
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{} is not a firmware package: {why}", path.display())]
    NotAPackage { path: PathBuf, why: String },
    #[error("{} is not a usable zip: {why}", path.display())]
    BadZip { path: PathBuf, why: String },
    #[error("{}: entry {entry:?} would be written outside the package (zip-slip: absolute path or '..'); refusing the whole archive", path.display())]
    UnsafeZipPath { path: PathBuf, entry: String },
    #[error("{}: {entry:?} declares {declared} bytes uncompressed, over the {limit}-byte limit; the archive is corrupt or hostile", path.display())]
    ZipTooLarge { path: PathBuf, entry: String, declared: u64, limit: u64 },
    #[error("{} holds more than {max} files", path.display())]
    TooManyFiles { path: PathBuf, max: usize },
}

/// What kind of package this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageKind {
    LegacyMdm9615,
    Firehose9x07,
    FastbootImages,
    Unknown,
}

impl PackageKind {
    /// One-line description for people.
    pub fn describe(self) -> &'static str {
        match self {
            PackageKind::LegacyMdm9615 => {
                "legacy MDM9615 package, updated through DMSS, streaming DLOAD and fastboot"
            }
            PackageKind::Firehose9x07 => {
                "MDM9x07 Firehose package, updated through EDL (Sahara) and Firehose"
            }
            PackageKind::FastbootImages => "plain fastboot image set, flashed partition by partition",
            PackageKind::Unknown => "not a recognised firmware package",
        }
    }

    /// The chipset a kind implies.
    pub fn chipset(self) -> Chipset {
        match self {
            PackageKind::LegacyMdm9615 => Chipset::Mdm9615,
            PackageKind::Firehose9x07 => Chipset::Mdm9x07,
            PackageKind::FastbootImages | PackageKind::Unknown => Chipset::Unknown,
        }
    }
}

/// An opened, validated package.
#[derive(Debug)]
pub struct Package {
    pub source: Source,
    pub report: Report,
    pub legacy: Option<LegacyLayout>,
    pub firehose: Option<FirehoseLayout>,
    /// Identifies the package for the journal, computed once when it opens (see
    /// [`fingerprint`]); plans copy it and read no file.
    pub fingerprint: String,
}

impl Package {
    /// True when no error-level finding was made.
    pub fn is_valid(&self) -> bool {
        self.report.is_valid()
    }

    /// The chipset the package is for, from its kind and contents (never from a folder or
    /// zip name): `.hex` DMSS programmers and 9615 images → MDM9615, a Firehose programmer
    /// with rawprogram XML → MDM9x07, anything else `Unknown`.
    pub fn chipset(&self) -> Chipset {
        self.report.chipset
    }

    /// Absolute path of a package file.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        self.source.path_of(rel)
    }
}

/// Open and validate a package.
pub fn open(path: &Path) -> Result<Package, PackageError> {
    let mut source = Source::open(path)?;
    let files = source.list()?;
    let mut report = Report::new(path, &files);
    for bad in &source.bad_names {
        report.error(
            Some(bad),
            "file name is not valid UTF-8; rename it (modules' tools would not find it either)",
        );
    }
    let mut legacy = None;
    let mut firehose = None;
    if let Some(root) = firehose::detect(&files) {
        report.kind = PackageKind::Firehose9x07;
        firehose = Some(firehose::analyse(&source, &files, &root, &mut report));
    } else if let Some(root) = legacy::detect(&files) {
        report.kind = PackageKind::LegacyMdm9615;
        legacy = Some(legacy::analyse(&source, &files, &root, &mut report));
    } else if report::detect_fastboot_images(&files) {
        report.kind = PackageKind::FastbootImages;
        report::analyse_fastboot_images(&files, &mut report);
    } else {
        report.kind = PackageKind::Unknown;
        let what =
            if files.is_empty() { "the directory is empty" } else { "none of the marker files were found" };
        report.error(
            None,
            &format!(
                "{what}. Looked for: NPRG9x15.hex/ENPRG9x15.hex (legacy MDM9615), \
                 update/firehose/prog_*firehose*.mbn with rawprogram*.xml (Firehose 9x07), \
                 or partition-named images such as boot.img and system.img (fastboot)"
            ),
        );
    }
    report.chipset = report.kind.chipset();
    let root = legacy
        .as_ref()
        .map(|l: &LegacyLayout| l.root.clone())
        .or_else(|| firehose.as_ref().map(|f: &FirehoseLayout| f.root.clone()))
        .unwrap_or_default();
    revision::resolve(&source, &files, &root, report.chipset, &mut report);
    report.finish();
    let fingerprint = fingerprint(&source, &report);
    Ok(Package { source, report, legacy, firehose, fingerprint })
}

/// A fingerprint of a package: SHA-256 over every file's path, size and first MiB. It
/// tells one package from another for the journal without reading gigabytes.
fn fingerprint(source: &Source, report: &Report) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(1 << 20);
    for f in &report.files {
        h.update(f.path.as_bytes());
        h.update(f.size.to_le_bytes());
        if let Ok(file) = source.open_file(&f.path) {
            buf.clear();
            let _ = file.take(1 << 20).read_to_end(&mut buf);
            h.update(&buf);
        }
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}
