//! USB identities (docs/facts/usb.md, "Identities per module and mode").
//!
//! A VID:PID does not always name a mode: the EC20 R1 (MDM9615) shows 05c6:9215 both in
//! normal mode and in DLOAD / while its streaming programmer runs [confirmed, field log].
//! Rows may therefore carry matchers (interface count, bcdDevice, iProduct) that the
//! device's own descriptors must agree with; [`lookup_device`] picks the first row whose
//! matchers agree.

use serde::Serialize;

use super::{Chipset, Mode};

/// What an interface of a composite device is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterfaceRole {
    /// Qualcomm DIAG (DM port): HDLC-framed DIAG, DMSS and streaming DLOAD.
    Diag,
    /// NMEA GNSS output.
    Nmea,
    /// AT command port.
    At,
    /// PPP modem port (also takes AT commands).
    Modem,
    /// QMI / ECM / MBIM network interface.
    Network,
    /// Single vendor-class interface of the QDLoader (Sahara/Firehose, or DMSS on 9615).
    QdLoader,
    /// Fastboot interface, class FF/42/03.
    Fastboot,
}

/// One interface in a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub number: u8,
    pub role: InterfaceRole,
    /// (class, subclass, protocol) when the facts pin it down.
    pub class: Option<(u8, u8, u8)>,
}

/// A catalogue row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsbId {
    pub vid: u16,
    pub pid: u16,
    /// Product family as users name it ("EC20 R1", "EC25 / EG25-G / EC20 R2").
    pub family: &'static str,
    pub chipset: Chipset,
    pub mode: Mode,
    pub interfaces: &'static [Interface],
    /// True when the row rests on inferred facts ([I]/[F] in the references).
    pub inferred: bool,
    /// What the device's descriptors must show for this row (all `None`: any device with
    /// the id).
    pub matchers: Matchers,
}

/// Descriptor facts that tell two modes with one VID:PID apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Matchers {
    pub interface_count: Option<usize>,
    pub bcd_device: Option<u16>,
    pub product: Option<&'static str>,
}

/// What is known of a device on the bus, for [`lookup_device`]; `None` = not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceFacts<'a> {
    pub vid: u16,
    pub pid: u16,
    pub interface_count: Option<usize>,
    pub bcd_device: Option<u16>,
    pub product: Option<&'a str>,
}

impl Matchers {
    const NONE: Matchers = Matchers { interface_count: None, bcd_device: None, product: None };

    fn is_empty(&self) -> bool {
        *self == Matchers::NONE
    }

    /// Every matcher whose fact is known agrees, and at least one fact is known.
    fn agree(&self, d: &DeviceFacts<'_>) -> bool {
        let checks = [
            self.interface_count.zip(d.interface_count).map(|(want, got)| want == got),
            self.bcd_device.zip(d.bcd_device).map(|(want, got)| want == got),
            self.product.zip(d.product).map(|(want, got)| want == got.trim()),
        ];
        checks.iter().any(Option::is_some) && checks.iter().all(|c| c.unwrap_or(true))
    }
}

const fn iface(number: u8, role: InterfaceRole) -> Interface {
    Interface { number, role, class: None }
}

/// EC2x normal-mode layout: DM=0, NMEA=1, AT=2, modem=3, network=4 [C].
const EC2X_LAYOUT: &[Interface] = &[
    iface(0, InterfaceRole::Diag),
    iface(1, InterfaceRole::Nmea),
    iface(2, InterfaceRole::At),
    iface(3, InterfaceRole::Modem),
    iface(4, InterfaceRole::Network),
];

const QDL_LAYOUT: &[Interface] =
    &[Interface { number: 0, role: InterfaceRole::QdLoader, class: Some((0xff, 0xff, 0xff)) }];

const FASTBOOT_LAYOUT: &[Interface] =
    &[Interface { number: 0, role: InterfaceRole::Fastboot, class: Some((0xff, 0x42, 0x03)) }];

const fn row(
    vid: u16,
    pid: u16,
    family: &'static str,
    chipset: Chipset,
    mode: Mode,
    interfaces: &'static [Interface],
    inferred: bool,
) -> UsbId {
    UsbId { vid, pid, family, chipset, mode, interfaces, inferred, matchers: Matchers::NONE }
}

