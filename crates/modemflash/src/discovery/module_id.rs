//! Which module this is: the identities each mode can show, and how two sets of them
//! compare. Pure data; `exec` collects them as a run learns them and the journal keeps them
//! (`docs/journal.md` has the policy).
//!
//! What each mode shows (docs/facts/usb.md, fastboot.md, sahara.md, firehose.md):
//! - normal mode: the IMEI (`AT+GSN`), as `discovery::identity` reads it;
//! - EDL with the boot ROM: the chip serial (Sahara command mode `SERIAL_NUM_READ`);
//! - EDL with the Firehose programmer: the chip serial in its `Chip serial num:` start-up log;
//! - fastboot: `getvar:serialno`, which is also the USB serial string. The EC20 R1's LK
//!   reports `MDM9615` there, the same on every such module [confirmed, field log], so a
//!   value shared by a whole product is no identity;
//! - 9615 DLOAD and 05c6:9008 EDL: no USB serial string (docs/facts/usb.md) [confirmed,
//!   field log and EC25-AU descriptors];
//! - every mode: the USB port path (`3-4`), which says where, not which.

use serde::{Deserialize, Serialize};

use crate::module::DeviceMode;

/// Serial values that many modules share, so they never identify one (compared
/// ignoring case). [confirmed] `MDM9615`: the EC20 R1's LK (field log). [inferred] the
/// other chip names, on the assumption that other Quectel LKs do the same, and the AOSP
/// default serial `0123456789ABCDEF`. Data on purpose: extend it when a field log shows
/// another shared value. A serial equal to the module's fastboot `product` is also
/// treated as shared ([`ModuleIdentity::set_fastboot`]).
pub const SHARED_SERIALS: &[&str] =
    &["MDM9615", "MDM9607", "MDM9207", "MDM9628", "MDM9640", "0123456789ABCDEF", "0", "00000000"];

/// Whether a serial string tells one module from another.
pub fn is_distinct_serial(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && !SHARED_SERIALS.iter().any(|x| x.eq_ignore_ascii_case(s))
}

/// What is known about which module this is. Every field is optional: each mode shows
/// some of them, and a run fills them in as it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleIdentity {
    /// IMEI, from `AT+GSN` in normal mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// The module's serial number in normal mode (DIAG or AT), where one is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The chip serial: Sahara `SERIAL_NUM_READ` or the Firehose `Chip serial num:` log.
    /// Zero is no identity (an SDX programmer logs `Chip serial num: 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip_serial: Option<u32>,
    /// Fastboot `getvar:serialno`, when it is not a shared value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fastboot_serial: Option<String>,
    /// The USB serial string, when the mode has one that is not a shared value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usb_serial: Option<String>,
    /// The mode the USB serial string was seen in. Each mode's USB device has its own
    /// string, so two are compared only when seen in the same mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usb_serial_mode: Option<DeviceMode>,
    /// The USB port path (`3-4`), or another stable place name. Where, not which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_path: Option<String>,
}

/// One identity that two records agree or disagree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdKind {
    Imei,
    Serial,
    ChipSerial,
    FastbootSerial,
    UsbSerial,
}

impl IdKind {
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Imei => "IMEI",
            IdKind::Serial => "serial number",
            IdKind::ChipSerial => "chip serial",
            IdKind::FastbootSerial => "fastboot serial",
            IdKind::UsbSerial => "USB serial",
        }
    }
}

/// How two identities compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Comparison {
    /// Positively the same module: these identities are equal and none differs.
    Same { matched: Vec<(IdKind, String)> },
    /// Positively another module: this identity differs.
    Other { kind: IdKind, recorded: String, seen: String },
    /// Nothing to compare (a mode without identity, or nothing recorded yet).
    Unknown,
}

