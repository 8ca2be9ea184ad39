//! What a module boots into after a reset, decided only by what its NAND holds
//! (`quectel-flows.md` §2, `protocols.md` §10).
//!
//! - a valid boot chain plus a valid boot image and root file system → normal mode,
//!   reporting the revision found in the modem image written (`dsp2` on the 9615, `modem`
//!   on the 9x07), read by the library's scanner as `inspect` reads a package;
//! - a fastboot-capable APPSBL without a valid boot image (or a temporary APPSBL, which
//!   always stops in fastboot) → fastboot;
//! - an erased or invalid SBL/APPSBL → the boot ROM's download mode (DLOAD on 9615, EDL on
//!   9x07).
//!
//! That aboot falls into fastboot when the boot image is invalid is inferred from
//! Quectel's tools writing a dummy `0:boot` for exactly that purpose [I]; the rule table
//! below is data so it can be corrected.

use modemflash::package::headers;

use modemflash::catalog::Chipset;
use modemflash::package::revision::modem_partition;

use crate::nand::Nand;

/// The two modelled modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// EC20 R1, MDM9615.
    Ec20R1,
    /// EC25, MDM9x07.
    Ec25,
}

impl Model {
    /// Parse `ec20-r1` / `ec25`.
    pub fn parse(s: &str) -> Option<Model> {
        match s.to_ascii_lowercase().as_str() {
            "ec20-r1" | "ec20r1" | "ec20" => Some(Model::Ec20R1),
            "ec25" => Some(Model::Ec25),
            _ => None,
        }
    }

    /// CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Model::Ec20R1 => "ec20-r1",
            Model::Ec25 => "ec25",
        }
    }

    /// Boot-chain partitions and the MBN image id each must carry.
    pub fn boot_chain(self) -> &'static [(&'static str, u32)] {
        match self {
            Model::Ec20R1 => &[("sbl1", 21), ("sbl2", 22), ("rpm", 23), ("appsbl", 5)],
            Model::Ec25 => &[("sbl", 21), ("tz", 25), ("rpm", 23), ("aboot", 5)],
        }
    }

    /// The APPSBL partition name.
    pub fn appsbl(self) -> &'static str {
        match self {
            Model::Ec20R1 => "appsbl",
            Model::Ec25 => "aboot",
        }
    }

    /// Partitions that must hold data for a normal boot, besides the chain and `boot`.
    pub fn rootfs(self) -> &'static [&'static str] {
        match self {
            Model::Ec20R1 => &["system"],
            Model::Ec25 => &["system", "modem"],
        }
    }
}

/// Marker in a temporary APPSBL: Quectel's `appsboot_tmp.mbn` contains the string
/// `quec_get_fastboot` and always stops in fastboot (`quectel-flows.md` §2.6) [C string,
/// I behaviour].
pub const TEMP_APPSBL_MARKER: &[u8] = b"quec_get_fastboot";

/// Where a reset leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    Normal { revision: Option<String> },
    Fastboot,
    Download,
}

fn valid_mbn(nand: &Nand, name: &str, id: u32) -> bool {
    nand.get(name).is_some_and(|p| {
        p.content.complete
            && headers::parse_mbn(&p.content.head)
                .is_some_and(|h| h.image_id == id && h.check_size(p.content.len).is_ok())
    })
}

/// The revision of the firmware on the NAND: the one found in the modem partition's
/// contents when they were written.
pub fn firmware_revision(model: Model, nand: &Nand) -> Option<String> {
    let chipset = match model {
        Model::Ec20R1 => Chipset::Mdm9615,
        Model::Ec25 => Chipset::Mdm9x07,
    };
    nand.get(modem_partition(chipset)?)?.content.revision.clone()
}

fn valid_boot(nand: &Nand) -> bool {
    nand.get("boot").is_some_and(|p| {
        p.content.complete
            && headers::parse_boot(&p.content.head).is_some_and(|b| b.declared_len() <= p.content.len)
    })
}

/// Decide the boot outcome.
pub fn boot(model: Model, nand: &Nand) -> BootOutcome {
    if !model.boot_chain().iter().all(|(name, id)| valid_mbn(nand, name, *id)) {
        return BootOutcome::Download;
    }
    let appsbl = nand.get(model.appsbl()).map(|p| p.content.head.as_slice()).unwrap_or_default();
    if appsbl.windows(TEMP_APPSBL_MARKER.len()).any(|w| w == TEMP_APPSBL_MARKER) {
        return BootOutcome::Fastboot;
    }
    let rootfs_ok = model
        .rootfs()
        .iter()
        .all(|n| nand.get(n).is_some_and(|p| p.content.complete && !p.content.is_erased()));
    if valid_boot(nand) && rootfs_ok {
        BootOutcome::Normal { revision: firmware_revision(model, nand) }
    } else {
        BootOutcome::Fastboot
    }
}