/// The EC20 R1's single DLOAD interface: qcserial binds it (`ttyUSB0`) [confirmed, field log].
const DLOAD_LAYOUT: &[Interface] = &[Interface { number: 0, role: InterfaceRole::QdLoader, class: None }];

/// EC20 R1 in DLOAD and while the streaming programmer runs: still 05c6:9215, but
/// bcdDevice 0x0000, iProduct `QHSUSB_DLOAD` and one interface (normal mode: 0x0232, five)
/// (docs/facts/usb.md: 9615 DLOAD identity [confirmed, field log]).
const EC20_R1_DLOAD: UsbId = UsbId {
    vid: 0x05c6,
    pid: 0x9215,
    family: "EC20 R1",
    chipset: Chipset::Mdm9615,
    mode: Mode::Dload,
    interfaces: DLOAD_LAYOUT,
    inferred: false,
    matchers: Matchers { interface_count: Some(1), bcd_device: Some(0x0000), product: Some("QHSUSB_DLOAD") },
};

/// Every USB id modemflash recognises.
///
/// A row with matchers comes before the row of the same id without them.
pub static USB_IDS: &[UsbId] = &[
    EC20_R1_DLOAD,
    row(0x05c6, 0x9215, "EC20 R1", Chipset::Mdm9615, Mode::Normal, EC2X_LAYOUT, false),
    // The 9x07 boot ROM (and any Qualcomm EDL): the chipset is read from Sahara, not the id.
    row(0x05c6, 0x9008, "Qualcomm QDLoader (EDL)", Chipset::Unknown, Mode::QdLoader, QDL_LAYOUT, false),
    row(0x05c6, 0x900e, "Qualcomm crash dump", Chipset::Unknown, Mode::Dump, QDL_LAYOUT, false),
    row(
        0x05c6,
        0x901f,
        "Qualcomm default composition (SDX20)",
        Chipset::OtherQualcomm,
        Mode::Normal,
        &[],
        true,
    ),
    row(0x05c6, 0x9091, "Qualcomm default composition", Chipset::OtherQualcomm, Mode::Normal, &[], true),
    row(0x18d1, 0xd00d, "Quectel LK fastboot", Chipset::Unknown, Mode::Fastboot, FASTBOOT_LAYOUT, false),
    row(0x2c7c, 0x0121, "EC21", Chipset::Mdm9x07, Mode::Normal, EC2X_LAYOUT, false),
    // EC20 R2.x sharing 0125 is a common report, not a confirmed fact [I].
    row(0x2c7c, 0x0125, "EC25 / EG25-G / EC20 R2", Chipset::Mdm9x07, Mode::Normal, EC2X_LAYOUT, false),
    row(0x2c7c, 0x0191, "EG91", Chipset::Mdm9x07, Mode::Normal, EC2X_LAYOUT, false),
    row(0x2c7c, 0x0195, "EG95", Chipset::Mdm9x07, Mode::Normal, EC2X_LAYOUT, false),
    // BG96 (MDM9206), EP06/EM12 (SDX20) and RM500Q/RM520N (SDX55/SDX6x): listed for
    // identification; the chipset column is ours, from public product data [I].
    row(0x2c7c, 0x0296, "BG96", Chipset::OtherQualcomm, Mode::Normal, &[], true),
    row(0x2c7c, 0x0306, "EP06", Chipset::OtherQualcomm, Mode::Normal, &[], true),
    row(0x2c7c, 0x0512, "EM12", Chipset::OtherQualcomm, Mode::Normal, &[], true),
    row(0x2c7c, 0x0800, "RM500Q", Chipset::OtherQualcomm, Mode::Normal, &[], true),
    row(0x2c7c, 0x0801, "RM520N", Chipset::OtherQualcomm, Mode::Normal, &[], true),
];

/// Look a device up by id. `interface_count`, when known, refines the answer: a 2c7c:0800
/// with a single interface is the 5G dump mode (docs/facts/usb.md).
pub fn lookup(vid: u16, pid: u16, interface_count: Option<usize>) -> Option<UsbId> {
    lookup_device(&DeviceFacts { vid, pid, interface_count, ..DeviceFacts::default() })
}