impl ModuleIdentity {
    /// The identities that tell one module from another, as text.
    pub fn distinct(&self) -> Vec<(IdKind, String)> {
        let mut v = Vec::new();
        if let Some(x) = &self.imei {
            v.push((IdKind::Imei, x.clone()));
        }
        if let Some(x) = &self.serial {
            v.push((IdKind::Serial, x.clone()));
        }
        if let Some(x) = self.chip_serial {
            v.push((IdKind::ChipSerial, format!("{x:#010x}")));
        }
        if let Some(x) = &self.fastboot_serial {
            v.push((IdKind::FastbootSerial, x.clone()));
        }
        if let Some(x) = &self.usb_serial {
            v.push((IdKind::UsbSerial, x.clone()));
        }
        v
    }

    /// Whether any identity tells this module from another.
    pub fn is_anonymous(&self) -> bool {
        self.distinct().is_empty()
    }

    /// Record the IMEI.
    pub fn set_imei(&mut self, imei: &str) {
        let imei = imei.trim();
        if !imei.is_empty() && imei.bytes().any(|b| b != b'0') {
            self.imei = Some(imei.to_owned());
        }
    }

    /// Record a chip serial; zero is no identity.
    pub fn set_chip_serial(&mut self, serial: u32) {
        if serial != 0 {
            self.chip_serial = Some(serial);
        }
    }

    /// Record fastboot's `serialno`; a shared value, or one equal to `product`, is none.
    pub fn set_fastboot(&mut self, serialno: &str, product: Option<&str>) {
        let s = serialno.trim();
        let same_as_product = product.is_some_and(|p| p.trim().eq_ignore_ascii_case(s));
        if is_distinct_serial(s) && !same_as_product {
            self.fastboot_serial = Some(s.to_owned());
        }
    }

    /// Record a USB serial string; a shared value is none.
    pub fn set_usb_serial(&mut self, s: Option<&str>) {
        if let Some(s) = s.map(str::trim).filter(|s| is_distinct_serial(s)) {
            self.usb_serial = Some(s.to_owned());
        }
    }

    /// Add what `other` knows and this does not (the port path follows `other`, the
    /// latest place the module was seen).
    pub fn merge(&mut self, other: &ModuleIdentity) {
        fn fill<T: Clone>(a: &mut Option<T>, b: Option<&T>) {
            if a.is_none() {
                *a = b.cloned();
            }
        }
        fill(&mut self.imei, other.imei.as_ref());
        fill(&mut self.serial, other.serial.as_ref());
        fill(&mut self.chip_serial, other.chip_serial.as_ref());
        fill(&mut self.fastboot_serial, other.fastboot_serial.as_ref());
        if self.usb_serial.is_none() {
            self.usb_serial.clone_from(&other.usb_serial);
            self.usb_serial_mode = other.usb_serial_mode;
        }
        if other.port_path.is_some() {
            self.port_path.clone_from(&other.port_path);
        }
    }

    /// Compare what was recorded (`self`) with what is seen now. Any identity that
    /// differs makes it another module, even when another one matches: starting over on
    /// the same module only costs time, resuming on another one leaves it half-written.
    pub fn compare(&self, seen: &ModuleIdentity) -> Comparison {
        let same_usb_mode = self.usb_serial_mode.is_some() && self.usb_serial_mode == seen.usb_serial_mode;
        let keep = |v: Vec<(IdKind, String)>| -> Vec<(IdKind, String)> {
            v.into_iter().filter(|(k, _)| *k != IdKind::UsbSerial || same_usb_mode).collect()
        };
        let mine = keep(self.distinct());
        let theirs = keep(seen.distinct());
        let mut matched = Vec::new();
        for (kind, value) in &mine {
            if let Some((_, other)) = theirs.iter().find(|(k, _)| k == kind) {
                if other.eq_ignore_ascii_case(value) {
                    matched.push((*kind, value.clone()));
                } else {
                    return Comparison::Other { kind: *kind, recorded: value.clone(), seen: other.clone() };
                }
            }
        }
        if matched.is_empty() { Comparison::Unknown } else { Comparison::Same { matched } }
    }

    /// One line for people: `IMEI 8676…, chip serial 0x…, at usb:3-4`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> =
            self.distinct().iter().map(|(k, v)| format!("{} {v}", k.name())).collect();
        if let Some(p) = &self.port_path {
            parts.push(format!("at {p}"));
        }
        if parts.is_empty() { "no identity".into() } else { parts.join(", ") }
    }
}

