//! `modemflash list [--json]`: every catalogue module on USB, in every mode, with its ports.

use std::io::Write;

use clap::Args;
use modemflash::catalog::InterfaceRole;
use modemflash::discovery::sysfs::Found;

use super::host::{self, RootArg};
use crate::exit;

/// List the modules on USB, in every mode, with their ports.
///
/// Shows each Quectel/Qualcomm module the catalogue knows (normal mode, the EC20 R1's
/// DLOAD on 05c6:9215, EDL 05c6:9008, fastboot 18d1:d00d, dump mode), its USB path (what `--device usb:PATH`
/// takes), and for every interface its role, driver and tty.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash list\n  \
  modemflash list --json | jq '.modules[].usb_path'\n\n\
Exit codes: 0 at least one module found, 3 no module found, 64 usage error.")]
pub struct ListArgs {
    /// Print one JSON document: an object with a `modules` array.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub session: super::session::SessionArgs,
}

pub fn role_name(role: Option<InterfaceRole>) -> &'static str {
    match role {
        Some(InterfaceRole::Diag) => "DM/DIAG",
        Some(InterfaceRole::Nmea) => "NMEA",
        Some(InterfaceRole::At) => "AT",
        Some(InterfaceRole::Modem) => "modem",
        Some(InterfaceRole::Network) => "network",
        Some(InterfaceRole::QdLoader) => "QDLoader",
        Some(InterfaceRole::Fastboot) => "fastboot",
        None => "-",
    }
}

pub fn render(found: &[Found], out: &mut impl Write) -> std::io::Result<()> {
    for f in found {
        writeln!(
            out,
            "usb:{:<10} {}  {}{}  [{} mode]",
            f.usb_path,
            host::usb_id(f),
            f.family,
            if f.inferred { " (inferred)" } else { "" },
            f.mode.name()
        )?;
        let mut facts = vec![format!("chipset {}", f.chipset.name())];
        facts.extend(f.speed_name().map(str::to_owned));
        facts.extend(f.serial.as_ref().map(|s| format!("serial {s}")));
        writeln!(out, "    {}", facts.join(", "))?;
        for p in &f.ports {
            writeln!(
                out,
                "    if{} {:<9} {:<9} {}",
                p.interface,
                role_name(p.role),
                p.driver.as_deref().unwrap_or("(no driver)"),
                p.tty.as_ref().map_or_else(String::new, |t| t.display().to_string())
            )?;
        }
    }
    Ok(())
}

/// The listing from USB (recorded as a `usb-scan` note with --record).
fn scan(args: &ListArgs) -> Result<Vec<Found>, u8> {
    let rec = super::session::recorder(&args.session, "list")?;
    let found = host::scan(&args.root).map_err(|e| {
        error!("{e}");
        exit::FAILED
    })?;
    if let Some(r) = rec {
        r.event(modemflash::record::Event::Note {
            what: USB_SCAN.into(),
            data: serde_json::to_value(&found).unwrap_or_default(),
        });
        if let Some(e) = r.error() {
            tell!("warning: the recording is incomplete: {e}");
        }
    }
    Ok(found)
}

/// The note a `list` recording keeps its listing in.
const USB_SCAN: &str = "usb-scan";

/// `list --replay`: the listing a recording holds, as it was recorded.
fn replay(args: &ListArgs, path: &std::path::Path) -> u8 {
    let bus = match modemflash::record::ReplayBus::open(path) {
        Ok((b, _)) => b,
        Err(e) => {
            error!("--replay {}: {e}", path.display());
            return exit::USAGE;
        }
    };
    let Some(modules) = bus.notes(USB_SCAN).into_iter().next() else {
        error!(
            "--replay {}: the recording holds no USB listing (one made by `list --record` does)",
            path.display()
        );
        return exit::USAGE;
    };
    let list = modules.as_array().cloned().unwrap_or_default();
    if args.json {
        say!("{}", serde_json::json!({ "modules": list }));
    } else {
        for m in &list {
            let n = |k: &str| m.get(k).and_then(serde_json::Value::as_u64).unwrap_or_default();
            let t = |k: &str| m.get(k).and_then(serde_json::Value::as_str).unwrap_or("?").to_owned();
            say!(
                "usb:{:<10} {:04x}:{:04x}  {}  [{} mode]  (recorded)",
                t("usb_path"),
                n("vid"),
                n("pid"),
                t("family"),
                t("mode")
            );
        }
    }
    if list.is_empty() { exit::NO_MODULE } else { exit::OK }
}

pub fn run(args: &ListArgs) -> u8 {
    if let Some(path) = &args.session.replay {
        return replay(args, path);
    }
    let found = match scan(args) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if args.json {
        say!("{}", serde_json::json!({ "modules": found }));
    } else if !found.is_empty() {
        let _ = render(&found, &mut crate::out::Stdout);
    }
    if found.is_empty() {
        if !args.json {
            tell!("No module found on USB. {}", host::NO_MODULE_HINT);
        }
        return exit::NO_MODULE;
    }
    exit::OK
}
