//! MDM9x07 Firehose (QFirehose-style) packages (`docs/facts/packages.md`, `docs/facts/firehose.md`–5.5, `docs/facts/firehose.md`).
//!
//! Layout: `<root>/update/firehose/` holds the programmer, `rawprogram*.xml` and
//! `patch*.xml`; `filename` attributes are relative to that directory and use
//! backslashes and `..\` [confirmed]. `md5.txt` at the root is verified when present.

use serde::Serialize;

use super::firehose_lines::{EraseLine, PatchLine, ProgramEntry, attr};
use super::md5;
use super::report::{FileDetails, Phase, Report, Role, Use};
use super::source::{Source, SourceFile};
use super::{elf, headers};

/// Largest XML file read (real ones are a few KiB).
const MAX_XML: u64 = 4 << 20;

/// Programmer name patterns in QFirehose's search order [confirmed]: (prefix, suffix).
const PROGRAMMER_PATTERNS: &[(&str, &str)] = &[
    ("prog_nand_firehose_", ".mbn"),
    ("prog_emmc_firehose_", ".mbn"),
    ("prog_firehose_", ".mbn"),
    ("prog_firehose_", ".elf"),
    ("firehose-prog", ".mbn"),
    ("prog_", ".mbn"),
];

/// One operation from the XML files, in file order, typed when the package opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum XmlOp {
    Program(ProgramEntry),
    Erase(EraseLine),
    /// A `vendor="quectel"` line, sent verbatim.
    Vendor {
        element: String,
        attrs: Vec<(String, String)>,
    },
    Patch(PatchLine),
}

/// Where each piece of a Firehose package is, for the planner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FirehoseLayout {
    pub root: String,
    pub firehose_dir: String,
    pub programmer: Option<String>,
    pub rawprogram: Vec<String>,
    pub patch: Vec<String>,
    pub ops: Vec<XmlOp>,
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The package root (parent of `update/firehose`), if this is a Firehose package.
pub(super) fn detect(files: &[SourceFile]) -> Option<String> {
    files
        .iter()
        .filter_map(|f| {
            let lower = f.path.to_ascii_lowercase();
            let idx = lower.find("update/firehose/")?;
            let name = base(&lower);
            (name.starts_with("prog_") || name.starts_with("rawprogram") || name.starts_with("firehose-prog"))
                .then(|| f.path.get(..idx).unwrap_or("").trim_end_matches('/').to_owned())
        })
        .min_by_key(String::len)
}

fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() { rel.to_owned() } else { format!("{dir}/{rel}") }
}