/// The chip serial in a Firehose start-up log line: `Chip serial num: 217664612 (0xcf94c64)`
/// (also with an `INFO: ` prefix).
pub fn parse_chip_serial_log(line: &str) -> Option<u32> {
    let at = line.find("Chip serial num:")?;
    let rest = line.get(at + "Chip serial num:".len()..)?.trim_start();
    let digits: &str = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(imei: Option<&str>, chip: Option<u32>, path: Option<&str>) -> ModuleIdentity {
        ModuleIdentity {
            imei: imei.map(Into::into),
            chip_serial: chip,
            port_path: path.map(Into::into),
            ..ModuleIdentity::default()
        }
    }

    #[test]
    fn chip_serial_log_lines() {
        assert_eq!(parse_chip_serial_log("Chip serial num: 217664612 (0xcf94c64)"), Some(217_664_612));
        assert_eq!(parse_chip_serial_log("INFO: Chip serial num: 0 (0x0)"), Some(0));
        assert_eq!(parse_chip_serial_log("Chip serial num: 99999999999"), None);
        assert_eq!(parse_chip_serial_log("Binary build date"), None);
    }

    #[test]
    fn shared_serials_are_no_identity() {
        let mut m = ModuleIdentity::default();
        m.set_fastboot("MDM9615", Some("MDM9615"));
        m.set_fastboot("mdm9615", None);
        m.set_usb_serial(Some("MDM9615"));
        m.set_chip_serial(0);
        m.set_imei("000000000000000");
        assert!(m.is_anonymous(), "{m:?}");
        // A serial equal to the product name is shared even when not in the table.
        m.set_fastboot("SDX55", Some("sdx55"));
        assert!(m.is_anonymous());
        m.set_fastboot("97XAY12BGM", Some("sargo"));
        assert_eq!(m.fastboot_serial.as_deref(), Some("97XAY12BGM"));
    }

    #[test]
    fn compare_same_other_unknown() {
        let a = id(Some("867698040000001"), Some(0x0cf9_4c64), Some("3-4"));
        assert!(matches!(a.compare(&id(Some("867698040000001"), None, None)), Comparison::Same { .. }));
        assert!(matches!(
            a.compare(&id(Some("867698040000002"), None, Some("3-4"))),
            Comparison::Other { kind: IdKind::Imei, .. }
        ));
        // One equal and one different identity: another module.
        assert!(matches!(
            a.compare(&id(Some("867698040000001"), Some(1), None)),
            Comparison::Other { kind: IdKind::ChipSerial, .. }
        ));
        // A port path alone is never a positive match.
        assert_eq!(a.compare(&id(None, None, Some("3-4"))), Comparison::Unknown);
        assert_eq!(ModuleIdentity::default().compare(&a), Comparison::Unknown);
    }

    #[test]
    fn usb_serials_of_different_modes_are_not_compared() {
        let usb = |s: &str, m: DeviceMode| ModuleIdentity {
            usb_serial: Some(s.into()),
            usb_serial_mode: Some(m),
            ..ModuleIdentity::default()
        };
        let normal = usb("A1B2", DeviceMode::Normal);
        assert_eq!(normal.compare(&usb("FB99", DeviceMode::Fastboot)), Comparison::Unknown);
        assert!(matches!(normal.compare(&usb("C3D4", DeviceMode::Normal)), Comparison::Other { .. }));
        assert!(matches!(normal.compare(&usb("a1b2", DeviceMode::Normal)), Comparison::Same { .. }));
    }

    #[test]
    fn merge_keeps_known_and_follows_the_path() {
        let mut a = id(Some("1"), None, Some("3-4"));
        a.merge(&id(Some("2"), Some(7), Some("1-1")));
        assert_eq!(a, id(Some("1"), Some(7), Some("1-1")));
        assert_eq!(a.describe(), "IMEI 1, chip serial 0x00000007, at 1-1");
    }
}
