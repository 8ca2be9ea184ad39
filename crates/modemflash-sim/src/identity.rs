//! The USB identity a virtual module presents in each mode: what a host reads from the
//! device descriptor and its strings (docs/facts/usb.md, "Identities per module and mode").
//!
//! The EC20 R1 rows are the field user's own kernel log and Windows hardware ids
//! [confirmed]. The EC25 rows mix confirmed facts (ids, the EDL descriptor set recorded by
//! fwupd) with assumptions, each marked where it is made.

use serde::Serialize;

use crate::boot::Model;
use modemflash::module::DeviceMode;

/// Device descriptor fields and strings of one enumeration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbIdentity {
    #[serde(serialize_with = "hex16")]
    pub vid: u16,
    #[serde(serialize_with = "hex16")]
    pub pid: u16,
    /// `bcdDevice`, written as sysfs does (`0232`).
    #[serde(serialize_with = "hex16")]
    pub bcd_device: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<&'static str>,
    /// Interfaces of the configuration (not all of them are served as ports).
    pub interfaces: u8,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` signature
fn hex16<S: serde::Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:04x}"))
}

impl UsbIdentity {
    /// `vid:pid`.
    pub fn id_string(&self) -> String {
        format!("{:04x}:{:04x}", self.vid, self.pid)
    }
}

/// What the 9615's boot ROM (DMSS) and its streaming programmer both show: 05c6:9215 with
/// bcdDevice 0, `QHSUSB_DLOAD`, no serial and one interface [confirmed, field log: the
/// module stayed 13 s like this while QFlash wrote the boot chain].
const EC20_R1_DLOAD: UsbIdentity = UsbIdentity {
    vid: 0x05c6,
    pid: 0x9215,
    bcd_device: 0x0000,
    manufacturer: Some("Qualcomm CDMA Technologies MSM"),
    product: Some("QHSUSB_DLOAD"),
    serial: None,
    interfaces: 1,
};

/// The identity of `model` in `mode`.
pub fn usb_identity(model: Model, mode: DeviceMode) -> UsbIdentity {
    match (model, mode) {
        // [confirmed] field thread: `USB\VID_05C6&PID_9215&REV_0232&MI_00`..`MI_04`. The
        // strings of normal mode are not recorded; these are assumptions.
        (Model::Ec20R1, DeviceMode::Normal) => UsbIdentity {
            vid: 0x05c6,
            pid: 0x9215,
            bcd_device: 0x0232,
            manufacturer: Some("Qualcomm, Incorporated"),
            product: Some("Qualcomm CDMA Technologies MSM"),
            serial: None,
            interfaces: 5,
        },
        (Model::Ec20R1, DeviceMode::Dload | DeviceMode::Streaming | DeviceMode::Edl) => EC20_R1_DLOAD,
        // [confirmed] field log: Quectel's LK on the 9615.
        (Model::Ec20R1, DeviceMode::Fastboot) => UsbIdentity {
            vid: 0x18d1,
            pid: 0xd00d,
            bcd_device: 0x0100,
            manufacturer: Some("Google"),
            product: Some("Android"),
            serial: Some("MDM9615"),
            interfaces: 1,
        },
        // [confirmed] id 2c7c:0125 and five interfaces; bcdDevice 0x0318 is the EG25-G's
        // (fwupd recording), assumed for the EC25; the strings are assumptions.
        (Model::Ec25, DeviceMode::Normal) => UsbIdentity {
            vid: 0x2c7c,
            pid: 0x0125,
            bcd_device: 0x0318,
            manufacturer: Some("Quectel"),
            product: Some("EC25"),
            serial: None,
            interfaces: 5,
        },
        // [confirmed] fwupd's EC25-AU descriptor set: bcdDevice 0, no serial, one ff/ff/ff
        // interface. The product string is assumed from the Windows bus name QHSUSB__BULK.
        (Model::Ec25, DeviceMode::Dload | DeviceMode::Streaming | DeviceMode::Edl) => UsbIdentity {
            vid: 0x05c6,
            pid: 0x9008,
            bcd_device: 0x0000,
            manufacturer: Some("Qualcomm CDMA Technologies MSM"),
            product: Some("QHSUSB__BULK"),
            serial: None,
            interfaces: 1,
        },
        // [confirmed] 18d1:d00d (fwupd quirk for EG25-G). bcdDevice, the strings and the
        // serial are assumed by analogy with the 9615's LK.
        (Model::Ec25, DeviceMode::Fastboot) => UsbIdentity {
            vid: 0x18d1,
            pid: 0xd00d,
            bcd_device: 0x0100,
            manufacturer: Some("Google"),
            product: Some("Android"),
            serial: Some("MDM9607"),
            interfaces: 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec20_r1_dload_is_the_normal_id_with_other_descriptors() {
        let normal = usb_identity(Model::Ec20R1, DeviceMode::Normal);
        for mode in [DeviceMode::Dload, DeviceMode::Streaming] {
            let d = usb_identity(Model::Ec20R1, mode);
            assert_eq!((d.vid, d.pid), (normal.vid, normal.pid));
            assert_eq!((d.bcd_device, d.product, d.serial, d.interfaces), (0, Some("QHSUSB_DLOAD"), None, 1));
        }
        assert_eq!((normal.bcd_device, normal.interfaces), (0x0232, 5));
        let fb = usb_identity(Model::Ec20R1, DeviceMode::Fastboot);
        assert_eq!((fb.id_string(), fb.bcd_device, fb.serial), ("18d1:d00d".into(), 0x0100, Some("MDM9615")));
        assert_eq!(usb_identity(Model::Ec25, DeviceMode::Edl).id_string(), "05c6:9008");
    }

    #[test]
    fn serialises_as_sysfs_writes_it() {
        let j = serde_json::to_value(usb_identity(Model::Ec20R1, DeviceMode::Dload)).unwrap();
        assert_eq!(j["vid"], "05c6");
        assert_eq!(j["bcd_device"], "0000");
        assert_eq!(j["product"], "QHSUSB_DLOAD");
        assert!(j.get("serial").is_none());
    }
}