/// Resolve a Windows-style relative `filename` against `dir`; `None` if it climbs out of
/// the package.
fn resolve(dir: &str, filename: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let unified = filename.replace('\\', "/");
    if unified.starts_with('/') || unified.get(1..2) == Some(":") {
        return None;
    }
    for seg in unified.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

fn attrs_of(node: roxmltree::Node<'_, '_>) -> Vec<(String, String)> {
    node.attributes().map(|a| (a.name().to_owned(), a.value().to_owned())).collect()
}

fn read_text(source: &Source, path: &str) -> Result<String, String> {
    use std::io::Read;
    let mut s = String::new();
    source
        .open_file(path)
        .and_then(|f| f.take(MAX_XML).read_to_string(&mut s))
        .map_err(|e| format!("cannot read as UTF-8 text: {e}"))?;
    Ok(s)
}

pub(super) fn analyse(
    source: &Source,
    files: &[SourceFile],
    root: &str,
    report: &mut Report,
) -> FirehoseLayout {
    let fh_dir = join(root, "update/firehose");
    let mut layout =
        FirehoseLayout { root: root.to_owned(), firehose_dir: fh_dir.clone(), ..Default::default() };
    let in_fh =
        |f: &&SourceFile| f.path.rsplit_once('/').is_some_and(|(d, _)| d.eq_ignore_ascii_case(&fh_dir));
    // Programmer, in QFirehose's order.
    let programmer = PROGRAMMER_PATTERNS.iter().find_map(|(pre, suf)| {
        files.iter().filter(in_fh).find(|f| {
            let n = base(&f.path).to_ascii_lowercase();
            n.starts_with(pre) && n.ends_with(suf)
        })
    });
    match programmer {
        Some(p) => {
            report.set_role(
                &p.path,
                Role::FirehoseProgrammer,
                vec![Use { phase: Phase::Sahara, target: "Firehose programmer (image 13)".into() }],
            );
            check_programmer(source, p, report);
            layout.programmer = Some(p.path.clone());
        }
        None => report.error(None, &format!("no Firehose programmer (prog_*firehose*.mbn) in {fh_dir}/")),
    }
    // XML files.
    let mut xmls: Vec<&SourceFile> =
        files.iter().filter(in_fh).filter(|f| base(&f.path).to_ascii_lowercase().ends_with(".xml")).collect();
    xmls.sort_by(|a, b| a.path.cmp(&b.path));
    for x in xmls {
        let name = base(&x.path).to_ascii_lowercase();
        let is_raw = name.starts_with("rawprogram") || name.starts_with("firehose-rawprogram");
        let is_patch = name.starts_with("patch");
        if !is_raw && !is_patch {
            report.set_role(
                &x.path,
                Role::Unused { reason: "XML not used by the Firehose flow".into() },
                vec![],
            );
            continue;
        }
        report.set_role(
            &x.path,
            Role::FirehoseXml,
            vec![Use {
                phase: Phase::Host,
                target: if is_raw { "program/erase list" } else { "patch list" }.into(),
            }],
        );
        let text = match read_text(source, &x.path) {
            Ok(t) => t,
            Err(e) => {
                report.error(Some(&x.path), &e);
                continue;
            }
        };
        let doc = match roxmltree::Document::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                report.error(Some(&x.path), &format!("malformed XML: {e}"));
                continue;
            }
        };
        let mut count = 0;
        for node in doc.root_element().children().filter(roxmltree::Node::is_element) {
            count += 1;
            let attrs = attrs_of(node);
            let tag = node.tag_name().name();
            if attr(&attrs, "vendor").is_some_and(|v| v.eq_ignore_ascii_case("quectel")) {
                layout.ops.push(XmlOp::Vendor { element: tag.to_owned(), attrs });
                continue;
            }
            match tag {
                "program" => {
                    if let Some(p) = check_program(files, &fh_dir, &x.path, &attrs, report) {
                        layout.ops.push(XmlOp::Program(p));
                    }
                }
                "erase" => {
                    if attr(&attrs, "SECTOR_SIZE_IN_BYTES").is_none() {
                        report.note(
                            Some(&x.path),
                            "an <erase> without SECTOR_SIZE_IN_BYTES is skipped (as QFirehose does)",
                        );
                    } else {
                        match EraseLine::parse(&attrs) {
                            Ok(line) => layout.ops.push(XmlOp::Erase(line)),
                            Err(e) => report.error(Some(&x.path), &e),
                        }
                    }
                }
                "patch" => {
                    let file = attr(&attrs, "filename").unwrap_or("");
                    if file.eq_ignore_ascii_case("DISK") {
                        match PatchLine::parse(&attrs) {
                            Ok(line) => layout.ops.push(XmlOp::Patch(line)),
                            Err(e) => report.error(Some(&x.path), &e),
                        }
                    }
                    // Patches against host files are applied by the tool that built the
                    // package; the device only sees DISK patches (`docs/facts/firehose.md`).
                }
                other => report.warning(Some(&x.path), &format!("unknown element <{other}> ignored")),
            }
        }
        report.check_passed(&x.path, &format!("well-formed XML, {count} elements"));
        report.set_details(&x.path, FileDetails::Xml { elements: count });
        if is_raw { layout.rawprogram.push(x.path.clone()) } else { layout.patch.push(x.path.clone()) }
    }
    if layout.rawprogram.is_empty() {
        report.error(None, &format!("no rawprogram*.xml in {fh_dir}/: nothing says what to write where"));
    }
    check_contents(source, files, root, report);
    check_md5(source, files, root, report);
    // Files nobody referenced.
    let used: Vec<String> = layout
        .ops
        .iter()
        .filter_map(|op| if let XmlOp::Program(p) = op { Some(p.file.clone()) } else { None })
        .collect();
    for f in files {
        let Some(fr) = report.file_mut(&f.path) else { continue };
        if matches!(fr.role, Role::Unused { .. }) && fr.uses.is_empty() {
            if used.contains(&f.path) {
                continue;
            }
            let n = base(&f.path).to_ascii_lowercase();
            let why = if n.starts_with("nprg9x07") || n.starts_with("enprg9x07") {
                "streaming programmer for the non-EDL recovery path; not used by Firehose"
            } else if n.starts_with("partition")
                && std::path::Path::new(&n).extension().is_some_and(|e| e.eq_ignore_ascii_case("mbn"))
                && !f.path.to_ascii_lowercase().contains("firehose/")
            {
                "partition table for the streaming path; not used by Firehose"
            } else {
                "not referenced by rawprogram/patch XML"
            };
            fr.role = Role::Unused { reason: why.into() };
        }
    }
    layout
}

