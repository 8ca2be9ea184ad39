//! The USB descriptors a virtual module shows in each mode: the device descriptor and
//! strings from [`crate::identity`], and the interfaces and endpoints of its configuration
//! (docs/facts/usb.md, "Identities per module and mode" and "Which interface is which").
//!
//! [confirmed] The 05c6:9008 EDL descriptor set is fwupd's recording of an EC25-AU byte for
//! byte (one ff/ff/ff interface, bulk 0x81 IN then 0x01 OUT at 512, bmAttributes 0x80,
//! bMaxPower 2 mA). The normal-mode order DM 0, NMEA 1, AT 2, modem 3, QMI 4 is confirmed
//! (Linux option.c / qcserial, QFirehose). [inferred] The other endpoint numbers, the
//! interrupt endpoints of the serial and QMI interfaces, and the configuration attributes
//! outside EDL follow the usual Quectel `lsusb -v`; the 9615 DLOAD and fastboot interfaces
//! use the 9008's endpoint pair. Change [`interfaces`] when a recording says otherwise.

use crate::boot::Model;
use crate::identity::{UsbIdentity, usb_identity};
use modemflash::module::{DeviceMode, Port};

pub const BULK: u8 = 2;
pub const INTERRUPT: u8 = 3;
/// Bulk max packet size at high speed.
pub const HS_BULK: u16 = 512;

/// One endpoint descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointDesc {
    pub address: u8,
    pub attributes: u8,
    pub max_packet: u16,
    pub interval: u8,
}

/// One interface, and the module endpoint (role) behind it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceDesc {
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub endpoints: Vec<EndpointDesc>,
    pub role: Option<Port>,
}

impl InterfaceDesc {
    /// The bulk IN and OUT endpoint addresses.
    pub fn bulk_pair(&self) -> (Option<u8>, Option<u8>) {
        let find = |inward: bool| {
            self.endpoints
                .iter()
                .find(|e| e.attributes == BULK && (e.address & 0x80 != 0) == inward)
                .map(|e| e.address)
        };
        (find(true), find(false))
    }
}

/// What the host reads from one enumeration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptors {
    pub identity: UsbIdentity,
    pub serial: Option<String>,
    pub interfaces: Vec<InterfaceDesc>,
    pub config_attributes: u8,
    /// In 2 mA units.
    pub max_power: u8,
}

const fn bulk(address: u8) -> EndpointDesc {
    EndpointDesc { address, attributes: BULK, max_packet: HS_BULK, interval: 0 }
}

/// A vendor serial interface: notification (interrupt) endpoint, bulk IN, bulk OUT.
fn serial_if(n: u8, subclass: u8, protocol: u8, role: Option<Port>) -> InterfaceDesc {
    InterfaceDesc {
        class: 0xff,
        subclass,
        protocol,
        endpoints: vec![
            EndpointDesc { address: 0x81 + 2 * n, attributes: INTERRUPT, max_packet: 10, interval: 9 },
            bulk(0x80 + 2 * n),
            bulk(1 + n),
        ],
        role,
    }
}

/// The interfaces of `model` in `mode`.
pub fn interfaces(model: Model, mode: DeviceMode) -> Vec<InterfaceDesc> {
    let one = |subclass: u8, protocol: u8, role: Port| {
        vec![InterfaceDesc {
            class: 0xff,
            subclass,
            protocol,
            endpoints: vec![bulk(0x81), bulk(0x01)],
            role: Some(role),
        }]
    };
    match (model, mode) {
        (_, DeviceMode::Normal) => {
            let mut v = vec![InterfaceDesc {
                class: 0xff,
                subclass: 0xff,
                protocol: 0xff,
                // DIAG has exactly two endpoints: option's EC25 entry matches on that.
                endpoints: vec![bulk(0x81), bulk(0x01)],
                role: Some(Port::Dm),
            }];
            v.push(serial_if(1, 0, 0, None));
            v.push(serial_if(2, 0, 0, Some(Port::At)));
            v.push(serial_if(3, 0, 0, None));
            let mut qmi = serial_if(4, 0xff, 0xff, None);
            if let Some(n) = qmi.endpoints.first_mut() {
                n.max_packet = 8;
            }
            v.push(qmi);
            v
        }
        (Model::Ec20R1, DeviceMode::Dload | DeviceMode::Streaming | DeviceMode::Edl) => {
            one(0xff, 0xff, Port::Dm)
        }
        (Model::Ec25, DeviceMode::Dload | DeviceMode::Streaming | DeviceMode::Edl) => {
            one(0xff, 0xff, Port::Edl)
        }
        // docs/facts/usb.md: fastboot's interface class ff/42/03 [confirmed].
        (_, DeviceMode::Fastboot) => one(0x42, 0x03, Port::Fastboot),
    }
}

/// Everything a host reads in this enumeration.
pub fn descriptors(model: Model, mode: DeviceMode, serial: Option<String>) -> Descriptors {
    let identity = usb_identity(model, mode);
    let interfaces = interfaces(model, mode);
    let (config_attributes, max_power) = match mode {
        // [confirmed] fwupd's EC25-AU EDL recording; assumed the same for the 9615's DLOAD.
        DeviceMode::Edl | DeviceMode::Dload | DeviceMode::Streaming => (0x80, 1),
        // [inferred] remote wakeup, 500 mA.
        DeviceMode::Normal => (0xa0, 250),
        DeviceMode::Fastboot => (0x80, 250),
    };
    Descriptors { identity, serial, interfaces, config_attributes, max_power }
}

/// String descriptor indices.
const I_MANUFACTURER: u8 = 1;
const I_PRODUCT: u8 = 2;
const I_SERIAL: u8 = 3;

