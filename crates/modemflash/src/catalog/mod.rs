//! The device catalogue: which USB ids belong to which module family, chipset and mode,
//! how their interfaces are laid out, and how Quectel revision strings decompose.
//!
//! Facts: `quectel-flows.md` §4 (USB identities), §5 (revision strings) and
//! `protocols.md` §8 (Linux USB facts). Rows tagged [I] there are marked `inferred` here
//! so callers can say "probably".

mod revision;
mod usb;

pub use revision::{Revision, RevisionChange, RevisionFit, RevisionScanner};
pub use usb::{DeviceFacts, Interface, InterfaceRole, Matchers, USB_IDS, UsbId, lookup, lookup_device};

use serde::{Deserialize, Serialize};

/// Qualcomm chipset generation, which decides the update path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Chipset {
    /// MDM9615 ("9x15"): EC20 R1. DMSS `.hex` programmer → streaming DLOAD → fastboot.
    Mdm9615,
    /// MDM9607/9207 ("9x07"): EC25, EC21, EG25-G, EC20 R2. Sahara → Firehose.
    Mdm9x07,
    /// Other Qualcomm parts reachable through the same PIDs (SDX20/24/55/62...).
    OtherQualcomm,
    /// Unknown from the facts at hand.
    Unknown,
}

impl Chipset {
    /// Short human name.
    pub fn name(self) -> &'static str {
        match self {
            Chipset::Mdm9615 => "MDM9615",
            Chipset::Mdm9x07 => "MDM9x07",
            Chipset::OtherQualcomm => "other Qualcomm",
            Chipset::Unknown => "unknown",
        }
    }

    /// The chipset a bootloader names as its fastboot `product` (or USB serial number):
    /// `MDM9615` on the EC20 R1 (docs/facts/field-evidence.md: the field module's fastboot
    /// serial number is "MDM9615" [confirmed]); `MDM9607`/`MDM9207` on the 9x07 family
    /// [inferred from the chip names]. Anything else is `None`.
    pub fn from_product(product: &str) -> Option<Chipset> {
        let p = product.trim().to_ascii_uppercase();
        match p.as_str() {
            "MDM9615" | "MDM9X15" | "9615" => Some(Chipset::Mdm9615),
            "MDM9607" | "MDM9207" | "MDM9X07" | "9607" => Some(Chipset::Mdm9x07),
            _ => None,
        }
    }
}

/// What a module is doing, as seen from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Running firmware: DIAG, AT, NMEA, modem and network interfaces.
    Normal,
    /// Qualcomm QDLoader 05c6:9008: the 9x07 boot ROM speaking Sahara (EDL), then the
    /// Firehose programmer on the same interface.
    QdLoader,
    /// The MDM9615's download mode: its boot ROM speaking DMSS, then the streaming
    /// programmer, on one interface under the normal-mode id 05c6:9215 (docs/facts/usb.md:
    /// 9615 DLOAD identity [confirmed, field log]).
    Dload,
    /// Android fastboot in Quectel's LK (18d1:d00d).
    Fastboot,
    /// Crash-dump / memory-debug mode.
    Dump,
}

impl Mode {
    /// A mode in which the module is being flashed: hidden from ModemManager, kept awake.
    pub fn is_flashing(self) -> bool {
        matches!(self, Mode::QdLoader | Mode::Dload | Mode::Fastboot)
    }

    /// Short human name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::QdLoader => "EDL (QDLoader 9008)",
            Mode::Dload => "DLOAD",
            Mode::Fastboot => "fastboot",
            Mode::Dump => "dump",
        }
    }
}
