//! Reading which module is on the bus, in whatever mode it is in (`module_id.rs` lists
//! what each mode shows). Every read is best effort: a mode or a port that tells nothing
//! gives an identity with fewer fields, never an error, because an update must not fail
//! for want of an identity (the journal then falls back on its policy for modes without
//! one, `docs/journal.md`).

use std::time::Duration;

use crate::discovery::identity::{IMEI_TIMEOUT, parse_imei};
use crate::discovery::module_id::ModuleIdentity;
use crate::discovery::{ModuleBus, Port};
use crate::plan::DeviceMode;
use crate::protocol::at::AtClient;
use crate::protocol::edl::{EdlProbe, Found, probe};
use crate::protocol::fastboot::client::{FastbootClient, FastbootOptions};
use crate::protocol::sahara::SaharaClient;
use crate::transport::Transport;
use crate::transport::replay::Replay;

/// Per-reply timeout of the identity reads (short: they are optional).
pub const WHOIS_REPLY: Duration = Duration::from_secs(2);

/// How far to go for an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Only what costs nothing to the flow: the bus's own facts, `AT+GSN` in normal mode,
    /// fastboot `getvar` (used between steps).
    Light,
    /// Also Sahara command mode on a boot ROM in EDL (before an update begins; the ROM
    /// starts over with a fresh HELLO for the upload afterwards).
    Full,
}

/// What the module in `mode` tells about itself.
pub fn read_identity(bus: &mut dyn ModuleBus, mode: DeviceMode, depth: Depth) -> ModuleIdentity {
    let mut id = bus.location();
    if id.usb_serial.is_some() {
        id.usb_serial_mode = Some(mode);
    }
    match mode {
        DeviceMode::Normal => {
            if let Ok(t) = bus.open(Port::At) {
                let mut at = AtClient::new(t);
                if let Ok(resp) = at.command("AT+GSN", IMEI_TIMEOUT)
                    && let Some(imei) = parse_imei(&resp.lines)
                {
                    id.set_imei(&imei);
                }
            }
        }
        DeviceMode::Fastboot => {
            if let Ok(t) = bus.open(Port::Fastboot) {
                let opts = FastbootOptions { command_timeout: WHOIS_REPLY, ..FastbootOptions::default() };
                let mut fb = FastbootClient::new(t, opts);
                let product = fb.getvar("product").ok();
                if let Ok(serial) = fb.getvar("serialno") {
                    id.set_fastboot(&serial, product.as_deref());
                }
            }
        }
        DeviceMode::Edl if depth == Depth::Full => {
            if let Some(serial) = sahara_serial(bus) {
                id.set_chip_serial(serial);
            }
        }
        DeviceMode::Edl | DeviceMode::Dload | DeviceMode::Streaming => {}
    }
    id
}

/// The chip serial through Sahara command mode, when a boot ROM answers (a running
/// Firehose programmer does not say it again; its start-up log did).
fn sahara_serial(bus: &mut dyn ModuleBus) -> Option<u32> {
    let mut link = bus.open(Port::Edl).ok()?;
    let Ok(Found::Sahara(head)) = probe(&mut link, &EdlProbe::default()) else { return None };
    let mut sahara = SaharaClient::new(Box::new(Replay::new(link, head)) as Box<dyn Transport>);
    sahara.read_identity().ok().map(|i| i.serial)
}
