//! Serial ports of USB modules where sysfs is not available (Windows COM ports, macOS
//! `/dev/cu.*`): serialport's enumeration gives each port's USB VID/PID, serial number and
//! interface number, which are matched against modules found through nusb.
//!
//! On Linux [`super::sysfs`] already maps interfaces to `ttyUSB*`/`ttyACM*`; this module
//! compiles there too (serialport scans `/sys/class/tty` without libudev) and its matching
//! is tested there, but the enumeration itself is only exercised on other systems, which
//! the build machine is not: unverified on Windows and macOS.

use std::path::PathBuf;

use super::sysfs::Found;

/// A serial port that belongs to a USB device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbSerialPort {
    pub path: PathBuf,
    pub vid: u16,
    pub pid: u16,
    pub serial: Option<String>,
    /// The interface the port serves, when the OS says (Windows and Linux: the
    /// communication interface; macOS may give the data interface).
    pub interface: Option<u8>,
}

/// Every USB serial port the OS lists. Errors (no permission to enumerate) give an empty list.
pub fn usb_serial_ports() -> Vec<UsbSerialPort> {
    let Ok(ports) = serialport::available_ports() else { return Vec::new() };
    ports
        .into_iter()
        .filter_map(|p| match p.port_type {
            serialport::SerialPortType::UsbPort(u) => Some(UsbSerialPort {
                path: PathBuf::from(p.port_name),
                vid: u.vid,
                pid: u.pid,
                serial: u.serial_number,
                interface: u.interface,
            }),
            _ => None,
        })
        .collect()
}

/// Give the modules' ports the serial ports that belong to them. A port is attached only
/// when exactly one module fits it (same id, and same serial when both are known), and
/// only to an interface without a tty yet.
pub fn attach(found: &mut [Found], ports: &[UsbSerialPort]) {
    for sp in ports {
        let fits: Vec<usize> = found
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.vid == sp.vid
                    && f.pid == sp.pid
                    && match (&f.serial, &sp.serial) {
                        (Some(a), Some(b)) => a == b,
                        _ => true,
                    }
            })
            .map(|(i, _)| i)
            .collect();
        let [only] = fits.as_slice() else { continue };
        let Some(module) = found.get_mut(*only) else { continue };
        let single = module.ports.len() == 1;
        let target = match sp.interface {
            Some(n) => module.ports.iter_mut().find(|p| p.interface == n),
            None if single => module.ports.first_mut(),
            None => None,
        };
        if let Some(port) = target
            && port.tty.is_none()
        {
            port.tty = Some(sp.path.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::InterfaceRole;
    use crate::discovery::sysfs::{fake, scan};

    fn port(path: &str, vid: u16, pid: u16, serial: Option<&str>, interface: Option<u8>) -> UsbSerialPort {
        UsbSerialPort { path: path.into(), vid, pid, serial: serial.map(str::to_owned), interface }
    }

    #[test]
    fn com_ports_attach_by_interface_and_serial() {
        let tmp = tempfile::tempdir().unwrap();
        let r = fake::roots(tmp.path());
        // Devices without ttys, as nusb sees them on Windows.
        fake::device(
            &r.sysfs,
            "1-2",
            0x2c7c,
            0x0125,
            Some("SN1"),
            "480",
            3,
            &[fake::iface(0, fake::VENDOR, None, None), fake::iface(2, fake::SERIAL_IF, None, None)],
        );
        fake::device(
            &r.sysfs,
            "1-3",
            0x05c6,
            0x9008,
            None,
            "480",
            4,
            &[fake::iface(0, fake::VENDOR, None, None)],
        );
        let mut found = scan(&r).unwrap();
        attach(
            &mut found,
            &[
                port("COM7", 0x2c7c, 0x0125, Some("SN1"), Some(2)),
                port("COM5", 0x2c7c, 0x0125, Some("SN1"), Some(0)),
                port("COM9", 0x2c7c, 0x0125, Some("OTHER"), Some(0)),
                port("COM3", 0x05c6, 0x9008, None, None),
            ],
        );
        let ec25 = found.iter().find(|f| f.usb_path == "1-2").unwrap();
        assert_eq!(ec25.tty(InterfaceRole::Diag), Some(std::path::Path::new("COM5")));
        assert_eq!(ec25.tty(InterfaceRole::At), Some(std::path::Path::new("COM7")));
        let qdl = found.iter().find(|f| f.usb_path == "1-3").unwrap();
        assert_eq!(qdl.tty(InterfaceRole::QdLoader), Some(std::path::Path::new("COM3")));
    }

    #[test]
    fn ambiguous_ports_are_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let r = fake::roots(tmp.path());
        fake::qdl(&r.sysfs, "1-1", None);
        fake::qdl(&r.sysfs, "1-2", None);
        let mut found = scan(&r).unwrap();
        attach(&mut found, &[port("COM3", 0x05c6, 0x9008, None, Some(0))]);
        assert!(found.iter().all(|f| f.ports[0].tty.is_none()));
    }

    #[test]
    fn enumeration_does_not_fail_here() {
        // On this Linux machine serialport scans /sys/class/tty; whatever it finds is fine.
        let _ = usb_serial_ports();
    }
}
