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

pub fn run(args: &ListArgs) -> u8 {
    let found = match host::scan(&args.root) {
        Ok(f) => f,
        Err(e) => {
            error!("{e}");
            return exit::FAILED;
        }
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