/// Look a device up by id and descriptors: the first row of the id whose matchers agree
/// with what is known, else the id's row without matchers.
pub fn lookup_device(d: &DeviceFacts<'_>) -> Option<UsbId> {
    let (vid, pid, interface_count) = (d.vid, d.pid, d.interface_count);
    let mut rows = USB_IDS.iter().filter(|r| r.vid == vid && r.pid == pid);
    let found = rows
        .clone()
        .find(|r| !r.matchers.is_empty() && r.matchers.agree(d))
        .or_else(|| rows.find(|r| r.matchers.is_empty()))
        .copied()?;
    if vid == 0x2c7c && pid == 0x0800 && interface_count == Some(1) {
        return Some(UsbId { mode: Mode::Dump, family: "RM500Q (dump mode)", ..found });
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec20_r1_layout() {
        let r = lookup(0x05c6, 0x9215, None).unwrap();
        assert_eq!(r.chipset, Chipset::Mdm9615);
        assert_eq!(r.mode, Mode::Normal);
        let roles: Vec<_> = r.interfaces.iter().map(|i| (i.number, i.role)).collect();
        assert_eq!(
            roles,
            vec![
                (0, InterfaceRole::Diag),
                (1, InterfaceRole::Nmea),
                (2, InterfaceRole::At),
                (3, InterfaceRole::Modem),
                (4, InterfaceRole::Network)
            ]
        );
    }

    #[test]
    fn ec20_r1_dload_shares_the_normal_id() {
        // The field log: DLOAD is 05c6:9215 with bcdDevice 0, QHSUSB_DLOAD, one interface.
        let facts = |n, bcd, product| DeviceFacts {
            vid: 0x05c6,
            pid: 0x9215,
            interface_count: n,
            bcd_device: bcd,
            product,
        };
        let dload = lookup_device(&facts(Some(1), Some(0), Some("QHSUSB_DLOAD"))).unwrap();
        assert_eq!((dload.mode, dload.chipset, dload.family), (Mode::Dload, Chipset::Mdm9615, "EC20 R1"));
        assert_eq!(dload.interfaces[0].role, InterfaceRole::QdLoader);
        // Any one decisive fact is enough; a contradiction is not DLOAD.
        assert_eq!(lookup_device(&facts(Some(1), None, None)).unwrap().mode, Mode::Dload);
        assert_eq!(lookup_device(&facts(None, Some(0), None)).unwrap().mode, Mode::Dload);
        let normal = lookup_device(&facts(Some(5), Some(0x0232), Some("Qualcomm CDMA Technologies MSM")));
        assert_eq!(normal.unwrap().mode, Mode::Normal);
        assert_eq!(lookup_device(&facts(Some(5), Some(0), None)).unwrap().mode, Mode::Normal);
        assert_eq!(lookup(0x05c6, 0x9215, None).unwrap().mode, Mode::Normal, "nothing known: the plain row");
    }

    #[test]
    fn qdloader_and_fastboot() {
        assert_eq!(lookup(0x05c6, 0x9008, None).unwrap().mode, Mode::QdLoader);
        let fb = lookup(0x18d1, 0xd00d, None).unwrap();
        assert_eq!(fb.mode, Mode::Fastboot);
        assert_eq!(fb.interfaces[0].class, Some((0xff, 0x42, 0x03)));
    }

    #[test]
    fn quectel_ids_present() {
        for pid in [0x0121, 0x0125, 0x0191, 0x0195, 0x0296, 0x0306, 0x0512, 0x0800, 0x0801] {
            assert!(lookup(0x2c7c, pid, None).is_some(), "2c7c:{pid:04x}");
        }
        assert_eq!(lookup(0x2c7c, 0x0125, None).unwrap().chipset, Chipset::Mdm9x07);
        assert_eq!(lookup(0x2c7c, 0x0800, Some(1)).unwrap().mode, Mode::Dump);
        assert_eq!(lookup(0x2c7c, 0x0800, Some(5)).unwrap().mode, Mode::Normal);
        assert!(lookup(0x1234, 0x5678, None).is_none());
    }
}
