//! `modemflash info [--device SEL] [--json]`: who the module is. In normal mode the
//! identity comes through DIAG 0x7C on the DM port and ATI/AT+QGMR/AT+GSN on the AT port;
//! in fastboot through `getvar`. USB selectors (or none) use USB discovery; `serial:` and
//! `tcp:` reach the module through explicit ports.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use clap::Args;
use modemflash::catalog::InterfaceRole;
use modemflash::discovery::identity::{Identity, identify};
use modemflash::discovery::ports::PortsBus;
use modemflash::discovery::selector::Selector;
use modemflash::discovery::sysfs::Found;
use modemflash::discovery::usbbus::{Pick, Tracker, open_port};
use modemflash::discovery::{ModuleBus, Port};
use modemflash::plan::DeviceMode;
use modemflash::protocol::fastboot::{FastbootClient, FastbootOptions};
use modemflash::record::{self, Recorder, RecordingBus, RecordingTransport, ReplayBus};
use modemflash::transport::Transport;
use serde::Serialize;

use super::host::{self, RootArg};
use crate::exit;

/// Variables asked in fastboot mode.
const FASTBOOT_VARS: &[&str] = &["product", "version", "version-bootloader", "serialno", "max-download-size"];

/// Show a module's identity: revision, IMEI where available, chipset, mode and ports.
///
/// Without --device, the one module on USB is used (with several, pick one with
/// --device usb:BUS-PORT; `modemflash list` shows the paths).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash info\n  \
  modemflash info --device usb:1-1.2 --json\n  \
  modemflash info --device usb:2c7c:0125\n  \
  modemflash info --device serial:/dev/ttyUSB0      # DM tty; AT is taken as ttyUSB2\n  \
  modemflash info --device tcp:127.0.0.1:5554       # fastboot over TCP\n\n\
Device selectors: usb:BUS-PORT, usb:VID:PID[:SERIAL], serial:PATH, tcp:HOST:PORT.\n\
Exit codes: 0 identified, 1 found but nothing could be read, 3 no module found, 64 usage error.")]
pub struct InfoArgs {
    /// Which module (see above).
    #[arg(long, value_name = "SEL")]
    pub device: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub session: super::session::SessionArgs,
}

/// What `info` learnt.
#[derive(Debug, Default, Serialize)]
struct InfoDoc {
    /// The selector or endpoint used.
    device: String,
    /// The USB view, when found through USB.
    usb: Option<Found>,
    /// The mode, when known.
    mode: Option<DeviceMode>,
    identity: Identity,
    /// Fastboot variables, in fastboot mode.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    fastboot: BTreeMap<String, String>,
}

fn fastboot_vars(t: Box<dyn Transport>, doc: &mut InfoDoc) {
    let endpoint = t.info().endpoint.clone();
    let mut fb = FastbootClient::new(t, FastbootOptions::default());
    for name in FASTBOOT_VARS {
        match fb.getvar(name) {
            Ok(v) => {
                doc.fastboot.insert((*name).to_owned(), v);
            }
            Err(e) => doc.identity.notes.push(format!("getvar:{name} on {endpoint}: {e}")),
        }
    }
    if !doc.fastboot.is_empty() {
        doc.identity.sources.push(format!("fastboot getvar on {endpoint}"));
    }
    if doc.identity.chipset.is_none() {
        doc.identity.chipset =
            doc.fastboot.get("product").and_then(|p| modemflash::catalog::Chipset::from_product(p));
    }
}

fn via_ports(sel: &Selector, rec: Option<&Arc<Recorder>>, doc: &mut InfoDoc) -> Result<(), u8> {
    let (dm, fastboot) = match sel {
        Selector::Serial(p) => (Some(p.clone()), None),
        Selector::Tcp { host, port } => (None, Some(format!("{host}:{port}"))),
        Selector::UsbPath(_) | Selector::UsbId { .. } => return Err(exit::USAGE),
    };
    if let Some(p) = &dm {
        let args = super::target::EndpointArgs {
            device: None,
            port: Some(p.clone()),
            at_port: None,
            fastboot: None,
        };
        super::target::check_tty(&args, false)?;
    }
    let ports = PortsBus::new(dm, None, fastboot.as_deref()).map_err(|e| {
        error!("{}", crate::hints::bus_error(&e));
        exit::USAGE
    })?;
    let at_exists = ports.at.as_ref().is_some_and(|p| modemflash::transport::serial::tty_present(p));
    let mut bus: Box<dyn ModuleBus> = match rec {
        Some(r) => Box::new(RecordingBus::new(Box::new(ports), Arc::clone(r))),
        None => Box::new(ports),
    };
    via_bus(bus.as_mut(), at_exists, &sel.to_string(), doc)
}

