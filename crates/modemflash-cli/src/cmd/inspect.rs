//! `modemflash inspect PATH [--json]`: what a firmware package is, whether it is
//! complete, which modules it fits, and what every file is for.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use modemflash::package::{self, Finding, Report, Role, Severity};

use crate::exit;

/// Inspect a firmware package (a directory or a .zip) without touching any module.
///
/// Reports the package kind (legacy MDM9615, Firehose 9x07, plain fastboot images), the
/// chipset and modules it fits, every file with its role in the update and the checks it
/// passed, and every problem found. Exit code 0 means the package is valid, 2 that it is
/// not (all problems are listed).
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Package directory or .zip file.
    pub path: PathBuf,
    /// Print one JSON document (schema: docs/inspect-json.md) instead of the report.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InspectArgs) -> u8 {
    let pkg = match package::open(&args.path) {
        Ok(p) => p,
        Err(e) => {
            if args.json {
                let doc = serde_json::json!({
                    "path": args.path.display().to_string(),
                    "valid": false,
                    "error": e.to_string(),
                });
                say!("{doc}");
            } else {
                error!("{e}");
            }
            return exit::INVALID_PACKAGE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&pkg.report) {
            Ok(s) => say!("{s}"),
            Err(e) => {
                error!("cannot encode the report: {e}");
                return exit::FAILED;
            }
        }
    } else {
        let mut out = crate::out::Stdout;
        let _ = render(&pkg.report, &mut out);
    }
    if pkg.is_valid() { exit::OK } else { exit::INVALID_PACKAGE }
}

fn role_text(role: &Role) -> String {
    match role {
        Role::Programmer { emergency: false } => "DMSS programmer".into(),
        Role::Programmer { emergency: true } => "DMSS programmer (emergency)".into(),
        Role::PartitionTable => "partition table".into(),
        Role::BootLoader => "boot loader".into(),
        Role::DspImage => "DSP image".into(),
        Role::AndroidBoot => "Android boot image".into(),
        Role::FileSystem => "file system".into(),
        Role::TemporaryLoader => "temporary loader".into(),
        Role::NvBackup => "NV restore".into(),
        Role::FirehoseProgrammer => "Firehose programmer".into(),
        Role::FirehoseXml => "Firehose XML".into(),
        Role::FirehoseImage => "image".into(),
        Role::ContentsXml => "contents.xml".into(),
        Role::Md5List => "md5 list".into(),
        Role::FastbootImage => "fastboot image".into(),
        Role::Unused { reason } => format!("unused: {reason}"),
    }
}

fn render(r: &Report, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "Package:  {}", r.path)?;
    writeln!(out, "Kind:     {}", r.description)?;
    writeln!(out, "Chipset:  {}", r.chipset.name())?;
    if let Some(rev) = &r.revision {
        let from = r
            .revision_evidence
            .iter()
            .find(|e| e.used)
            .map(|e| format!(", from {} ({})", e.source.describe(), e.from))
            .unwrap_or_default();
        writeln!(
            out,
            "Revision: {} (model {}, release line {}{from})",
            rev.raw,
            rev.model.as_deref().unwrap_or("?"),
            rev.release_line().unwrap_or_else(|| "?".into())
        )?;
    } else {
        writeln!(out, "Revision: not named by contents.xml, the modem image, or the package's name")?;
    }
    if !r.fits.is_empty() {
        writeln!(out, "Fits:")?;
        for f in &r.fits {
            writeln!(out, "  - {f}")?;
        }
    }
    writeln!(out, "\nFiles ({}):", r.files.len())?;
    for f in &r.files {
        let uses: Vec<String> =
            f.uses.iter().map(|u| format!("{}:{}", serde_plain(&u.phase), u.target)).collect();
        let uses = if uses.is_empty() { String::new() } else { format!(" → {}", uses.join(", ")) };
        writeln!(out, "  {}  ({} bytes)  {}{uses}", f.path, f.size, role_text(&f.role))?;
        if let Some(d) = &f.details {
            if let package::FileDetails::IntelHex { load_start, load_end, entry, contiguous, .. } = d {
                writeln!(
                    out,
                    "      load {load_start:#010x}..{load_end:#010x}, GO {}, {}",
                    entry.map_or_else(|| "?".into(), |e| format!("{e:#010x}")),
                    if *contiguous { "contiguous" } else { "NOT contiguous" }
                )?;
            }
            if let package::FileDetails::PartitionTable(t) = d {
                let unit = t.unit.name();
                writeln!(
                    out,
                    "      version {}, sizes in {unit} of {} bytes (assumed 9615 NAND geometry)",
                    t.version, t.unit_bytes
                )?;
                for e in &t.entries {
                    let len = match (e.length, e.length_bytes) {
                        (Some(l), Some(b)) => format!("{l} {unit} = {b} bytes"),
                        _ => "grows to the end".into(),
                    };
                    writeln!(
                        out,
                        "      {:<14} start {:>5} {unit} = {:>10} bytes  length {len}  padding {} {unit}  attr {:02x?}",
                        e.name, e.start, e.start_bytes, e.padding, e.attributes
                    )?;
                }
            }
        }
        for c in &f.checks {
            writeln!(out, "      ok: {c}")?;
        }
    }
    let (errors, rest): (Vec<&Finding>, Vec<&Finding>) =
        r.findings.iter().partition(|f| f.severity == Severity::Error);
    if !rest.is_empty() {
        writeln!(out, "\nNotes:")?;
        for f in rest {
            let tag = if f.severity == Severity::Warning { "warning" } else { "note" };
            writeln!(
                out,
                "  {tag}: {}{}",
                f.file.as_deref().map(|p| format!("{p}: ")).unwrap_or_default(),
                f.message
            )?;
        }
    }
    if errors.is_empty() {
        writeln!(out, "\nResult: valid {}", r.description)?;
    } else {
        writeln!(out, "\nProblems ({}):", errors.len())?;
        for f in &errors {
            writeln!(
                out,
                "  error: {}{}",
                f.file.as_deref().map(|p| format!("{p}: ")).unwrap_or_default(),
                f.message
            )?;
        }
        writeln!(
            out,
            "\nResult: INVALID package ({} problem{})",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}

fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
