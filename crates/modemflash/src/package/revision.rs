//! The package's own revision, from what it holds (issue 10): `contents.xml`, the version
//! string inside the modem image, the zip's name, and the folder name last. The field user
//! unpacked his firmware into folders named `fw` and `fffff` (docs/facts/field-evidence.md),
//! so a name alone cannot be relied on.
//!
//! Which image carries the string is inferred [I]: Quectel's `ATI`/`AT+QGMR` revision is
//! compiled into the modem firmware, which is `dsp2.mbn` on the MDM9615 and `NON-HLOS.ubi`
//! on the MDM9x07. The scan is streamed through a fixed buffer and bounded
//! ([`SCAN_LIMIT`]), and the same scanner ([`RevisionScanner`]) is what a virtual module
//! uses on what was written, so both sides read a revision the same way.

use std::io::Read;

use super::report::Report;
use super::source::{Source, SourceFile};
use crate::catalog::{Chipset, Revision, RevisionScanner};

/// Most bytes of a modem image scanned for its revision [I]: the field package's
/// `dsp2.mbn` is 35.5 MB; 9x07 `NON-HLOS.ubi` images are of the same order.
pub const SCAN_LIMIT: u64 = 96 << 20;
/// Read buffer of the scan.
const SCAN_BUFFER: usize = 64 * 1024;
/// Largest `contents.xml` read.
const MAX_CONTENTS: u64 = 4 << 20;

/// The modem image of each chipset: (chipset, file name prefix, lower case; partition it is
/// written to) [I].
pub const MODEM_IMAGES: &[(Chipset, &str, &str)] =
    &[(Chipset::Mdm9615, "dsp2", "dsp2"), (Chipset::Mdm9x07, "non-hlos", "modem")];

/// Partitions whose contents carry the firmware revision (for a module reading back what
/// was written): `dsp2`, `modem`.
pub fn carries_revision(partition: &str) -> bool {
    let p = partition.strip_prefix("0:").unwrap_or(partition);
    MODEM_IMAGES.iter().any(|(_, _, part)| p.eq_ignore_ascii_case(part))
}

/// The partition holding the modem image of `chipset`.
pub fn modem_partition(chipset: Chipset) -> Option<&'static str> {
    MODEM_IMAGES.iter().find(|(c, _, _)| *c == chipset).map(|(_, _, p)| *p)
}

pub use super::report::{RevisionEvidence, RevisionSource};

/// Scan a stream for the first revision string, reading at most `limit` bytes through a
/// fixed buffer.
pub fn scan(reader: impl Read, limit: u64) -> std::io::Result<Option<Revision>> {
    let mut reader = reader.take(limit);
    let mut buf = vec![0u8; SCAN_BUFFER];
    let mut scanner = RevisionScanner::new();
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        scanner.feed(buf.get(..n).unwrap_or_default());
        if scanner.found().is_some() {
            break;
        }
    }
    Ok(scanner.finish())
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn key(r: &Revision) -> String {
    r.raw.split('_').next().unwrap_or(&r.raw).to_ascii_uppercase()
}

/// Collect every revision the package tells, choose one, and report where it came from.
/// `root` is the package-relative directory of the package proper.
pub(super) fn resolve(
    source: &Source,
    files: &[SourceFile],
    root: &str,
    chipset: Chipset,
    report: &mut Report,
) {
    let mut found: Vec<(RevisionSource, String, Revision)> = Vec::new();
    let in_root = |f: &&SourceFile| root.is_empty() || f.path.starts_with(&format!("{root}/"));
    let contents = files.iter().filter(in_root).find(|f| base(&f.path).eq_ignore_ascii_case("contents.xml"));
    if let Some(f) = contents {
        let mut text = String::new();
        if source.open_file(&f.path).and_then(|r| r.take(MAX_CONTENTS).read_to_string(&mut text)).is_ok()
            && let Some(r) = Revision::find_in(&text)
        {
            found.push((RevisionSource::ContentsXml, f.path.clone(), r));
        }
    }
    let modem = MODEM_IMAGES
        .iter()
        .filter(|(c, _, _)| *c == chipset || chipset == Chipset::Unknown)
        .find_map(|(_, prefix, _)| {
            files.iter().filter(in_root).find(|f| base(&f.path).to_ascii_lowercase().starts_with(prefix))
        });
    if let Some(f) = modem {
        match source.open_file(&f.path).and_then(|r| scan(r, SCAN_LIMIT)) {
            Ok(Some(r)) => found.push((RevisionSource::ModemImage, f.path.clone(), r)),
            Ok(None) => report.note(
                Some(&f.path),
                &format!(
                    "no revision string found in the first {} MiB of the modem image",
                    SCAN_LIMIT.min(f.size) >> 20
                ),
            ),
            Err(e) => report.warning(Some(&f.path), &format!("cannot read for the revision: {e}")),
        }
    }
    let given = &source.given;
    let given_name = given.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let is_zip = source.given != source.dir;
    let mut names = Vec::new();
    if is_zip {
        names.push((RevisionSource::ZipName, given_name.clone()));
        if !root.is_empty() {
            names.push((RevisionSource::FolderName, root.to_owned()));
        }
    } else {
        let folder = if root.is_empty() { given_name } else { format!("{given_name}/{root}") };
        names.push((RevisionSource::FolderName, folder));
    }
    for (src, name) in names {
        if let Some(r) = Revision::find_in(&name) {
            found.push((src, name, r));
        }
    }
    let mut evidence = Vec::new();
    for (src, from, rev) in found {
        let chip = rev.chipset();
        let used = chip == Chipset::Unknown || chipset == Chipset::Unknown || chip == chipset;
        if !used {
            report.warning(
                None,
                &format!(
                    "{} ({from}) names {}, an {} revision, but the package's contents are for the {}; \
                     ignored (a name never decides the chipset)",
                    src.describe(),
                    rev.raw,
                    chip.name(),
                    chipset.name()
                ),
            );
        }
        evidence.push(RevisionEvidence { source: src, from, revision: rev, used });
    }
    let chosen = evidence.iter().find(|e| e.used).cloned();
    if let Some(c) = &chosen {
        for e in evidence.iter().filter(|e| e.used && key(&e.revision) != key(&c.revision)) {
            report.warning(
                None,
                &format!(
                    "{} ({}) says {}, but {} ({}) says {}; {} is used",
                    e.source.describe(),
                    e.from,
                    e.revision.raw,
                    c.source.describe(),
                    c.from,
                    c.revision.raw,
                    c.revision.raw
                ),
            );
        }
    }
    report.revision_source = chosen.as_ref().map(|c| c.source);
    report.revision = chosen.map(|c| c.revision);
    report.revision_evidence = evidence;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_is_bounded() {
        let mut data = vec![0u8; 300_000];
        data.extend_from_slice(b" EC20AQAR02A04E2G ");
        assert_eq!(scan(&data[..], 1 << 20).unwrap().unwrap().raw, "EC20AQAR02A04E2G");
        assert!(scan(&data[..], 200_000).unwrap().is_none());
        assert!(carries_revision("0:DSP2") && carries_revision("modem") && !carries_revision("boot"));
        assert_eq!(modem_partition(Chipset::Mdm9x07), Some("modem"));
    }
}
