//! USB discovery from Linux sysfs, without libusb or udev: read
//! `/sys/bus/usb/devices/*` (root injectable, so tests build trees in a tempdir), match
//! each device against the catalogue, and map its interfaces to roles and ttys.
//!
//! Facts (`docs/facts/usb.md`, `docs/facts/quectel.md`): a device directory is named
//! `BUS-PORT[.PORT…]` and holds `idVendor`, `idProduct`, `bcdDevice`, `serial`, `product`, `speed`,
//! `busnum`, `devnum`; its interfaces are child directories `BUS-PORT:CONFIG.IFACE` with
//! `bInterfaceNumber`, `bInterfaceClass`/`SubClass`/`Protocol` (hex) and a `driver` symlink.
//! A usb-serial driver (qcserial, option) puts a `ttyUSBn` directory in the interface;
//! cdc-acm puts `tty/ttyACMn`. The usbfs node is `/dev/bus/usb/BBB/DDD`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::selector::is_usb_path;
use crate::catalog::{self, Chipset, InterfaceRole, Mode};
use crate::module::DeviceMode;

/// Where Linux lists USB devices.
pub const DEFAULT_SYSFS_ROOT: &str = "/sys/bus/usb/devices";
/// Where device nodes live.
pub const DEFAULT_DEV_ROOT: &str = "/dev";

/// The two roots discovery reads: sysfs USB devices, and `/dev` for node paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub sysfs: PathBuf,
    pub dev: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots { sysfs: PathBuf::from(DEFAULT_SYSFS_ROOT), dev: PathBuf::from(DEFAULT_DEV_ROOT) }
    }
}

/// One interface of a USB device, as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbInterface {
    pub number: u8,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    /// Bound kernel driver (`qcserial`, `option`, `qmi_wwan`, `cdc_acm`, `usbfs`…).
    pub driver: Option<String>,
    /// tty bound to the interface (`ttyUSB0`, `ttyACM0`), name only.
    pub tty: Option<String>,
}

/// One USB device, as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbDevice {
    /// Bus/port path, e.g. `1-1.2`.
    pub path: String,
    pub sysfs: PathBuf,
    pub vid: u16,
    pub pid: u16,
    /// `bcdDevice`: 0x0232 for an EC20 R1 in normal mode, 0x0000 in its DLOAD.
    pub bcd_device: Option<u16>,
    pub busnum: Option<u16>,
    pub devnum: Option<u16>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    /// Link speed in Mbit/s as sysfs writes it (`480`, `5000`, `12`, `1.5`).
    pub speed: Option<String>,
    /// `power/control`: `auto` (autosuspend allowed) or `on`.
    pub power_control: Option<String>,
    pub interfaces: Vec<UsbInterface>,
}

impl UsbDevice {
    /// The usbfs node (`/dev/bus/usb/001/004`) under `dev_root`.
    pub fn usbfs_node(&self, dev_root: &Path) -> Option<PathBuf> {
        let (b, d) = (self.busnum?, self.devnum?);
        Some(dev_root.join("bus/usb").join(format!("{b:03}")).join(format!("{d:03}")))
    }
}

fn read_trimmed(p: &Path) -> Option<String> {
    let s = fs::read_to_string(p).ok()?;
    let t = s.trim();
    if t.is_empty() { None } else { Some(t.to_owned()) }
}

fn read_hex16(p: &Path) -> Option<u16> {
    u16::from_str_radix(&read_trimmed(p)?, 16).ok()
}

fn read_hex8(p: &Path) -> Option<u8> {
    u8::from_str_radix(&read_trimmed(p)?, 16).ok()
}

fn driver_name(dir: &Path) -> Option<String> {
    let target = fs::read_link(dir.join("driver")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn is_tty_name(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix("ttyUSB").is_some_and(digits) || name.strip_prefix("ttyACM").is_some_and(digits)
}

/// The tty bound to an interface: a `ttyUSBn` child (usb-serial) or `tty/ttyACMn` (cdc-acm).
fn interface_tty(dir: &Path) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        names.extend(
            rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| is_tty_name(n)),
        );
    }
    if let Ok(rd) = fs::read_dir(dir.join("tty")) {
        names.extend(
            rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| is_tty_name(n)),
        );
    }
    names.sort();
    names.into_iter().next()
}