/// Identify through a bus: explicit ports, or a replay.
fn via_bus(bus: &mut dyn ModuleBus, at_exists: bool, what: &str, doc: &mut InfoDoc) -> Result<(), u8> {
    let mode = bus.detect().map_err(|e| {
        error!("{e}");
        exit::NO_MODULE
    })?;
    let Some(mode) = mode else {
        error!("nothing answered on {what}. {}", host::NO_MODULE_HINT);
        return Err(exit::NO_MODULE);
    };
    doc.mode = Some(mode);
    match mode {
        DeviceMode::Normal => {
            let dm = bus.open(Port::Dm).map_err(|e| {
                error!("{e}");
                exit::FAILED
            })?;
            let at = if at_exists { bus.open(Port::At).ok() } else { None };
            doc.identity = identify(Some(dm), at);
            if !at_exists {
                doc.identity.notes.push(format!("no AT port at {}", bus.endpoint(Port::At)));
            }
        }
        DeviceMode::Fastboot => match bus.open(Port::Fastboot) {
            Ok(t) => fastboot_vars(t, doc),
            Err(e) => doc.identity.notes.push(e.to_string()),
        },
        other => doc.identity.notes.push(format!(
            "the module is in {} mode; its revision and IMEI are read in normal mode",
            other.name()
        )),
    }
    Ok(())
}

/// `t` recorded as the `port` of the module, when recording.
fn recorded(t: Box<dyn Transport>, rec: Option<&Arc<Recorder>>, port: Port) -> Box<dyn Transport> {
    match rec {
        Some(r) => Box::new(RecordingTransport::open(t, Arc::clone(r), record::port_name(port))),
        None => t,
    }
}

/// A port that could not be opened, in the recording (a replay gives the same failure).
fn record_failed_open(rec: Option<&Arc<Recorder>>, port: Port, why: &str) {
    if let Some(r) = rec {
        r.event(record::Event::failed_open(
            record::port_name(port),
            record::BusErrorRec::Other { text: why.into() },
        ));
    }
}

fn via_usb(
    sel: Option<Selector>,
    root: &RootArg,
    rec: Option<&Arc<Recorder>>,
    doc: &mut InfoDoc,
) -> Result<(), u8> {
    let found = host::scan(root).map_err(|e| {
        error!("{e}");
        exit::FAILED
    })?;
    let f = match Tracker::new(sel).pick(&found) {
        Pick::One(f) => *f,
        Pick::Nothing => {
            tell!("No module found on USB{}. {}", doc_device_suffix(&doc.device), host::NO_MODULE_HINT);
            return Err(exit::NO_MODULE);
        }
        Pick::Ambiguous(text) => {
            error!("{text}; choose one with --device usb:BUS-PORT (see `modemflash list`)");
            return Err(exit::USAGE);
        }
    };
    doc.mode = f.device_mode_hint();
    if let Some(r) = rec {
        r.event(record::Event::Detect { mode: doc.mode, failed: None });
    }
    let open = |port: Port, notes: &mut Vec<String>| match open_port(&f, port) {
        Ok(t) => Some(recorded(t, rec, port)),
        Err(e) => {
            record_failed_open(rec, port, &e);
            notes.push(format!("{}: {e}", port.name()));
            None
        }
    };
    match doc.mode {
        Some(DeviceMode::Normal) => {
            let dm = open(Port::Dm, &mut doc.identity.notes);
            let at = if f.port(InterfaceRole::At).is_some() {
                open(Port::At, &mut doc.identity.notes)
            } else {
                record_failed_open(rec, Port::At, "no AT port");
                None
            };
            let notes = std::mem::take(&mut doc.identity.notes);
            doc.identity = identify(dm, at);
            doc.identity.notes.splice(0..0, notes);
        }
        Some(DeviceMode::Fastboot) => {
            if let Some(t) = open(Port::Fastboot, &mut doc.identity.notes) {
                fastboot_vars(t, doc);
            }
        }
        _ => doc.identity.notes.push(format!(
            "the module is in {} mode; its revision and IMEI are read in normal mode",
            f.mode.name()
        )),
    }
    doc.usb = Some(f);
    Ok(())
}

