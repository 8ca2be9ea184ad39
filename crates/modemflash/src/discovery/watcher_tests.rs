#![allow(clippy::many_single_char_names)]
use std::fs;

use super::*;
use crate::discovery::sysfs::fake;

fn fb(root: &std::path::Path, path: &str, serial: &str) {
    fake::device(
        root,
        path,
        0x18d1,
        0xd00d,
        Some(serial),
        "480",
        9,
        &[fake::iface(0, (0xff, 0x42, 0x03), None, None)],
    );
}

fn usb(path: &str) -> Selector {
    Selector::parse(&format!("usb:{path}")).unwrap()
}

#[test]
fn each_module_keeps_its_device_across_reenumerations() {
    let tmp = tempfile::tempdir().unwrap();
    let r = fake::roots(tmp.path());
    fake::qdl(&r.sysfs, "2-1", None);
    fake::qdl(&r.sysfs, "2-2", None);
    let w = Watcher::new(Box::new(HostUsb::new(r.clone())));
    assert_eq!(w.modules().unwrap().len(), 2);
    let mut a = w.bus(usb("2-1")).unwrap();
    let mut b = w.bus(usb("2-2")).unwrap();
    assert_eq!(a.detect().unwrap(), Some(DeviceMode::Edl));
    assert_eq!(b.detect().unwrap(), Some(DeviceMode::Edl));

    // A comes back on a new path (USB3 → USB2) while B stays: the newcomer is A's.
    fs::remove_dir_all(r.sysfs.join("2-1")).unwrap();
    fake::qdl(&r.sysfs, "1-1", None);
    std::thread::sleep(SCAN_SHARE);
    assert_eq!(a.detect().unwrap(), Some(DeviceMode::Edl));
    assert_eq!(a.current().unwrap().usb_path, "1-1");
    assert_eq!(b.detect().unwrap(), Some(DeviceMode::Edl));
    assert_eq!(b.current().unwrap().usb_path, "2-2");
    assert_eq!(a.location().port_path.as_deref(), Some("usb:1-1"));

    // Both away at once and one device without a serial appears on a new path: it may be
    // either, so neither takes it.
    fs::remove_dir_all(r.sysfs.join("1-1")).unwrap();
    fs::remove_dir_all(r.sysfs.join("2-2")).unwrap();
    fake::qdl(&r.sysfs, "1-5", None);
    std::thread::sleep(SCAN_SHARE);
    assert_eq!(a.detect().unwrap(), None);
    assert_eq!(b.detect().unwrap(), None);
    let e = a.wait_for(&[DeviceMode::Edl], Duration::from_millis(300)).unwrap_err();
    assert!(e.to_string().contains("not on the bus"), "{e}");
}

/// A device that shows another module's distinct USB serial is that module's, even on a
/// path this module's selector names.
#[test]
fn a_device_with_a_neighbours_serial_is_never_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let r = fake::roots(tmp.path());
    fb(&r.sysfs, "3-1", "a0000001");
    fb(&r.sysfs, "3-2", "b0000002");
    let w = Watcher::new(Box::new(HostUsb::new(r.clone())));
    let mut a = w.bus(usb("3-1")).unwrap();
    let mut b = w.bus(usb("3-2")).unwrap();
    assert_eq!(a.detect().unwrap(), Some(DeviceMode::Fastboot));
    assert_eq!(b.detect().unwrap(), Some(DeviceMode::Fastboot));
    // The hub renumbers: B's module now sits on 3-1 and A's is away.
    fs::remove_dir_all(r.sysfs.join("3-1")).unwrap();
    fs::remove_dir_all(r.sysfs.join("3-2")).unwrap();
    fb(&r.sysfs, "3-1", "b0000002");
    std::thread::sleep(SCAN_SHARE);
    // A plain tracker with selector usb:3-1 would take it; the watcher knows it is B's.
    let mut plain = Tracker::new(Some(usb("3-1")));
    assert!(matches!(plain.pick(&w.modules().unwrap()), Pick::One(_)));
    assert_eq!(a.detect().unwrap(), None);
    assert_eq!(b.detect().unwrap(), Some(DeviceMode::Fastboot));
    assert_eq!(b.current().unwrap().usb_path, "3-1");
    // A comes back by its own serial on a new path.
    fb(&r.sysfs, "3-4", "a0000001");
    std::thread::sleep(SCAN_SHARE);
    assert_eq!(a.detect().unwrap(), Some(DeviceMode::Fastboot));
    assert_eq!(a.current().unwrap().serial.as_deref(), Some("a0000001"));
}

#[test]
fn scans_are_shared_between_modules() {
    struct Counting(HostUsb, std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl UsbSource for Counting {
        fn scan(&self) -> Result<Vec<Found>, BusError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.scan()
        }
        fn mode_of(&self, f: &Found) -> Option<DeviceMode> {
            self.0.mode_of(f)
        }
        fn open(&self, f: &Found, port: Port) -> Result<Box<dyn Transport>, String> {
            self.0.open(f, port)
        }
        // A clock that stands still: every scan is fresh enough to share.
        fn now(&self) -> Duration {
            Duration::ZERO
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let r = fake::roots(tmp.path());
    for p in ["4-1", "4-2", "4-3", "4-4"] {
        fake::qdl(&r.sysfs, p, None);
    }
    let src = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let w = Watcher::new(Box::new(Counting(HostUsb::new(r.clone()), std::sync::Arc::clone(&src))));
    let mut buses: Vec<WatchedBus> =
        ["4-1", "4-2", "4-3", "4-4"].iter().map(|p| w.bus(usb(p)).unwrap()).collect();
    for b in &mut buses {
        assert_eq!(b.detect().unwrap(), Some(DeviceMode::Edl));
    }
    // One scan for the four buses' first claims and their polls.
    assert_eq!(src.load(std::sync::atomic::Ordering::SeqCst), 1);
    let paths: Vec<String> = buses.iter().map(|b| b.current().unwrap().usb_path.clone()).collect();
    assert_eq!(paths, ["4-1", "4-2", "4-3", "4-4"]);
}

/// Everything a module's session holds crosses to its own thread.
#[test]
fn a_session_is_send() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Box<dyn ModuleBus>>();
    send::<WatchedBus>();
    send::<super::super::usbbus::UsbBus>();
    send::<super::super::ports::PortsBus>();
    send::<crate::exec::Journal>();
    send::<crate::exec::ExecOptions>();
    send::<crate::plan::Plan>();
    sync::<crate::package::Package>();
    sync::<Watcher>();
    send::<Watcher>();
}
