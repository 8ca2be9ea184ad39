//! The inspection report: every file with its role and checks, and every finding.
//! This is what `modemflash inspect --json` prints (schema: `docs/inspect-json.md`).

use std::path::Path;

use serde::Serialize;

use super::PackageKind;
use super::headers::{BootImage, ElfInfo, MbnHeader, Yaffs2Info};
use super::ptable::PartitionTable;
use super::source::SourceFile;
use crate::catalog::{Chipset, Revision, USB_IDS};

/// Which protocol phase uses a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// DMSS download of the RAM programmer (9615).
    Dmss,
    /// Streaming DLOAD (programmer running).
    Streaming,
    /// Fastboot.
    Fastboot,
    /// Sahara upload of the Firehose programmer (9x07).
    Sahara,
    /// Firehose programming.
    Firehose,
    /// Host-side check only (md5.txt, XML that drives Firehose).
    Host,
    /// NV (QQB) restore through DIAG.
    Nv,
}

/// One use of a file: a phase and its target (partition or purpose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Use {
    pub phase: Phase,
    pub target: String,
}

/// What a file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum Role {
    Programmer { emergency: bool },
    PartitionTable,
    BootLoader,
    DspImage,
    AndroidBoot,
    FileSystem,
    TemporaryLoader,
    NvBackup,
    FirehoseProgrammer,
    FirehoseXml,
    FirehoseImage,
    ContentsXml,
    Md5List,
    FastbootImage,
    Unused { reason: String },
}

/// Parsed details of a file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "format", rename_all = "kebab-case")]
pub enum FileDetails {
    IntelHex {
        load_start: u32,
        load_end: u64,
        entry: Option<u32>,
        start_linear: Option<u32>,
        contiguous: bool,
        segments: usize,
        data_bytes: usize,
    },
    PartitionTable(PartitionTable),
    Mbn(MbnHeader),
    Elf(ElfInfo),
    AndroidBoot(BootImage),
    Yaffs2(Yaffs2Info),
    Xml {
        elements: usize,
    },
}

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub path: String,
    pub size: u64,
    #[serde(flatten)]
    pub role: Role,
    pub uses: Vec<Use>,
    /// Checks that passed, in words ("MBN header sizes match the file").
    pub checks: Vec<String>,
    pub details: Option<FileDetails>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The package must not be flashed.
    Error,
    /// Worth knowing; flashing may proceed.
    Warning,
    /// Information (e.g. "no md5.txt, which is normal for this kind").
    Note,
}

/// A problem or note, naming its file where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub file: Option<String>,
    pub message: String,
}

/// The whole inspection result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub path: String,
    pub kind: PackageKind,
    pub description: &'static str,
    pub chipset: Chipset,
    /// The firmware revision the package carries, when its contents or name tell.
    pub revision: Option<Revision>,
    /// Where `revision` was read.
    pub revision_source: Option<RevisionSource>,
    /// Every revision the package tells, in order of trust (contents.xml, modem image, zip
    /// name, folder name); `used` is false for one whose chipset contradicts the contents.
    pub revision_evidence: Vec<RevisionEvidence>,
    /// Module families and USB ids the package is meant for.
    pub fits: Vec<String>,
    pub files: Vec<FileReport>,
    pub findings: Vec<Finding>,
    pub valid: bool,
}

impl Report {
    pub(super) fn new(path: &Path, files: &[SourceFile]) -> Self {
        Report {
            path: path.display().to_string(),
            kind: PackageKind::Unknown,
            description: PackageKind::Unknown.describe(),
            chipset: Chipset::Unknown,
            revision: None,
            revision_source: None,
            revision_evidence: Vec::new(),
            fits: Vec::new(),
            files: files
                .iter()
                .map(|f| FileReport {
                    path: f.path.clone(),
                    size: f.size,
                    role: Role::Unused { reason: "not examined".into() },
                    uses: Vec::new(),
                    checks: Vec::new(),
                    details: None,
                })
                .collect(),
            findings: Vec::new(),
            valid: false,
        }
    }

    fn push(&mut self, severity: Severity, file: Option<&str>, message: &str) {
        self.findings.push(Finding { severity, file: file.map(str::to_owned), message: message.to_owned() });
    }
    pub(super) fn error(&mut self, file: Option<&str>, message: &str) {
        self.push(Severity::Error, file, message);
    }
    pub(super) fn warning(&mut self, file: Option<&str>, message: &str) {
        self.push(Severity::Warning, file, message);
    }
    pub(super) fn note(&mut self, file: Option<&str>, message: &str) {
        self.push(Severity::Note, file, message);
    }