fn doc_device_suffix(device: &str) -> String {
    if device.is_empty() { String::new() } else { format!(" matching {device}") }
}

fn render(doc: &InfoDoc, out: &mut impl Write) -> std::io::Result<()> {
    if let Some(f) = &doc.usb {
        writeln!(out, "Module:    {} ({}) at usb:{}", f.family, host::usb_id(f), f.usb_path)?;
    } else {
        writeln!(out, "Device:    {}", doc.device)?;
    }
    writeln!(out, "Mode:      {}", doc.mode.map_or("unknown (no answer to the probe)", |m| m.name()))?;
    let id = &doc.identity;
    let na = "(not available)";
    writeln!(out, "Revision:  {}", id.revision.as_deref().unwrap_or(na))?;
    if let Some(full) = &id.full_revision {
        writeln!(out, "Full:      {full}")?;
    }
    if let Some(m) = &id.model {
        writeln!(out, "Model:     {m}")?;
    }
    let chipset = id.chipset.or(doc.usb.as_ref().map(|f| f.chipset));
    if let Some(c) = chipset {
        writeln!(out, "Chipset:   {}", c.name())?;
    }
    writeln!(out, "IMEI:      {}", id.imei.as_deref().unwrap_or(na))?;
    if let (Some(msm), Some(model)) = (id.msm_hw_version, id.mobile_model) {
        writeln!(out, "MSM:       hw version {msm:#010x}, mobile model {model}")?;
    }
    for (k, v) in &doc.fastboot {
        writeln!(out, "{:<10} {v}", format!("{k}:"))?;
    }
    if let Some(f) = &doc.usb {
        for p in f.ports.iter().filter(|p| p.tty.is_some()) {
            let tty = p.tty.as_ref().map(|t| t.display().to_string()).unwrap_or_default();
            writeln!(out, "Port:      if{} {} {tty}", p.interface, super::list::role_name(p.role))?;
        }
    }
    if !id.sources.is_empty() {
        writeln!(out, "Read via:  {}", id.sources.join("; "))?;
    }
    for n in &id.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}

pub fn run(args: &InfoArgs) -> u8 {
    let sel = match args.device.as_deref().map(Selector::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            return exit::USAGE;
        }
    };
    let mut doc =
        InfoDoc { device: sel.as_ref().map(ToString::to_string).unwrap_or_default(), ..InfoDoc::default() };
    let rec = match super::session::recorder(&args.session, "info") {
        Ok(r) => r,
        Err(code) => return code,
    };
    let r = if let Some(path) = &args.session.replay {
        match ReplayBus::open(path) {
            Ok((mut bus, _)) => {
                doc.device = format!("replay of {}", path.display());
                let r = via_bus(&mut bus, true, &doc.device.clone(), &mut doc);
                if let Some(d) = bus.finish() {
                    error!("{d}");
                    return exit::FAILED;
                }
                r
            }
            Err(e) => {
                error!("--replay {}: {e}", path.display());
                return exit::USAGE;
            }
        }
    } else {
        // The library's rule for which bus a selector means (`discovery::choose`).
        match &sel {
            Some(s) if modemflash::discovery::choose::is_explicit(s) => via_ports(s, rec.as_ref(), &mut doc),
            _ => via_usb(sel.clone(), &args.root, rec.as_ref(), &mut doc),
        }
    };
    if let Some(e) = rec.as_ref().and_then(|r| r.error()) {
        tell!("warning: the recording is incomplete: {e}");
    }
    if let Err(code) = r {
        return code;
    }
    if args.json {
        match serde_json::to_string_pretty(&doc) {
            Ok(s) => say!("{s}"),
            Err(e) => {
                error!("cannot encode the result: {e}");
                return exit::FAILED;
            }
        }
    } else {
        let _ = render(&doc, &mut crate::out::Stdout);
    }
    let read_something = !doc.identity.is_empty() || !doc.fastboot.is_empty();
    let readable_mode = matches!(doc.mode, Some(DeviceMode::Normal | DeviceMode::Fastboot));
    if readable_mode && !read_something { exit::FAILED } else { exit::OK }
}