fn check_programmer(source: &Source, f: &SourceFile, report: &mut Report) {
    use std::io::{Read, Seek, SeekFrom};
    let mut head = Vec::new();
    if let Err(e) = source.open_file(&f.path).and_then(|r| r.take(80).read_to_end(&mut head)) {
        return report.error(Some(&f.path), &format!("cannot read: {e}"));
    }
    if let Some(mut elf) = headers::parse_elf(&head) {
        // The program headers, as the boot ROM follows them over Sahara.
        let mut read_at = |at: u64, len: usize| -> std::io::Result<Vec<u8>> {
            let mut r = source.open_file(&f.path)?;
            r.seek(SeekFrom::Start(at))?;
            let mut buf = Vec::with_capacity(len);
            r.take(len as u64).read_to_end(&mut buf)?;
            Ok(buf)
        };
        match elf::check(&head, f.size, &mut read_at) {
            Ok(prog) => {
                let loads = prog.segments.iter().filter(|p| p.p_type == elf::PT_LOAD && p.filesz > 0).count();
                report.check_passed(
                    &f.path,
                    &format!(
                        "ELF32 program headers: {} entries, a hash segment and {loads} PT_LOAD, {} bytes loaded, all inside the file",
                        prog.segments.len(),
                        prog.load_bytes
                    ),
                );
                elf.segments = prog.segments;
            }
            Err(e) => report.error(
                Some(&f.path),
                &format!(
                    "the boot ROM would refuse this programmer: {e}; the file is corrupt or not a 9x07 Firehose programmer"
                ),
            ),
        }
        if elf.machine == 40 || elf.machine == 183 {
            report.check_passed(
                &f.path,
                &format!("ELF{} programmer for ARM, entry {:#x}", elf.class_bits, elf.entry),
            );
        } else {
            report.warning(
                Some(&f.path),
                &format!("ELF programmer for machine {} (ARM expected)", elf.machine),
            );
        }
        report.set_details(&f.path, FileDetails::Elf(elf));
    } else if let Some(h) = headers::parse_mbn(&head) {
        match h.check_size(f.size) {
            Ok(()) => report.check_passed(&f.path, "MBN programmer header matches the file size"),
            Err(e) => report.error(Some(&f.path), &format!("programmer MBN header: {e}")),
        }
        report.set_details(&f.path, FileDetails::Mbn(h));
    } else {
        report.error(
            Some(&f.path),
            "programmer has neither an ELF nor an MBN header: corrupt or not a programmer",
        );
    }
}

fn check_program(
    files: &[SourceFile],
    fh_dir: &str,
    xml: &str,
    attrs: &[(String, String)],
    report: &mut Report,
) -> Option<ProgramEntry> {
    let filename = attr(attrs, "filename").unwrap_or("").trim().to_owned();
    let label = attr(attrs, "label").unwrap_or("?").to_owned();
    if filename.is_empty() {
        return None; // empty filename means "skip" (`docs/facts/firehose.md`)
    }
    let Some(rel) = resolve(fh_dir, &filename) else {
        report.error(
            Some(xml),
            &format!("<program label={label:?}> filename {filename:?} points outside the package"),
        );
        return None;
    };
    let Some(file) = files.iter().find(|f| f.path.eq_ignore_ascii_case(&rel)) else {
        report.error(
            Some(xml),
            &format!("<program label={label:?}> names {filename:?}, but {rel} is not in the package"),
        );
        return None;
    };
    let sector: u32 = match attr(attrs, "SECTOR_SIZE_IN_BYTES").and_then(|s| s.trim().parse().ok()) {
        Some(s) if s > 0 => s,
        _ => {
            report.error(Some(xml), &format!("<program label={label:?}> has no valid SECTOR_SIZE_IN_BYTES"));
            return None;
        }
    };
    let entry = match ProgramEntry::parse(attrs, file.path.clone(), file.size, sector) {
        Ok(e) => e,
        Err(e) => {
            report.error(Some(xml), &format!("<program label={label:?}>: {e}"));
            return None;
        }
    };
    let declared: Option<u64> = attr(attrs, "num_partition_sectors").and_then(|s| s.trim().parse().ok());
    let needed = entry.num_partition_sectors;
    let sparse = entry.sparse;
    match declared {
        Some(n) if n < needed && !sparse => report.warning(
            Some(xml),
            &format!("<program label={label:?}>: {} needs {needed} sectors of {sector} bytes but num_partition_sectors is {n}; it is recomputed from the file size (as QFirehose does)", file.path),
        ),
        Some(_) => {}
        None => report.note(Some(xml), &format!("<program label={label:?}>: no num_partition_sectors; computed as {needed}")),
    }
    let start = &entry.start_sector;
    if let (Some(s), Some(last)) =
        (start.number(), attr(attrs, "last_sector").and_then(|s| s.trim().parse::<u64>().ok()))
        && let Some(n) = declared
        && n > 0
        && s.checked_add(n - 1) != Some(last)
    {
        report.error(Some(xml), &format!("<program label={label:?}>: start_sector {s} + num_partition_sectors {n} - 1 != last_sector {last}"));
    }
    if start.number().is_none() {
        report.note(
            Some(xml),
            &format!(
                "<program label={label:?}>: start_sector {:?} is an expression; the programmer evaluates it",
                start.to_string()
            ),
        );
    }
    let target = format!("{label} @ sector {start}");
    report.set_role(&file.path, Role::FirehoseImage, vec![Use { phase: Phase::Firehose, target }]);
    report.check_passed(&file.path, &format!("{needed} sectors of {sector} bytes"));
    Some(entry)
}