fn read_interface(dir: &Path) -> Option<UsbInterface> {
    Some(UsbInterface {
        number: read_hex8(&dir.join("bInterfaceNumber"))?,
        class: read_hex8(&dir.join("bInterfaceClass")).unwrap_or(0),
        subclass: read_hex8(&dir.join("bInterfaceSubClass")).unwrap_or(0),
        protocol: read_hex8(&dir.join("bInterfaceProtocol")).unwrap_or(0),
        driver: driver_name(dir),
        tty: interface_tty(dir),
    })
}

/// Read one device directory. `None` when it is not a device (a root hub `usb1`, an
/// interface directory) or has vanished mid-read.
pub fn read_device(dir: &Path) -> Option<UsbDevice> {
    let path = dir.file_name()?.to_str()?.to_owned();
    if !is_usb_path(&path) {
        return None;
    }
    let vid = read_hex16(&dir.join("idVendor"))?;
    let pid = read_hex16(&dir.join("idProduct"))?;
    let prefix = format!("{path}:");
    let mut interfaces: Vec<UsbInterface> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| read_interface(&e.path()))
        .collect();
    interfaces.sort_by_key(|i| i.number);
    interfaces.dedup_by_key(|i| i.number);
    Some(UsbDevice {
        path,
        sysfs: dir.to_path_buf(),
        vid,
        pid,
        bcd_device: read_hex16(&dir.join("bcdDevice")),
        busnum: read_trimmed(&dir.join("busnum")).and_then(|s| s.parse().ok()),
        devnum: read_trimmed(&dir.join("devnum")).and_then(|s| s.parse().ok()),
        serial: read_trimmed(&dir.join("serial")),
        manufacturer: read_trimmed(&dir.join("manufacturer")),
        product: read_trimmed(&dir.join("product")),
        speed: read_trimmed(&dir.join("speed")),
        power_control: read_trimmed(&dir.join("power/control")),
        interfaces,
    })
}

/// Every USB device under `sysfs_root`, sorted by path. A missing root (no USB bus, not
/// Linux) is an empty list, not an error; an unreadable one is an error.
pub fn enumerate(sysfs_root: &Path) -> io::Result<Vec<UsbDevice>> {
    let rd = match fs::read_dir(sysfs_root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<UsbDevice> = rd.flatten().filter_map(|e| read_device(&e.path())).collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// An interface of a catalogue module, with its role and tty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundPort {
    pub interface: u8,
    /// Role from the catalogue layout; `None` when the catalogue does not describe it.
    pub role: Option<InterfaceRole>,
    pub class: (u8, u8, u8),
    pub driver: Option<String>,
    /// `/dev/ttyUSB0` when a tty is bound.
    pub tty: Option<PathBuf>,
}

/// A USB device that the catalogue knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub usb_path: String,
    pub vid: u16,
    pub pid: u16,
    pub bcd_device: Option<u16>,
    pub serial: Option<String>,
    pub product: Option<String>,
    pub speed: Option<String>,
    pub family: &'static str,
    pub chipset: Chipset,
    pub mode: Mode,
    /// The catalogue row rests on inferred facts.
    pub inferred: bool,
    pub busnum: Option<u16>,
    pub devnum: Option<u16>,
    /// `/dev/bus/usb/BBB/DDD`.
    pub usbfs_node: Option<PathBuf>,
    pub ports: Vec<FoundPort>,
}

impl Found {
    /// Match a device against the catalogue, by id and by the descriptors that tell modes
    /// with one id apart (interface count, bcdDevice, iProduct).
    pub fn from_device(dev: &UsbDevice, dev_root: &Path) -> Option<Found> {
        let row = catalog::lookup_device(&catalog::DeviceFacts {
            vid: dev.vid,
            pid: dev.pid,
            // An interface list caught half-read says nothing.
            interface_count: (!dev.interfaces.is_empty()).then_some(dev.interfaces.len()),
            bcd_device: dev.bcd_device,
            product: dev.product.as_deref(),
        })?;
        let ports = dev
            .interfaces
            .iter()
            .map(|i| FoundPort {
                interface: i.number,
                role: row.interfaces.iter().find(|l| l.number == i.number).map(|l| l.role),
                class: (i.class, i.subclass, i.protocol),
                driver: i.driver.clone(),
                tty: i.tty.as_ref().map(|t| dev_root.join(t)),
            })
            .collect();
        Some(Found {
            usb_path: dev.path.clone(),
            vid: dev.vid,
            pid: dev.pid,
            bcd_device: dev.bcd_device,
            serial: dev.serial.clone(),
            product: dev.product.clone(),
            speed: dev.speed.clone(),
            family: row.family,
            chipset: row.chipset,
            mode: row.mode,
            inferred: row.inferred,
            busnum: dev.busnum,
            devnum: dev.devnum,
            usbfs_node: dev.usbfs_node(dev_root),
            ports,
        })
    }

