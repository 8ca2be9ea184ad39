//! The module's vocabulary, shared by discovery, planning, execution and the virtual
//! module (`modemflash-sim`): the mode a module is in ([`DeviceMode`]), the ports it shows
//! ([`Port`]), and what the planner knows about it ([`ModuleState`], [`ModuleChip`]).
//!
//! One definition each; the old paths (`plan::DeviceMode`, `discovery::Port`,
//! `plan::ModuleState`, `plan::ModuleChip`) re-export these.

use serde::{Deserialize, Serialize};

use crate::catalog::Chipset;

/// A module's state as the host (and the virtual module) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceMode {
    /// Firmware running: DIAG on the DM port, AT on the AT port.
    Normal,
    /// 9615 boot ROM download mode: DMSS on the DM port.
    Dload,
    /// 9615 streaming programmer running: streaming DLOAD on the DM port.
    Streaming,
    /// Fastboot (18d1:d00d).
    Fastboot,
    /// 9x07 EDL: Sahara on the QDLoader interface (then Firehose once the programmer runs).
    Edl,
}

impl DeviceMode {
    /// Every mode, in the order above.
    pub const ALL: [DeviceMode; 5] =
        [DeviceMode::Normal, DeviceMode::Dload, DeviceMode::Streaming, DeviceMode::Fastboot, DeviceMode::Edl];

    /// Name for people: `DLOAD`, `streaming programmer`.
    pub fn name(self) -> &'static str {
        match self {
            DeviceMode::Normal => "normal",
            DeviceMode::Dload => "DLOAD",
            DeviceMode::Streaming => "streaming programmer",
            DeviceMode::Fastboot => "fastboot",
            DeviceMode::Edl => "EDL",
        }
    }

    /// Short lower-case key, as serialised and as the virtual module's options take it:
    /// `normal`, `dload`, `streaming`, `fastboot`, `edl`.
    pub fn key(self) -> &'static str {
        match self {
            DeviceMode::Normal => "normal",
            DeviceMode::Dload => "dload",
            DeviceMode::Streaming => "streaming",
            DeviceMode::Fastboot => "fastboot",
            DeviceMode::Edl => "edl",
        }
    }

    /// The mode whose [`key`](Self::key) is `s`.
    pub fn parse(s: &str) -> Option<DeviceMode> {
        Self::ALL.into_iter().find(|m| m.key() == s)
    }
}

/// A port of the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Port {
    /// DIAG/DM: DIAG in normal mode, DMSS in DLOAD, streaming once the programmer runs.
    Dm,
    /// AT commands (normal mode).
    At,
    /// Fastboot, ready for fastboot packets (TCP framing already negotiated).
    Fastboot,
    /// The QDLoader bulk interface (Sahara, then Firehose).
    Edl,
}

impl Port {
    /// Name for people: `DM port`, `EDL interface`.
    pub fn name(self) -> &'static str {
        match self {
            Port::Dm => "DM port",
            Port::At => "AT port",
            Port::Fastboot => "fastboot",
            Port::Edl => "EDL interface",
        }
    }

    /// Short lower-case key, as serialised: `dm`, `at`, `fastboot`, `edl`.
    pub fn key(self) -> &'static str {
        match self {
            Port::Dm => "dm",
            Port::At => "at",
            Port::Fastboot => "fastboot",
            Port::Edl => "edl",
        }
    }
}

/// What a module said about its chipset, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleChip {
    pub chipset: Chipset,
    /// How it was told, for messages: `EC25 / EG25-G / EC20 R2, 2c7c:0125`.
    pub evidence: String,
}

impl ModuleChip {
    pub fn new(chipset: Chipset, evidence: impl Into<String>) -> Self {
        ModuleChip { chipset, evidence: evidence.into() }
    }

    /// `an MDM9x07 (EC25, 2c7c:0125)`.
    pub fn describe(&self) -> String {
        match self.chipset {
            Chipset::Mdm9615 | Chipset::Mdm9x07 => format!("an {} ({})", self.chipset.name(), self.evidence),
            Chipset::OtherQualcomm => format!("another Qualcomm chip ({})", self.evidence),
            Chipset::Unknown => format!("of unknown chipset ({})", self.evidence),
        }
    }
}

/// What the planner knows about the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleState {
    pub mode: DeviceMode,
    pub revision: Option<String>,
    /// The chipset, when what the module showed (its USB identity) tells it.
    pub chip: Option<ModuleChip>,
}

impl ModuleState {
    /// A module in `mode` that reports `revision`, chipset not yet told.
    pub fn new(mode: DeviceMode, revision: Option<String>) -> Self {
        ModuleState { mode, revision, chip: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_match_serde() {
        for m in DeviceMode::ALL {
            assert_eq!(DeviceMode::parse(m.key()), Some(m));
            assert_eq!(serde_json::to_string(&m).ok(), Some(format!("\"{}\"", m.key())));
        }
        assert_eq!(DeviceMode::parse("DLOAD"), None);
        for p in [Port::Dm, Port::At, Port::Fastboot, Port::Edl] {
            assert_eq!(serde_json::to_string(&p).ok(), Some(format!("\"{}\"", p.key())));
        }
    }
}