fn check_contents(source: &Source, files: &[SourceFile], root: &str, report: &mut Report) {
    let path = join(root, "contents.xml");
    let Some(f) = files.iter().find(|f| f.path.eq_ignore_ascii_case(&path)) else { return };
    report.set_role(
        &f.path,
        Role::ContentsXml,
        vec![Use { phase: Phase::Host, target: "build description".into() }],
    );
    match read_text(source, &f.path).and_then(|t| {
        roxmltree::Document::parse(&t)
            .map(|d| d.descendants().count())
            .map_err(|e| format!("malformed XML: {e}"))
    }) {
        Ok(n) => {
            report.check_passed(&f.path, "well-formed XML");
            report.set_details(&f.path, FileDetails::Xml { elements: n });
        }
        Err(e) => report.warning(Some(&f.path), &e),
    }
}

fn check_md5(source: &Source, files: &[SourceFile], root: &str, report: &mut Report) {
    let path = join(root, "md5.txt");
    let Some(f) = files.iter().find(|f| f.path.eq_ignore_ascii_case(&path)) else {
        report.note(None, "no md5.txt: file integrity is checked by structure only (QFirehose also continues for directories)");
        return;
    };
    report.set_role(
        &f.path,
        Role::Md5List,
        vec![Use { phase: Phase::Host, target: "integrity check".into() }],
    );
    let text = match read_text(source, &f.path) {
        Ok(t) => t,
        Err(e) => return report.error(Some(&f.path), &e),
    };
    let (entries, skipped) = md5::parse(&text);
    for s in skipped {
        if s.why.starts_with("targetfiles") {
            continue;
        }
        report.warning(Some(&f.path), &format!("line {}: {}", s.line, s.why));
    }
    // The package's own folder names, which lines written on the build machine may start
    // with (`E:\EC25EFAR06A11M4G\update\…`).
    let given = source.given.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let inner = root.rsplit('/').next().unwrap_or(root).to_owned();
    let folders = [given.as_str(), inner.as_str()];
    let mut resolved: Vec<(&md5::Md5Entry, &SourceFile)> = Vec::new();
    for e in &entries {
        let target = md5::candidates(&e.path, &folders).iter().find_map(|cand| {
            let rel = join(root, cand);
            files.iter().find(|x| x.path.eq_ignore_ascii_case(&rel))
        });
        match target {
            Some(t) => resolved.push((e, t)),
            None => report.warning(
                Some(&f.path),
                &format!("line {}: {} is listed but not in the package", e.line, e.path),
            ),
        }
    }
    if resolved.is_empty()
        && let Some(first) = entries.first()
    {
        report.error(
            Some(&f.path),
            &format!(
                "none of the {} listed files is in the package (line {} names {}, looked for {}); \
                 the md5 list belongs to another package layout, so nothing could be verified",
                entries.len(),
                first.line,
                first.path,
                join(root, &first.path)
            ),
        );
        return;
    }
    let jobs: Vec<(std::path::PathBuf, u64)> =
        resolved.iter().map(|(_, t)| (source.path_of(&t.path), t.size)).collect();
    let digests = md5::digest_all(&jobs);
    let mut ok = 0;
    for ((e, target), d) in resolved.iter().zip(digests) {
        match d {
            Ok(d) if d.eq_ignore_ascii_case(&e.md5) => {
                ok += 1;
                report.check_passed(&target.path, "md5 matches md5.txt");
            }
            Ok(d) => report.error(Some(&target.path), &format!("md5 mismatch: md5.txt line {} says {}, the file hashes to {d}; the file is corrupt or was changed", e.line, e.md5)),
            Err(err) => report.error(Some(&target.path), &format!("cannot read for md5: {err}")),
        }
    }
    report.check_passed(&f.path, &format!("{ok} of {} listed files verified", entries.len()));
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn resolve_windows_relative_names() {
        assert_eq!(resolve("update/firehose", "..\\sbl1.mbn").as_deref(), Some("update/sbl1.mbn"));
        assert_eq!(resolve("update/firehose", "boot.img").as_deref(), Some("update/firehose/boot.img"));
        assert_eq!(resolve("update/firehose", "..\\..\\..\\etc\\passwd"), None);
        assert_eq!(resolve("update/firehose", "C:\\x"), None);
        assert_eq!(resolve("update/firehose", "/abs"), None);
    }
}