    /// The report entry for `path`.
    pub(super) fn file_mut(&mut self, path: &str) -> Option<&mut FileReport> {
        self.files.iter_mut().find(|f| f.path == path)
    }

    pub(super) fn set_role(&mut self, path: &str, role: Role, uses: Vec<Use>) {
        if let Some(f) = self.file_mut(path) {
            f.role = role;
            f.uses = uses;
        }
    }

    pub(super) fn check_passed(&mut self, path: &str, what: &str) {
        if let Some(f) = self.file_mut(path) {
            f.checks.push(what.to_owned());
        }
    }

    pub(super) fn set_details(&mut self, path: &str, details: FileDetails) {
        if let Some(f) = self.file_mut(path) {
            f.details = Some(details);
        }
    }

    /// Errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    /// True when nothing error-level was found.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    pub(super) fn finish(&mut self) {
        self.description = self.kind.describe();
        self.fits = fits(self.kind, self.revision.as_ref());
        self.valid = self.kind != PackageKind::Unknown && self.errors().next().is_none();
    }
}

/// Which modules a package fits, in words, from the catalogue.
fn fits(kind: PackageKind, revision: Option<&Revision>) -> Vec<String> {
    let chipset = kind.chipset();
    let mut out: Vec<String> = USB_IDS
        .iter()
        .filter(|r| {
            r.chipset == chipset && r.chipset != Chipset::Unknown && r.mode == crate::catalog::Mode::Normal
        })
        .filter(|r| match revision.and_then(|rev| rev.model.as_deref()) {
            Some(model) => r.family.contains(model),
            None => true,
        })
        .map(|r| format!("{} ({:04x}:{:04x})", r.family, r.vid, r.pid))
        .collect();
    if let Some(rev) = revision {
        let line = rev.release_line().unwrap_or_else(|| "?".into());
        out.push(format!(
            "modules already on the {}{} {line} line (a package moves only within its release line)",
            rev.model.as_deref().unwrap_or("?"),
            rev.variant.as_deref().unwrap_or(""),
        ));
    }
    out
}

/// Partition names that mark a plain fastboot image set.
const FASTBOOT_NAMES: &[&str] = &[
    "boot",
    "system",
    "recovery",
    "recoveryfs",
    "aboot",
    "modem",
    "userdata",
    "sbl2",
    "dsp1",
    "dsp2",
    "dsp3",
    "rpm",
    "tz",
];

fn fastboot_partition(path: &str) -> Option<&'static str> {
    if path.contains('/') {
        return None;
    }
    let stem = path.rsplit_once('.').map_or(path, |(s, _)| s);
    FASTBOOT_NAMES.iter().find(|n| n.eq_ignore_ascii_case(stem)).copied()
}

pub(super) fn detect_fastboot_images(files: &[SourceFile]) -> bool {
    files.iter().filter(|f| fastboot_partition(&f.path).is_some()).count() >= 2
}

pub(super) fn analyse_fastboot_images(files: &[SourceFile], report: &mut Report) {
    for f in files {
        match fastboot_partition(&f.path) {
            Some(part) => {
                report.set_role(
                    &f.path,
                    Role::FastbootImage,
                    vec![Use { phase: Phase::Fastboot, target: part.into() }],
                );
                if f.size == 0 {
                    report.error(Some(&f.path), "image is empty");
                }
            }
            None => report.set_role(
                &f.path,
                Role::Unused { reason: "not named after a partition".into() },
                vec![],
            ),
        }
    }
    report.note(
        None,
        "no chipset-specific files: the image set can only be flashed to a module already in fastboot",
    );
}

/// Where a revision was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevisionSource {
    ContentsXml,
    ModemImage,
    ZipName,
    FolderName,
}

impl RevisionSource {
    pub fn describe(self) -> &'static str {
        match self {
            RevisionSource::ContentsXml => "contents.xml",
            RevisionSource::ModemImage => "the modem image",
            RevisionSource::ZipName => "the zip's name",
            RevisionSource::FolderName => "the folder name",
        }
    }
}

/// One place a revision was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionEvidence {
    pub source: RevisionSource,
    /// The file or name it was read from.
    pub from: String,
    pub revision: Revision,
    /// False when its chipset contradicts the package's contents (then it is ignored).
    pub used: bool,
}
