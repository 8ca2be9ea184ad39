//! Never write one chipset's firmware onto another chipset's module.
//!
//! The package's chipset follows from its kind and contents (a legacy 9615 layout, or a
//! 9x07 Firehose layout); a folder name never decides it. The module's chipset follows
//! from what it says: its USB identity (catalogue), the revision it reports in normal
//! mode, fastboot `getvar product` (`MDM9615` on the EC20 R1's LK, docs/facts/usb.md), the
//! Sahara MSM HW id in EDL, and the protocol its boot ROM speaks (DMSS only on the 9615).
//!
//! Where the module's chipset is known when planning, a mismatch is a [`PlanError`]
//! (refused even when forced). Where it becomes known only later (the Sahara HW id needs
//! command mode), the plan starts with a [`Op::CheckChipset`] step that the executor runs
//! before the first write: the check is data in the plan, not policy in the executor.

use super::{Op, PlanError, Step};
use crate::catalog::{Chipset, Revision};
pub use crate::module::ModuleChip;
use crate::module::{DeviceMode, ModuleState};
use crate::package::Package;

/// What a package is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageChip {
    pub chipset: Chipset,
    /// `MDM9615 (EC20 R1, legacy DMSS/streaming/fastboot)`.
    pub what: String,
}

/// The package's chipset, from what it contains: a legacy layout (`.hex` programmers, the
/// 9615 file roles) is MDM9615, a Firehose layout (a 9x07 programmer and rawprogram XML)
/// is MDM9x07. [`Package`] may later tell it from finer contents; this is the one place
/// that asks.
pub fn package_chipset(p: &Package) -> Chipset {
    // From the package's kind and contents, never its folder or zip name (`package::open`).
    match p.chipset() {
        Chipset::Unknown if p.legacy.is_some() => Chipset::Mdm9615,
        Chipset::Unknown if p.firehose.is_some() => Chipset::Mdm9x07,
        c => c,
    }
}

/// The package's chipset with words for messages.
pub fn package_chip(p: &Package) -> PackageChip {
    let chipset = package_chipset(p);
    let what = match chipset {
        Chipset::Mdm9615 => "MDM9615 (EC20 R1, legacy DMSS/streaming/fastboot)".to_owned(),
        Chipset::Mdm9x07 => "MDM9x07 (EC25/EC21/EG25-G/EC20 R2, EDL Sahara/Firehose)".to_owned(),
        other => other.name().to_owned(),
    };
    PackageChip { chipset, what }
}

/// The chipset a revision string names (the catalogue's rule table), if it names one.
pub fn chip_from_revision(revision: &str) -> Option<ModuleChip> {
    match Revision::parse(revision).chipset() {
        Chipset::Unknown => None,
        c => Some(ModuleChip::new(c, format!("reports revision {}", revision.trim()))),
    }
}

/// The chipset a fastboot `product` (or the fastboot serial) names: `MDM9615` on the EC20
/// R1's LK [confirmed, field log]; `MDM9607`/`MDM9207` on a 9x07 LK [inferred by analogy].
pub fn chip_from_fastboot_product(product: &str) -> Option<ModuleChip> {
    let p = product.trim().to_ascii_uppercase();
    let chipset = if p.starts_with("MDM9615") {
        Chipset::Mdm9615
    } else if ["MDM9607", "MDM9207", "MDM9X07", "MDM9206"].iter().any(|s| p.starts_with(s)) {
        Chipset::Mdm9x07
    } else {
        return None;
    };
    Some(ModuleChip::new(chipset, format!("fastboot product {}", product.trim())))
}

/// MSM_IDs read through Sahara command mode and what they are (docs/facts/sahara.md):
/// 0x000480E1 is the MDM9x07 family (MDM9207/MDM9607) [confirmed: real 9x07 boards, edl
/// logs and the EC25-E capture]. Data, so a new id is one line.
pub const MSM_IDS: &[(u32, Chipset, &str)] = &[(0x0004_80E1, Chipset::Mdm9x07, "MDM9207/MDM9607")];

/// The chipset a Sahara MSM_ID names: a known one, else "another Qualcomm chip".
pub fn chip_from_msm_id(msm_id: u32) -> ModuleChip {
    match MSM_IDS.iter().find(|(id, _, _)| *id == msm_id) {
        Some((_, c, name)) => ModuleChip::new(*c, format!("Sahara MSM_ID {msm_id:#010x}, {name}")),
        None => ModuleChip::new(Chipset::OtherQualcomm, format!("Sahara MSM_ID {msm_id:#010x}")),
    }
}

/// What the mode alone says. DMSS download mode and the streaming programmer belong to
/// the 9615 path: the 9x07 boot ROM speaks Sahara instead [inferred from both flows,
/// docs/facts/dmss.md and sahara.md].
pub fn chip_from_mode(mode: DeviceMode) -> Option<ModuleChip> {
    match mode {
        DeviceMode::Dload | DeviceMode::Streaming => Some(ModuleChip::new(
            Chipset::Mdm9615,
            format!("its boot ROM speaks DMSS ({} mode)", mode.name()),
        )),
        DeviceMode::Normal | DeviceMode::Fastboot | DeviceMode::Edl => None,
    }
}

