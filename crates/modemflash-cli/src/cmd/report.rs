//! `modemflash report --out FILE`: one zip for a bug report, IMEIs and serial numbers
//! left out unless `--no-redact`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::host::{self, RootArg};
use super::redact::Secrets;
use super::session::last_session_dir;
use crate::exit;

/// Write one archive for a bug report: version, OS and kernel, `doctor --json`, `list
/// --json`, and the last update's log and recording.
///
/// IMEIs and serial numbers (fastboot serialno, chip serial, USB serial strings) are
/// replaced by X in every file, and REDACTED.txt inside the archive says what kinds were
/// taken out. Look at the archive before you share it.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash report --out modemflash-report.zip\n  \
  modemflash report --out full.zip --no-redact     # keeps IMEIs and serials\n\n\
The last session is the last `update` run, kept in $XDG_STATE_HOME/modemflash/last-session/.\n\
Exit codes: 0 written, 1 the archive could not be written, 64 usage error.")]
pub struct ReportArgs {
    /// Where to write the archive (.zip).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Keep IMEIs and serial numbers in the archive.
    #[arg(long)]
    pub no_redact: bool,
    #[command(flatten)]
    pub root: RootArg,
}

fn system_text() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "(unknown: no /proc/sys/kernel/osrelease)".into(), |s| s.trim().to_owned());
    format!(
        "modemflash {}\nos: {} ({} family)\narch: {}\nkernel: {kernel}\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::FAMILY,
        std::env::consts::ARCH
    )
}

/// The archive's files, before redaction.
fn gather(args: &ReportArgs) -> Vec<(String, String)> {
    let mut files = vec![("system.txt".to_owned(), system_text())];
    let doctor = modemflash::doctor::run(&args.root.doctor_env());
    files.push(("doctor.json".into(), serde_json::to_string_pretty(&doctor).unwrap_or_default()));
    let list = match host::scan(&args.root) {
        Ok(found) => {
            serde_json::to_string_pretty(&serde_json::json!({ "modules": found })).unwrap_or_default()
        }
        Err(e) => serde_json::json!({ "error": e }).to_string(),
    };
    files.push(("list.json".into(), list));
    let dir = last_session_dir();
    for name in ["session.json", "events.jsonl", "recording.jsonl"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
            files.push((format!("last-session/{name}"), text));
        }
    }
    files
}

fn write_zip(path: &std::path::Path, files: &[(String, String)]) -> Result<(), String> {
    let f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in files {
        z.start_file(name.as_str(), opts).map_err(|e| e.to_string())?;
        z.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    }
    z.finish().map_err(|e| e.to_string())?;
    Ok(())
}

pub fn run(args: &ReportArgs) -> u8 {
    let mut files = gather(args);
    let mut redacted = Vec::new();
    if args.no_redact {
        redacted
            .push("Nothing was redacted (--no-redact): this archive holds IMEIs and serial numbers.".into());
    } else {
        let mut secrets = Secrets::default();
        for (name, text) in &files {
            secrets.scan(text);
            if name.ends_with("recording.jsonl") {
                secrets.scan_recording(text);
            }
        }
        let mut total = 0;
        for (_, text) in &mut files {
            let (masked, n) = secrets.apply(text);
            *text = masked;
            total += n;
        }
        if secrets.is_empty() {
            redacted.push("No IMEI or serial number was found to redact.".into());
        } else {
            redacted.push(format!(
                "Replaced by X (same length; hex-encoded copies by 58) in every file, {total} occurrence(s):"
            ));
            redacted.extend(secrets.summary().into_iter().map(|l| format!("  {l}")));
        }
    }
    let text = redacted.join("\n") + "\n";
    files.push(("REDACTED.txt".into(), text.clone()));
    if let Err(e) = write_zip(&args.out, &files) {
        error!("cannot write {}: {e}; pass --out with a path in a writable directory", args.out.display());
        return exit::FAILED;
    }
    crate::out::err(format_args!("{text}"));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    say!("Wrote {} ({})", args.out.display(), names.join(", "));
    exit::OK
}