impl Descriptors {
    /// The 18-byte device descriptor (bcdUSB 2.00, class in the interfaces, ep0 64 bytes).
    pub fn device(&self) -> Vec<u8> {
        let id = &self.identity;
        let mut d = vec![18, 1, 0x00, 0x02, 0, 0, 0, 64];
        d.extend_from_slice(&id.vid.to_le_bytes());
        d.extend_from_slice(&id.pid.to_le_bytes());
        d.extend_from_slice(&id.bcd_device.to_le_bytes());
        d.push(if id.manufacturer.is_some() { I_MANUFACTURER } else { 0 });
        d.push(if id.product.is_some() { I_PRODUCT } else { 0 });
        d.push(if self.serial.is_some() { I_SERIAL } else { 0 });
        d.push(1);
        d
    }

    /// The configuration descriptor with its interfaces and endpoints.
    pub fn configuration(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (n, i) in self.interfaces.iter().enumerate() {
            let eps = u8::try_from(i.endpoints.len()).unwrap_or(u8::MAX);
            body.extend_from_slice(&[9, 4, n as u8, 0, eps, i.class, i.subclass, i.protocol, 0]);
            for e in &i.endpoints {
                body.extend_from_slice(&[7, 5, e.address, e.attributes]);
                body.extend_from_slice(&e.max_packet.to_le_bytes());
                body.push(e.interval);
            }
        }
        let total = u16::try_from(body.len() + 9).unwrap_or(u16::MAX);
        let mut d = vec![9, 2];
        d.extend_from_slice(&total.to_le_bytes());
        let n = u8::try_from(self.interfaces.len()).unwrap_or(u8::MAX);
        d.extend_from_slice(&[n, 1, 0, self.config_attributes, self.max_power]);
        d.extend_from_slice(&body);
        d
    }

    /// String descriptor `index` (0: the language list, US English).
    pub fn string(&self, index: u8) -> Option<Vec<u8>> {
        let text: &str = match index {
            0 => return Some(vec![4, 3, 0x09, 0x04]),
            I_MANUFACTURER => self.identity.manufacturer?,
            I_PRODUCT => self.identity.product?,
            I_SERIAL => self.serial.as_deref()?,
            _ => return None,
        };
        let units: Vec<u16> = text.encode_utf16().take(126).collect();
        let mut d = vec![(2 + 2 * units.len()) as u8, 3];
        for u in units {
            d.extend_from_slice(&u.to_le_bytes());
        }
        Some(d)
    }

    /// The interface whose endpoint `address` is (with the direction bit).
    pub fn interface_of(&self, address: u8) -> Option<usize> {
        self.interfaces.iter().position(|i| i.endpoints.iter().any(|e| e.address == address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edl_descriptors_are_fwupds_recording() {
        let d = descriptors(Model::Ec25, DeviceMode::Edl, None);
        // docs/facts/usb.md: the EC25-AU EDL set as recorded by fwupd.
        let dev = [0x12, 1, 0, 2, 0, 0, 0, 0x40, 0xc6, 5, 8, 0x90, 0, 0, 1, 2, 0, 1];
        assert_eq!(d.device(), dev);
        let cfg = [
            9, 2, 0x20, 0, 1, 1, 0, 0x80, 1, 9, 4, 0, 0, 2, 0xff, 0xff, 0xff, 0, 7, 5, 0x81, 2, 0, 2, 0, 7,
            5, 1, 2, 0, 2, 0,
        ];
        assert_eq!(d.configuration(), cfg);
        assert_eq!(d.string(2).unwrap()[2..4], [b'Q', 0]);
        assert_eq!(d.string(3), None, "no serial in EDL");
    }

    #[test]
    fn normal_mode_has_five_interfaces_dm_first_at_third() {
        for model in [Model::Ec20R1, Model::Ec25] {
            let d = descriptors(model, DeviceMode::Normal, None);
            assert_eq!(d.interfaces.len(), usize::from(d.identity.interfaces));
            assert_eq!(d.interfaces[0].role, Some(Port::Dm));
            assert_eq!(d.interfaces[0].endpoints.len(), 2);
            assert_eq!(d.interfaces[2].role, Some(Port::At));
            assert_eq!(d.interfaces[2].bulk_pair(), (Some(0x84), Some(0x03)));
            let cfg = d.configuration();
            assert_eq!(usize::from(u16::from_le_bytes([cfg[2], cfg[3]])), cfg.len());
            assert_eq!(d.interface_of(0x84), Some(2));
        }
    }

    #[test]
    fn fastboot_shows_its_serial_and_class() {
        let d = descriptors(Model::Ec20R1, DeviceMode::Fastboot, Some("MDM9615".into()));
        let dev = d.device();
        assert_eq!(&dev[8..12], &[0xd1, 0x18, 0x0d, 0xd0]);
        assert_eq!(dev[16], 3);
        let s = d.string(3).unwrap();
        assert_eq!(s[0] as usize, s.len());
        assert_eq!(
            String::from_utf16(
                &s[2..].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect::<Vec<_>>()
            )
            .unwrap(),
            "MDM9615"
        );
        assert_eq!((d.interfaces[0].subclass, d.interfaces[0].protocol), (0x42, 0x03));
    }

    #[test]
    fn dload_matches_the_identity_interface_count() {
        let d = descriptors(Model::Ec20R1, DeviceMode::Dload, None);
        assert_eq!(d.interfaces.len(), 1);
        assert_eq!(&d.device()[8..14], &[0xc6, 0x05, 0x15, 0x92, 0, 0]);
    }
}
