//! Legacy MDM9615 (EC20 R1, QFlash-style) packages (`docs/facts/packages.md`–2.10).
//!
//! The file → role table is data (`RULES`), matched on the file name like QFlash's
//! `image_read` [confirmed], so a corrected fact is a one-line change.

use std::io::Read;

use serde::Serialize;

use super::headers::{self, image_id_name};
use super::report::{FileDetails, Phase, Report, Role, Use};
use super::source::{Source, SourceFile};
use super::{ihex, ptable};

/// How a rule matches a file name (case-insensitive).
#[derive(Debug, Clone, Copy)]
enum Match {
    Exact(&'static str),
    Prefix(&'static str),
    Contains(&'static str),
    Suffix(&'static str),
}

impl Match {
    fn hits(self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        match self {
            Match::Exact(p) => n == p,
            Match::Prefix(p) => n.starts_with(p),
            Match::Contains(p) => n.contains(p),
            Match::Suffix(p) => n.ends_with(p),
        }
    }
}

/// What a matched file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Programmer { emergency: bool },
    PartitionTable,
    BootLoader,
    Dsp,
    AndroidBoot,
    FileSystem,
    TempLoader,
    Nv,
    Unused(&'static str),
}

/// (match, kind, uses as (phase, target)). First hit wins, so specific names come first.
/// A file rule: how the name matches, what the file is, and its uses.
type Rule = (Match, Kind, &'static [(Phase, &'static str)]);

const RULES: &[Rule] = &[
    (Match::Exact("nprg9x15.hex"), Kind::Programmer { emergency: false }, &[(Phase::Dmss, "RAM programmer")]),
    (
        Match::Exact("enprg9x15.hex"),
        Kind::Programmer { emergency: true },
        &[(Phase::Dmss, "RAM programmer (emergency)")],
    ),
    (Match::Exact("partition.mbn"), Kind::PartitionTable, &[(Phase::Streaming, "partition table")]),
    (
        Match::Exact("partition2.mbn"),
        Kind::PartitionTable,
        &[(Phase::Streaming, "partition table (alternative)")],
    ),
    (Match::Exact("sbl1.mbn"), Kind::BootLoader, &[(Phase::Streaming, "0:SBL1")]),
    // sbl2 goes through fastboot in pass 1 and streaming in pass 2 (docs/facts/dmss.md, docs/facts/dmss.md) [confirmed].
    (Match::Exact("sbl2.mbn"), Kind::BootLoader, &[(Phase::Fastboot, "sbl2"), (Phase::Streaming, "0:SBL2")]),
    (Match::Exact("rpm.mbn"), Kind::BootLoader, &[(Phase::Streaming, "0:RPM")]),
    (Match::Exact("appsboot.mbn"), Kind::BootLoader, &[(Phase::Fastboot, "aboot")]),
    (Match::Exact("sbl2_tmp.mbn"), Kind::TempLoader, &[(Phase::Streaming, "0:SBL2 (temporary)")]),
    (Match::Exact("appsboot_tmp.mbn"), Kind::TempLoader, &[(Phase::Streaming, "0:APPSBL (temporary)")]),
    (Match::Prefix("dsp1"), Kind::Dsp, &[(Phase::Fastboot, "dsp1")]),
    (Match::Prefix("dsp2"), Kind::Dsp, &[(Phase::Fastboot, "dsp2")]),
    (Match::Prefix("dsp3"), Kind::Dsp, &[(Phase::Fastboot, "dsp3")]),
    (Match::Prefix("recovery-boot-oe-msm9615"), Kind::AndroidBoot, &[(Phase::Fastboot, "recovery")]),
    (Match::Prefix("boot-oe-msm9615"), Kind::AndroidBoot, &[(Phase::Fastboot, "boot")]),
    (Match::Contains("recovery-image"), Kind::FileSystem, &[(Phase::Fastboot, "recoveryfs")]),
    (Match::Contains("rootfs.yaffs2"), Kind::FileSystem, &[(Phase::Fastboot, "system")]),
    (Match::Contains("usrfs.yaffs2"), Kind::FileSystem, &[(Phase::Fastboot, "userdata")]),
    (Match::Exact("update.qqb"), Kind::Nv, &[(Phase::Nv, "optional NV restore")]),
    (
        Match::Suffix(".qcn"),
        Kind::Unused("QPST NV backup (calibration); the update flow never writes NV"),
        &[],
    ),
    (
        Match::Prefix("yaffs_head."),
        Kind::Unused(
            "used only by Quectel's Windows factory tool; probably two halves of one file split with split(1) [inferred]",
        ),
        &[],
    ),
    (Match::Suffix(".pdf"), Kind::Unused("documentation"), &[]),
    (Match::Suffix(".txt"), Kind::Unused("documentation"), &[]),
    (Match::Suffix(".doc"), Kind::Unused("documentation"), &[]),
    (Match::Suffix(".docx"), Kind::Unused("documentation"), &[]),
];

/// What every legacy flow writes (`plan/legacy.rs`: the streaming boot chain, then the
/// fastboot images): (is a streaming target, target, the file that provides it, why).
/// Each is required: a flow silently skips a target without a file, which would leave
/// the module with a mix of old and new firmware (or, for `boot`, an invalidated boot
/// partition that nothing rewrites).
const REQUIRED: &[(bool, &str, &str, &str)] = &[
    (true, "0:SBL1", "sbl1.mbn", "streaming 0:SBL1"),
    (true, "0:SBL2", "sbl2.mbn", "streaming 0:SBL2 / fastboot sbl2"),
    (true, "0:RPM", "rpm.mbn", "streaming 0:RPM"),
    (false, "aboot", "appsboot.mbn", "fastboot aboot / streaming 0:APPSBL"),
    (false, "dsp1", "dsp1.mbn", "fastboot dsp1"),
    (false, "dsp2", "dsp2.mbn", "fastboot dsp2 (the modem firmware)"),
    (false, "dsp3", "dsp3.mbn", "fastboot dsp3"),
    (
        false,
        "boot",
        "boot-oe-msm9615.img",
        "fastboot boot; flow A invalidates 0:BOOT to stop in fastboot, so without it the module never boots",
    ),
    (false, "system", "*.rootfs.yaffs2", "fastboot system"),
];

/// Targets a package may leave out, and why that is safe: the flows skip them and the
/// module keeps what it has.
const OPTIONAL: &[(&str, &str, &str)] = &[
    ("userdata", "*.usrfs.yaffs2", "the module keeps its user data partition"),
    ("recovery", "recovery-boot-oe-msm9615.img", "the module keeps its recovery kernel"),
    ("recoveryfs", "*recovery-image*.yaffs2", "the module keeps its recovery file system"),
];

/// Where each piece of a legacy package is, for the planner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LegacyLayout {
    /// Package-relative directory that holds the files ("" for the root).
    pub root: String,
    /// DMSS programmers in pass-1 order (NPRG first, ENPRG as fallback).
    pub programmers: Vec<String>,
    /// Partition tables in the order to try.
    pub partition_tables: Vec<String>,
    /// (streaming partition name, file).
    pub streaming: Vec<(String, String)>,
    /// (fastboot partition name, file).
    pub fastboot: Vec<(String, String)>,
    /// Temporary loaders shipped inside the package, if any.
    pub temp_loaders: Vec<(String, String)>,
    /// GO address of the preferred programmer.
    pub go_address: Option<u32>,
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The directory holding a 9615 programmer, if any.
pub(super) fn detect(files: &[SourceFile]) -> Option<String> {
    files
        .iter()
        .filter(|f| {
            let b = base(&f.path).to_ascii_lowercase();
            b == "nprg9x15.hex" || b == "enprg9x15.hex" || b.starts_with("boot-oe-msm9615")
        })
        .map(|f| dir_of(&f.path).to_owned())
        .min_by_key(|d| d.matches('/').count() + usize::from(!d.is_empty()))
}

/// Read at most `n` bytes from the start of a file.
fn head(source: &Source, path: &str, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    source.open_file(path)?.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

pub(super) fn analyse(
    source: &Source,
    files: &[SourceFile],
    root: &str,
    report: &mut Report,
) -> LegacyLayout {
    let mut layout = LegacyLayout { root: root.to_owned(), ..LegacyLayout::default() };
    let mut nprg = None;
    let mut enprg = None;
    for f in files {
        if dir_of(&f.path) != root {
            report.set_role(&f.path, Role::Unused { reason: "outside the package directory".into() }, vec![]);
            continue;
        }
        let name = base(&f.path);
        let Some((_, kind, uses)) = RULES.iter().find(|(m, _, _)| m.hits(name)) else {
            report.set_role(
                &f.path,
                Role::Unused { reason: "not part of the legacy update flow".into() },
                vec![],
            );
            continue;
        };
        let uses: Vec<Use> =
            uses.iter().map(|(phase, t)| Use { phase: *phase, target: (*t).to_owned() }).collect();
        let role = match kind {
            Kind::Programmer { emergency } => Role::Programmer { emergency: *emergency },
            Kind::PartitionTable => Role::PartitionTable,
            Kind::BootLoader => Role::BootLoader,
            Kind::Dsp => Role::DspImage,
            Kind::AndroidBoot => Role::AndroidBoot,
            Kind::FileSystem => Role::FileSystem,
            Kind::TempLoader => Role::TemporaryLoader,
            Kind::Nv => Role::NvBackup,
            Kind::Unused(why) => Role::Unused { reason: (*why).to_owned() },
        };
        for u in &uses {
            let pair = (u.target.clone(), f.path.clone());
            match (kind, u.phase) {
                (Kind::TempLoader, _) => layout.temp_loaders.push(pair),
                (_, Phase::Streaming) if *kind != Kind::PartitionTable => layout.streaming.push(pair),
                (_, Phase::Fastboot) => layout.fastboot.push(pair),
                _ => {}
            }
        }
        report.set_role(&f.path, role, uses);
        if f.size == 0 && !matches!(kind, Kind::Unused(_)) {
            report.error(Some(&f.path), "file is empty");
            continue;
        }
        match kind {
            Kind::Programmer { emergency } => {
                if let Some(go) = check_hex(source, &f.path, report) {
                    if *emergency {
                        enprg = Some((f.path.clone(), go));
                    } else {
                        nprg = Some((f.path.clone(), go));
                    }
                }
            }
            Kind::PartitionTable => {
                if check_ptable(source, &f.path, report) {
                    layout.partition_tables.push(f.path.clone());
                }
            }
            Kind::BootLoader | Kind::Dsp | Kind::TempLoader => {
                check_mbn(source, f, *kind == Kind::Dsp, report);
            }
            Kind::AndroidBoot => check_boot(source, f, report),
            Kind::FileSystem => check_yaffs(source, f, report),
            Kind::Nv | Kind::Unused(_) => {}
        }
    }
    // Pass-1 programmer order: NPRG, then ENPRG (`docs/facts/dmss.md`) [confirmed].
    for (path, go) in [nprg, enprg].into_iter().flatten() {
        layout.go_address = layout.go_address.or(Some(go));
        layout.programmers.push(path);
    }
    // partition.mbn before partition2.mbn (QFlash 9615); the order is a policy the
    // planner may change, since sources disagree [inferred].
    layout.partition_tables.sort_by_key(|p| !base(p).eq_ignore_ascii_case("partition.mbn"));
    // Fastboot order from `docs/facts/quectel.md` [confirmed].
    const FB_ORDER: &[&str] =
        &["sbl2", "aboot", "dsp1", "dsp2", "dsp3", "system", "userdata", "recoveryfs", "boot", "recovery"];
    layout.fastboot.sort_by_key(|(p, _)| FB_ORDER.iter().position(|o| o == p).unwrap_or(usize::MAX));
    const ST_ORDER: &[&str] = &["0:SBL1", "0:SBL2", "0:RPM", "0:APPSBL"];
    layout.streaming.sort_by_key(|(p, _)| ST_ORDER.iter().position(|o| o == p).unwrap_or(usize::MAX));

    if layout.programmers.is_empty() {
        report.error(
            None,
            "no usable DMSS programmer: NPRG9x15.hex or ENPRG9x15.hex is needed to enter streaming download",
        );
    }
    if layout.partition_tables.is_empty() {
        report.error(None, "no usable partition table: partition.mbn or partition2.mbn is needed");
    }
    super::fit::check_legacy(&layout, files, report);
    // By the target each file was given (not by a name fragment: `recovery-boot-oe-…`
    // must not stand in for `boot-oe-msm9615.img`).
    for (streaming, target, file, what) in REQUIRED {
        let list = if *streaming { &layout.streaming } else { &layout.fastboot };
        if !list.iter().any(|(t, _)| t == target) {
            report.error(None, &format!("missing {file} ({what}); the package is incomplete"));
        }
    }
    for (target, file, why) in OPTIONAL {
        if !layout.fastboot.iter().any(|(t, _)| t == target) {
            report.note(None, &format!("no {file} for {target}: the flow skips it and {why}"));
        }
    }
    report.note(None, "no md5.txt and no Firehose programmer: normal for a legacy MDM9615 package; files are checked by structure");
    if layout.temp_loaders.is_empty() {
        report.note(
            None,
            "no temporary loaders (sbl2_tmp.mbn, appsboot_tmp.mbn): they ship with Quectel's tool, not the package; \
             name a loader directory to use them, or modemflash writes the real boot chain with an invalidated boot partition",
        );
    }
    layout
}

/// Parse a programmer; `Some(GO address)` when it is usable.
fn check_hex(source: &Source, path: &str, report: &mut Report) -> Option<u32> {
    let parsed = source.open_file(path).map_err(|e| ihex::HexError::Io(e.to_string())).and_then(ihex::parse);
    match parsed {
        Ok(img) => {
            let (load_start, load_end) = img.load_range().unwrap_or((0, 0));
            report.check_passed(path, &format!("Intel HEX: {} records, all checksums valid", img.records));
            if img.is_contiguous() {
                report.check_passed(path, "image is contiguous");
            } else {
                report.warning(
                    Some(path),
                    &format!(
                        "image has {} separate segments; each is uploaded at its own address",
                        img.segments.len()
                    ),
                );
            }
            if img.start_linear.is_none() {
                report.warning(
                    Some(path),
                    "no start-linear-address record (type 05): GO will use the first load address",
                );
            }
            report.set_details(
                path,
                FileDetails::IntelHex {
                    load_start,
                    load_end,
                    entry: img.entry(),
                    start_linear: img.start_linear,
                    contiguous: img.is_contiguous(),
                    segments: img.segments.len(),
                    data_bytes: img.data_len(),
                },
            );
            img.entry()
        }
        Err(e) => {
            report.error(Some(path), &format!("programmer is not valid Intel HEX: {e}"));
            None
        }
    }
}

fn check_ptable(source: &Source, path: &str, report: &mut Report) -> bool {
    match head(source, path, 64 * 1024)
        .map_err(|e| e.to_string())
        .and_then(|b| ptable::parse(&b).map_err(|e| e.to_string()))
    {
        Ok(t) => {
            report.check_passed(
                path,
                &format!(
                    "user partition table v{} with {} entries, sizes in {} of {} bytes",
                    t.version,
                    t.entries.len(),
                    t.unit.name(),
                    t.unit_bytes
                ),
            );
            report.set_details(path, FileDetails::PartitionTable(t));
            true
        }
        Err(e) => {
            report.error(Some(path), &format!("partition table: {e}"));
            false
        }
    }
}

fn check_mbn(source: &Source, f: &SourceFile, lenient: bool, report: &mut Report) {
    let bytes = match head(source, &f.path, headers::SBL_HEADER) {
        Ok(b) => b,
        Err(e) => return report.error(Some(&f.path), &format!("cannot read: {e}")),
    };
    if let Some(h) = headers::parse_mbn(&bytes) {
        match h.check_size(f.size) {
            Ok(()) => report.check_passed(
                &f.path,
                &format!(
                    "MBN header ({}, image id {} {}) matches the file size",
                    h.format,
                    h.image_id,
                    image_id_name(h.image_id)
                ),
            ),
            Err(e) => report.error(Some(&f.path), &format!("MBN header: {e}")),
        }
        report.set_details(&f.path, FileDetails::Mbn(h));
    } else if let Some(elf) = headers::parse_elf(&bytes) {
        report.check_passed(&f.path, "ELF image");
        report.set_details(&f.path, FileDetails::Elf(elf));
    } else if lenient {
        report.warning(Some(&f.path), "no MBN or ELF header recognised; it is written as is");
    } else {
        report.error(
            Some(&f.path),
            "no MBN header (40-byte v3 or 80-byte SBL) found: not a boot image, or corrupt",
        );
    }
}

fn check_boot(source: &Source, f: &SourceFile, report: &mut Report) {
    match head(source, &f.path, 64).ok().and_then(|b| headers::parse_boot(&b)) {
        Some(img) if img.declared_len() <= f.size => {
            report.check_passed(
                &f.path,
                &format!("Android boot image, page size {}, fits the file", img.page_size),
            );
            report.set_details(&f.path, FileDetails::AndroidBoot(img));
        }
        Some(img) => {
            report.error(
                Some(&f.path),
                &format!(
                    "boot image header declares {} bytes but the file holds {}: truncated",
                    img.declared_len(),
                    f.size
                ),
            );
            report.set_details(&f.path, FileDetails::AndroidBoot(img));
        }
        None => report.error(Some(&f.path), "no ANDROID! boot image header"),
    }
}

fn check_yaffs(source: &Source, f: &SourceFile, report: &mut Report) {
    match head(source, &f.path, 64).ok().and_then(|b| headers::parse_yaffs2(&b, f.size)) {
        Some(info) => {
            report.check_passed(
                &f.path,
                &format!("yaffs2 image ({}+{} byte chunks, root object header)", info.chunk, info.spare),
            );
            report.set_details(&f.path, FileDetails::Yaffs2(info));
        }
        None => report.warning(
            Some(&f.path),
            "not recognised as a yaffs2 image (object header or chunk size); it is written as is",
        ),
    }
}