/// The module's chipset as far as it is known from its state.
pub fn module_chip(module: &ModuleState) -> Option<ModuleChip> {
    module
        .chip
        .clone()
        .or_else(|| module.revision.as_deref().and_then(chip_from_revision))
        .or_else(|| chip_from_mode(module.mode))
}

/// Refuse a module whose chipset is not the package's.
pub fn refuse_mismatch(package: &PackageChip, module: &ModuleChip) -> Result<(), PlanError> {
    if package.chipset == module.chipset || package.chipset == Chipset::Unknown {
        return Ok(());
    }
    Err(PlanError::WrongChipset { package: package.what.clone(), module: module.describe() })
}

/// Compare the package with the module before anything is written. `Ok(None)`: they
/// match. `Ok(Some(step))`: the module's chipset is not known yet; `step` finds it out
/// in the mode the module is in, and must run first.
pub fn check(package: &PackageChip, module: &ModuleState) -> Result<Option<Step>, PlanError> {
    if let Some(chip) = module_chip(module) {
        refuse_mismatch(package, &chip)?;
        return Ok(None);
    }
    if package.chipset == Chipset::Mdm9615 && module.mode == DeviceMode::Edl {
        // The 9615 shows no Sahara boot ROM (its DLOAD is DMSS on 05c6:9215, docs/facts/usb.md).
        return Err(PlanError::WrongChipset {
            package: package.what.clone(),
            module: "in EDL (a Sahara boot ROM, which an MDM9615 does not have)".into(),
        });
    }
    if package.chipset == Chipset::Unknown {
        return Ok(None);
    }
    let how = match module.mode {
        DeviceMode::Edl => "the Sahara MSM HW id",
        DeviceMode::Fastboot => "fastboot getvar product",
        DeviceMode::Normal => "the revision it reports",
        DeviceMode::Dload | DeviceMode::Streaming => "the protocol it speaks",
    };
    Ok(Some(Step {
        id: "check:chipset".into(),
        title: format!("check that the module is an {} ({how})", package.chipset.name()),
        needs: module.mode,
        leads_to: None,
        durable: false,
        bytes: 0,
        op: Op::CheckChipset {
            expected: package.chipset,
            package: package.what.clone(),
            probe: crate::protocol::edl::EdlProbe::default(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(c: Chipset) -> PackageChip {
        PackageChip { chipset: c, what: format!("{} package", c.name()) }
    }

    fn state(mode: DeviceMode, revision: Option<&str>, chip: Option<ModuleChip>) -> ModuleState {
        ModuleState { mode, revision: revision.map(str::to_owned), chip }
    }

    #[test]
    fn known_mismatches_are_refused_naming_both_sides() {
        let ec25 = ModuleChip::new(Chipset::Mdm9x07, "EC25 / EG25-G / EC20 R2, 2c7c:0125");
        let e = check(&pkg(Chipset::Mdm9615), &state(DeviceMode::Normal, None, Some(ec25))).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("MDM9615 package") && text.contains("an MDM9x07 (EC25"), "{text}");
        // From the revision alone, and from the boot ROM's protocol.
        let e = check(&pkg(Chipset::Mdm9x07), &state(DeviceMode::Normal, Some("EC20AQAR02A03E2G"), None));
        assert!(e.unwrap_err().to_string().contains("an MDM9615 (reports revision EC20AQAR02A03E2G)"));
        assert!(check(&pkg(Chipset::Mdm9x07), &state(DeviceMode::Dload, None, None)).is_err());
        assert!(check(&pkg(Chipset::Mdm9615), &state(DeviceMode::Edl, None, None)).is_err());
    }

    #[test]
    fn matches_pass_and_unknowns_become_a_first_step() {
        assert_eq!(check(&pkg(Chipset::Mdm9615), &state(DeviceMode::Streaming, None, None)), Ok(None));
        let rev = state(DeviceMode::Normal, Some("EC25EFAR06A08M4G"), None);
        assert_eq!(check(&pkg(Chipset::Mdm9x07), &rev), Ok(None));
        let step = check(&pkg(Chipset::Mdm9x07), &state(DeviceMode::Edl, None, None)).unwrap().unwrap();
        assert_eq!((step.needs, step.durable), (DeviceMode::Edl, false));
        assert!(matches!(step.op, Op::CheckChipset { expected: Chipset::Mdm9x07, .. }));
        let step = check(&pkg(Chipset::Mdm9615), &state(DeviceMode::Fastboot, None, None)).unwrap().unwrap();
        assert_eq!(step.needs, DeviceMode::Fastboot);
    }

    #[test]
    fn evidence_parsers() {
        assert_eq!(chip_from_fastboot_product("MDM9615").unwrap().chipset, Chipset::Mdm9615);
        assert_eq!(chip_from_fastboot_product("mdm9607").unwrap().chipset, Chipset::Mdm9x07);
        assert!(chip_from_fastboot_product("sdm845").is_none());
        assert_eq!(chip_from_msm_id(0x0004_80E1).chipset, Chipset::Mdm9x07);
        assert_eq!(chip_from_msm_id(0x0070_50E1).chipset, Chipset::OtherQualcomm);
        assert!(chip_from_revision("garbage").is_none());
    }
}
