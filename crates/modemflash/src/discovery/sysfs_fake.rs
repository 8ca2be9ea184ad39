//! Fake sysfs trees for tests (also used by the bus and doctor tests).
use super::*;

/// One interface to create: number, class triple, driver, tty name.
#[derive(Debug, Clone)]
pub struct If {
    pub number: u8,
    pub class: (u8, u8, u8),
    pub driver: Option<&'static str>,
    pub tty: Option<String>,
}

pub fn iface(number: u8, class: (u8, u8, u8), driver: Option<&'static str>, tty: Option<&str>) -> If {
    If { number, class, driver, tty: tty.map(str::to_owned) }
}

fn w(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, format!("{s}\n")).unwrap();
}

/// Create device `path` under `root` (the sysfs root), with drivers linked to
/// `root/../drivers/NAME` as real sysfs does.
#[allow(clippy::too_many_arguments)]
pub fn device(
    root: &Path,
    path: &str,
    vid: u16,
    pid: u16,
    serial: Option<&str>,
    speed: &str,
    devnum: u16,
    ifaces: &[If],
) -> PathBuf {
    let dir = root.join(path);
    fs::create_dir_all(&dir).unwrap();
    w(&dir.join("idVendor"), &format!("{vid:04x}"));
    w(&dir.join("idProduct"), &format!("{pid:04x}"));
    if let Some(s) = serial {
        w(&dir.join("serial"), s);
    }
    let (bcd, manufacturer, product) = descriptors(vid, pid, ifaces.len());
    w(&dir.join("bcdDevice"), bcd);
    w(&dir.join("manufacturer"), manufacturer);
    w(&dir.join("product"), product);
    w(&dir.join("speed"), speed);
    let bus: u16 = path.split('-').next().unwrap().parse().unwrap();
    w(&dir.join("busnum"), &bus.to_string());
    w(&dir.join("devnum"), &devnum.to_string());
    w(&dir.join("bNumInterfaces"), &format!("{:2}", ifaces.len()));
    w(&dir.join("power/control"), "auto");
    for i in ifaces {
        let idir = dir.join(format!("{path}:1.{}", i.number));
        fs::create_dir_all(&idir).unwrap();
        w(&idir.join("bInterfaceNumber"), &format!("{:02x}", i.number));
        w(&idir.join("bInterfaceClass"), &format!("{:02x}", i.class.0));
        w(&idir.join("bInterfaceSubClass"), &format!("{:02x}", i.class.1));
        w(&idir.join("bInterfaceProtocol"), &format!("{:02x}", i.class.2));
        if let Some(d) = i.driver {
            let ddir = root.parent().unwrap().join("drivers").join(d);
            fs::create_dir_all(&ddir).unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink(&ddir, idir.join("driver")).unwrap();
        }
        if let Some(t) = &i.tty {
            if t.starts_with("ttyACM") {
                fs::create_dir_all(idir.join("tty").join(t)).unwrap();
            } else {
                fs::create_dir_all(idir.join(t).join("tty").join(t)).unwrap();
            }
        }
    }
    dir
}

/// bcdDevice, iManufacturer and iProduct as real modules show them (docs/facts/usb.md):
/// an EC20 R1 with one interface is in DLOAD.
fn descriptors(vid: u16, pid: u16, interfaces: usize) -> (&'static str, &'static str, &'static str) {
    match (vid, pid, interfaces) {
        (0x05c6, 0x9215, 1) => ("0000", "Qualcomm CDMA Technologies MSM", "QHSUSB_DLOAD"),
        (0x05c6, 0x9215, _) => ("0232", "Qualcomm, Incorporated", "Qualcomm CDMA Technologies MSM"),
        (0x05c6, 0x9008, _) => ("0000", "Qualcomm CDMA Technologies MSM", "QHSUSB__BULK"),
        (0x18d1, 0xd00d, _) => ("0100", "Google", "Android"),
        _ => ("0318", "Quectel", "Fake product"),
    }
}

pub const VENDOR: (u8, u8, u8) = (0xff, 0xff, 0xff);
pub const SERIAL_IF: (u8, u8, u8) = (0xff, 0x00, 0x00);

/// EC20 R1 in normal mode on `path`: ttyUSB{base}..{base+3} on interfaces 0..3, QMI on 4.
pub fn ec20(root: &Path, path: &str, base: u8) -> PathBuf {
    let names: Vec<String> = (base..base + 4).map(|n| format!("ttyUSB{n}")).collect();
    device(
        root,
        path,
        0x05c6,
        0x9215,
        None,
        "480",
        3,
        &[
            iface(0, VENDOR, Some("qcserial"), Some(&names[0])),
            iface(1, VENDOR, Some("qcserial"), Some(&names[1])),
            iface(2, VENDOR, Some("qcserial"), Some(&names[2])),
            iface(3, VENDOR, Some("qcserial"), Some(&names[3])),
            iface(4, VENDOR, Some("qmi_wwan"), None),
        ],
    )
}

/// EC25 in normal mode (option + qmi_wwan), USB3 by default.
pub fn ec25(root: &Path, path: &str, speed: &str) -> PathBuf {
    device(
        root,
        path,
        0x2c7c,
        0x0125,
        Some("a1b2c3d4"),
        speed,
        5,
        &[
            iface(0, VENDOR, Some("option"), Some("ttyUSB4")),
            iface(1, SERIAL_IF, Some("option"), Some("ttyUSB5")),
            iface(2, SERIAL_IF, Some("option"), Some("ttyUSB6")),
            iface(3, SERIAL_IF, Some("option"), Some("ttyUSB7")),
            iface(4, VENDOR, Some("qmi_wwan"), None),
        ],
    )
}

/// 05c6:9008 bound to qcserial (ttyUSB{n}) or unbound.
pub fn qdl(root: &Path, path: &str, tty: Option<&str>) -> PathBuf {
    let driver = tty.map(|_| "qcserial");
    device(root, path, 0x05c6, 0x9008, None, "480", 7, &[iface(0, VENDOR, driver, tty)])
}

/// EC20 R1 in DLOAD (or running the streaming programmer): 05c6:9215 with one interface,
/// bound by qcserial as `tty` (the field log: ttyUSB0).
pub fn ec20_dload(root: &Path, path: &str, tty: &str) -> PathBuf {
    device(root, path, 0x05c6, 0x9215, None, "480", 6, &[iface(0, VENDOR, Some("qcserial"), Some(tty))])
}

/// 18d1:d00d, no kernel driver.
pub fn fastboot(root: &Path, path: &str) -> PathBuf {
    device(root, path, 0x18d1, 0xd00d, Some("fb01"), "480", 9, &[iface(0, (0xff, 0x42, 0x03), None, None)])
}

/// A root hub and an unrelated device, which discovery must skip.
pub fn noise(root: &Path) {
    let hub = root.join("usb1");
    fs::create_dir_all(&hub).unwrap();
    w(&hub.join("idVendor"), "1d6b");
    w(&hub.join("idProduct"), "0002");
    fs::create_dir_all(root.join("1-0:1.0")).unwrap();
    device(root, "1-4", 0x046d, 0xc52b, None, "12", 2, &[iface(0, (3, 1, 1), Some("usbhid"), None)]);
}

/// A fresh tree: `tmp/sys/bus/usb/devices` and `tmp/dev`.
pub fn roots(tmp: &Path) -> Roots {
    let sysfs = tmp.join("sys/bus/usb/devices");
    fs::create_dir_all(&sysfs).unwrap();
    fs::create_dir_all(tmp.join("dev")).unwrap();
    Roots { sysfs, dev: tmp.join("dev") }
}