    /// The port with `role`, if the device has it.
    pub fn port(&self, role: InterfaceRole) -> Option<&FoundPort> {
        self.ports.iter().find(|p| p.role == Some(role))
    }

    /// The tty of the port with `role`.
    pub fn tty(&self, role: InterfaceRole) -> Option<&Path> {
        self.port(role)?.tty.as_deref()
    }

    /// The mode the USB identity alone tells. 05c6:9008 is EDL (a Sahara boot ROM, or the
    /// Firehose programmer it loaded: both are the executor's EDL). `None` for the 9615's
    /// DLOAD, where the boot ROM's DMSS and the streaming programmer share one identity
    /// and only what answers can tell (docs/facts/usb.md), and for dump mode, which no
    /// flow uses.
    pub fn device_mode_hint(&self) -> Option<DeviceMode> {
        match self.mode {
            Mode::Normal => Some(DeviceMode::Normal),
            Mode::Fastboot => Some(DeviceMode::Fastboot),
            Mode::QdLoader => Some(DeviceMode::Edl),
            Mode::Dload | Mode::Dump => None,
        }
    }

    /// Link speed in words.
    pub fn speed_name(&self) -> Option<&'static str> {
        Some(speed_name(self.speed.as_deref()?))
    }
}

/// USB speed name for a sysfs `speed` value (Mbit/s).
pub fn speed_name(mbps: &str) -> &'static str {
    match mbps {
        "1.5" => "low speed (USB 1.x)",
        "12" => "full speed (USB 1.x)",
        "480" => "high speed (USB 2.0)",
        "5000" => "SuperSpeed (USB 3)",
        "10000" | "20000" => "SuperSpeed+ (USB 3)",
        _ => "unknown speed",
    }
}

/// Every catalogue module on the bus.
pub fn scan(roots: &Roots) -> io::Result<Vec<Found>> {
    Ok(enumerate(&roots.sysfs)?.iter().filter_map(|d| Found::from_device(d, &roots.dev)).collect())
}

#[cfg(test)]
#[path = "sysfs_fake.rs"]
pub(crate) mod fake;

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    #[test]
    fn missing_root_is_an_empty_bus() {
        assert!(enumerate(Path::new("/nonexistent/modemflash/sysfs")).unwrap().is_empty());
    }

    #[test]
    fn ec20_r1_ports_map_to_roles_and_ttys() {
        let tmp = tempfile::tempdir().unwrap();
        let r = roots(tmp.path());
        noise(&r.sysfs);
        ec20(&r.sysfs, "1-1.2", 0);
        let all = enumerate(&r.sysfs).unwrap();
        assert_eq!(all.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["1-1.2", "1-4"]);
        let found = scan(&r).unwrap();
        assert_eq!(found.len(), 1);
        let m = &found[0];
        assert_eq!((m.usb_path.as_str(), m.vid, m.pid), ("1-1.2", 0x05c6, 0x9215));
        assert_eq!((m.family, m.chipset, m.mode), ("EC20 R1", Chipset::Mdm9615, Mode::Normal));
        assert_eq!(m.device_mode_hint(), Some(DeviceMode::Normal));
        assert_eq!(m.speed_name(), Some("high speed (USB 2.0)"));
        assert_eq!(m.usbfs_node, Some(r.dev.join("bus/usb/001/003")));
        let roles: Vec<_> = m.ports.iter().map(|p| (p.interface, p.role, p.tty.clone())).collect();
        assert_eq!(
            roles,
            vec![
                (0, Some(InterfaceRole::Diag), Some(r.dev.join("ttyUSB0"))),
                (1, Some(InterfaceRole::Nmea), Some(r.dev.join("ttyUSB1"))),
                (2, Some(InterfaceRole::At), Some(r.dev.join("ttyUSB2"))),
                (3, Some(InterfaceRole::Modem), Some(r.dev.join("ttyUSB3"))),
                (4, Some(InterfaceRole::Network), None),
            ]
        );
        assert_eq!(m.ports[0].driver.as_deref(), Some("qcserial"));
        assert_eq!(m.ports[4].driver.as_deref(), Some("qmi_wwan"));
        assert_eq!(m.tty(InterfaceRole::At), Some(r.dev.join("ttyUSB2").as_path()));
    }

    #[test]
    fn ec25_qdl_and_fastboot_are_told_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let r = roots(tmp.path());
        ec25(&r.sysfs, "2-1", "5000");
        qdl(&r.sysfs, "1-1.3", Some("ttyUSB9"));
        fastboot(&r.sysfs, "1-1.4");
        let found = scan(&r).unwrap();
        let by_path = |p: &str| found.iter().find(|f| f.usb_path == p).unwrap();

        let ec25 = by_path("2-1");
        assert_eq!(ec25.chipset, Chipset::Mdm9x07);
        assert_eq!(ec25.serial.as_deref(), Some("a1b2c3d4"));
        assert_eq!(ec25.speed_name(), Some("SuperSpeed (USB 3)"));
        assert_eq!(ec25.tty(InterfaceRole::Diag), Some(r.dev.join("ttyUSB4").as_path()));
        assert_eq!(ec25.port(InterfaceRole::At).unwrap().class, (0xff, 0, 0));

        let q = by_path("1-1.3");
        assert_eq!(q.mode, Mode::QdLoader);
        assert_eq!(q.device_mode_hint(), Some(DeviceMode::Edl));
        let p = q.port(InterfaceRole::QdLoader).unwrap();
        assert_eq!(p.driver.as_deref(), Some("qcserial"));
        assert_eq!(p.tty, Some(r.dev.join("ttyUSB9")));

        let fb = by_path("1-1.4");
        assert_eq!(fb.device_mode_hint(), Some(DeviceMode::Fastboot));
        let p = fb.port(InterfaceRole::Fastboot).unwrap();
        assert_eq!((p.class, p.driver.clone(), p.tty.clone()), ((0xff, 0x42, 0x03), None, None));
    }

    #[test]
    fn ec20_r1_dload_is_told_from_normal_mode_on_the_same_id() {
        // The field user's kernel log: 05c6:9215, bcdDevice 0000, QHSUSB_DLOAD, one
        // interface bound by qcserial as ttyUSB0.
        let tmp = tempfile::tempdir().unwrap();
        let r = roots(tmp.path());
        ec20_dload(&r.sysfs, "1-1.2", "ttyUSB0");
        ec20(&r.sysfs, "1-1.5", 4);
        let found = scan(&r).unwrap();
        let d = found.iter().find(|f| f.usb_path == "1-1.2").unwrap();
        assert_eq!((d.vid, d.pid, d.bcd_device), (0x05c6, 0x9215, Some(0)));
        assert_eq!((d.family, d.chipset, d.mode), ("EC20 R1", Chipset::Mdm9615, Mode::Dload));
        assert_eq!(d.mode.name(), "DLOAD");
        assert_eq!(d.device_mode_hint(), None, "DMSS or the streaming programmer: what answers tells");
        assert_eq!(d.tty(InterfaceRole::QdLoader), Some(r.dev.join("ttyUSB0").as_path()));
        let n = found.iter().find(|f| f.usb_path == "1-1.5").unwrap();
        assert_eq!((n.mode, n.bcd_device), (Mode::Normal, Some(0x0232)));
    }

    #[test]
    fn cdc_acm_ttys_are_found() {
        let tmp = tempfile::tempdir().unwrap();
        let r = roots(tmp.path());
        device(
            &r.sysfs,
            "3-2",
            0x2c7c,
            0x0800,
            None,
            "480",
            4,
            &[
                iface(0, (2, 2, 1), Some("cdc_acm"), Some("ttyACM0")),
                iface(1, (0x0a, 0, 0), Some("cdc_acm"), None),
            ],
        );
        let found = scan(&r).unwrap();
        assert_eq!(found[0].ports[0].tty, Some(r.dev.join("ttyACM0")));
        assert_eq!(found[0].ports[0].role, None, "RM500Q has no catalogue layout");
    }

    #[test]
    fn single_interface_rm500q_is_dump_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let r = roots(tmp.path());
        device(&r.sysfs, "1-2", 0x2c7c, 0x0800, None, "480", 4, &[iface(0, VENDOR, None, None)]);
        assert_eq!(scan(&r).unwrap()[0].mode, Mode::Dump);
    }

    #[test]
    fn half_written_devices_are_skipped() {
        // A device caught mid-enumeration has a directory but no idProduct yet.
        let tmp = tempfile::tempdir().unwrap();
        let r = roots(tmp.path());
        fs::create_dir_all(r.sysfs.join("1-5")).unwrap();
        fs::write(r.sysfs.join("1-5/idVendor"), "2c7c\n").unwrap();
        fs::write(r.sysfs.join("1-6"), "not a dir").unwrap();
        assert!(scan(&r).unwrap().is_empty());
    }
}
