use std::fs;
use std::path::Path;
use std::thread;

use super::*;
use crate::discovery::sysfs::fake;
use crate::discovery::sysfs::scan;

fn found(tmp: &Path) -> (Roots, Vec<Found>) {
    let r = fake::roots(tmp);
    let f = scan(&r).unwrap();
    (r, f)
}

#[test]
fn tracker_follows_path_and_never_adopts_a_newcomer_beside_a_neighbour() {
    let tmp = tempfile::tempdir().unwrap();
    let r = fake::roots(tmp.path());
    fake::ec25(&r.sysfs, "2-1", "5000");
    fake::ec20(&r.sysfs, "1-4", 0);
    let mut t = Tracker::new(Some(Selector::parse("usb:2c7c:0125").unwrap()));
    let Pick::One(f) = t.pick(&scan(&r).unwrap()) else { panic!() };
    assert_eq!(f.usb_path, "2-1");

    // Same path, new mode (EDL on the same port).
    fs::remove_dir_all(r.sysfs.join("2-1")).unwrap();
    fake::qdl(&r.sysfs, "2-1", None);
    let Pick::One(f) = t.pick(&scan(&r).unwrap()) else { panic!() };
    assert_eq!((f.usb_path.as_str(), f.pid), ("2-1", 0x9008));

    // USB3 → USB2 while the neighbour EC20 stays on 1-4: the one new device is ours.
    fs::remove_dir_all(r.sysfs.join("2-1")).unwrap();
    fake::qdl(&r.sysfs, "1-1", None);
    let Pick::One(f) = t.pick(&scan(&r).unwrap()) else { panic!() };
    assert_eq!(f.usb_path, "1-1");

    // Both re-enumerate at the same moment: ours leaves 1-1, the neighbour leaves 1-4,
    // and one 05c6:9008 without a serial appears on 1-5. It may be the neighbour: not
    // adopted, and it stays a neighbour from then on.
    fs::remove_dir_all(r.sysfs.join("1-1")).unwrap();
    fs::remove_dir_all(r.sysfs.join("1-4")).unwrap();
    fake::qdl(&r.sysfs, "1-5", None);
    assert_eq!(t.pick(&scan(&r).unwrap()), Pick::Nothing);
    fake::ec20(&r.sysfs, "1-4", 0);
    assert_eq!(t.pick(&scan(&r).unwrap()), Pick::Nothing, "1-5 was seen while ours was away");
    // Back on its own path: followed again.
    fake::qdl(&r.sysfs, "1-1", None);
    let Pick::One(f) = t.pick(&scan(&r).unwrap()) else { panic!() };
    assert_eq!(f.usb_path, "1-1");
}

#[test]
fn a_lone_module_is_followed_to_a_new_path() {
    let tmp = tempfile::tempdir().unwrap();
    let r = fake::roots(tmp.path());
    fake::qdl(&r.sysfs, "2-1", None);
    let mut t = Tracker::new(None);
    assert!(matches!(t.pick(&scan(&r).unwrap()), Pick::One(_)));
    // USB3 → USB2 with nobody else ever on the bus: the one device there is ours.
    fs::remove_dir_all(r.sysfs.join("2-1")).unwrap();
    fake::qdl(&r.sysfs, "1-1", None);
    let Pick::One(f) = t.pick(&scan(&r).unwrap()) else { panic!() };
    assert_eq!(f.usb_path, "1-1");
    // Two devices where ours was: ambiguous, and the message lists them.
    fs::remove_dir_all(r.sysfs.join("1-1")).unwrap();
    fake::qdl(&r.sysfs, "1-2", None);
    fake::qdl(&r.sysfs, "1-3", None);
    let Pick::Ambiguous(text) = t.pick(&scan(&r).unwrap()) else { panic!() };
    assert!(text.contains("2 modules") && text.contains("usb:1-2") && text.contains("usb:1-3"), "{text}");
    // From then on both count as neighbours: neither is adopted.
    fs::remove_dir_all(r.sysfs.join("1-3")).unwrap();
    assert_eq!(t.pick(&scan(&r).unwrap()), Pick::Nothing);
}

#[test]
fn tracker_uses_the_serial_when_the_path_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let r = fake::roots(tmp.path());
    fake::ec25(&r.sysfs, "2-1", "5000");
    let mut t = Tracker::new(None);
    assert!(matches!(t.pick(&scan(&r).unwrap()), Pick::One(_)));
    fs::remove_dir_all(r.sysfs.join("2-1")).unwrap();
    fake::ec25(&r.sysfs, "1-7", "480");
    fake::qdl(&r.sysfs, "1-8", None);
    let Pick::One(f) = t.pick(&scan(&r).unwrap()) else { panic!() };
    assert_eq!(f.usb_path, "1-7", "the serial number wins over the newcomer rule");
}

#[test]
fn without_selector_two_modules_are_ambiguous_and_a_selector_resolves_it() {
    let tmp = tempfile::tempdir().unwrap();
    let r = fake::roots(tmp.path());
    fake::ec20(&r.sysfs, "1-1.2", 0);
    fake::ec25(&r.sysfs, "2-1", "5000");
    let mut bus = UsbBus::with_roots(r.clone(), None).unwrap();
    let e = bus.detect().unwrap_err();
    assert!(matches!(e, BusError::Ambiguous(_)), "{e}");
    // The library names no CLI flag; what to do is data the CLI renders.
    assert!(e.to_string().contains("choose one by its USB location") && !e.to_string().contains("--"), "{e}");
    assert_eq!(e.remedy(), Some(crate::discovery::BusRemedy::ChooseModule));

    let mut bus = UsbBus::with_roots(r.clone(), Some(Selector::parse("usb:1-1.2").unwrap())).unwrap();
    assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Normal));
    assert_eq!(bus.current().unwrap().family, "EC20 R1");
    assert_eq!(bus.endpoint(Port::Dm), r.dev.join("ttyUSB0").display().to_string());
    assert_eq!(bus.endpoint(Port::At), r.dev.join("ttyUSB2").display().to_string());
    assert_eq!(bus.endpoint(Port::Fastboot), "usb:1-1.2 (no fastboot)");

    let mut bus = UsbBus::with_roots(r, Some(Selector::parse("usb:2c7c:0125:nope").unwrap())).unwrap();
    assert_eq!(bus.detect().unwrap(), None);
}

#[test]
fn non_usb_selectors_are_refused() {
    let e = UsbBus::with_roots(Roots::default(), Some(Selector::parse("serial:/dev/ttyUSB0").unwrap()))
        .unwrap_err();
    assert!(matches!(e, BusError::NotConfigured(..)));
}

#[test]
fn wait_for_sees_a_module_arrive_and_times_out_with_what_it_saw() {
    let tmp = tempfile::tempdir().unwrap();
    let (r, none) = found(tmp.path());
    assert!(none.is_empty());
    let mut bus = UsbBus::with_roots(r.clone(), None).unwrap();
    let e = bus.wait_for(&[DeviceMode::Normal], Duration::from_millis(300)).unwrap_err();
    assert!(e.to_string().contains("no catalogue module on USB"), "{e}");

    let sysfs = r.sysfs.clone();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(400));
        fake::fastboot(&sysfs, "1-3");
    });
    let m = bus.wait_for(&[DeviceMode::Fastboot], Duration::from_secs(10)).unwrap();
    h.join().unwrap();
    assert_eq!(m, DeviceMode::Fastboot);
    assert_eq!(bus.endpoint(Port::Fastboot), "usb:1-3 if0");

    let e = bus.wait_for(&[DeviceMode::Normal], Duration::from_millis(100)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("normal mode") && text.contains("18d1:d00d") && text.contains("fastboot mode"),
        "{text}"
    );
}

#[cfg(unix)]
mod pty {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};

    /// A pty: the master as a file, the slave kept open, and the slave's path.
    pub fn pty() -> (fs::File, OwnedFd, std::path::PathBuf) {
        let p = nix::pty::openpty(None, None).unwrap();
        let path = fs::read_link(format!("/proc/self/fd/{}", p.slave.as_raw_fd())).unwrap();
        (fs::File::from(p.master), p.slave, path)
    }

    #[test]
    fn usb3_module_returning_as_usb2_qdloader_is_followed_and_never_written_to() {
        let tmp = tempfile::tempdir().unwrap();
        let r = fake::roots(tmp.path());
        fake::ec25(&r.sysfs, "2-1", "5000");
        fake::ec20(&r.sysfs, "1-4", 0);
        let mut bus = UsbBus::with_roots(r.clone(), Some(Selector::parse("usb:2-1").unwrap())).unwrap();
        assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Normal));

        let (master, _slave, slave_path) = pty();
        std::os::unix::fs::symlink(&slave_path, r.dev.join("ttyUSB9")).unwrap();
        // The module leaves 2-1 and comes back as 05c6:9008 on 1-1, qcserial on ttyUSB9.
        fs::remove_dir_all(r.sysfs.join("2-1")).unwrap();
        fake::qdl(&r.sysfs, "1-1", Some("ttyUSB9"));
        let m = bus.wait_for(&[DeviceMode::Edl, DeviceMode::Dload], Duration::from_secs(10)).unwrap();
        assert_eq!(m, DeviceMode::Edl, "05c6:9008 is EDL by its identity");
        assert_eq!(bus.current().unwrap().usb_path, "1-1");
        // A boot ROM gets no byte before its HELLO is read: nothing was written.
        let mut fds = [nix::poll::PollFd::new(master.as_fd(), nix::poll::PollFlags::POLLIN)];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)).unwrap();
        assert_eq!(ready, 0, "the QDLoader tty was written to");
    }

    #[test]
    fn ec20_r1_is_followed_into_dload_on_the_same_id() {
        // The field log: normal 05c6:9215 (five interfaces, bcdDevice 0232) → DLOAD, still
        // 05c6:9215 on the same port, one interface bound by qcserial as ttyUSB0.
        let tmp = tempfile::tempdir().unwrap();
        let r = fake::roots(tmp.path());
        fake::ec20(&r.sysfs, "1-1.2", 0);
        fake::ec25(&r.sysfs, "2-1", "5000");
        let mut bus = UsbBus::with_roots(r.clone(), Some(Selector::parse("usb:1-1.2").unwrap())).unwrap();
        assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Normal));

        let (mut master, _slave, slave_path) = pty();
        fs::remove_dir_all(r.sysfs.join("1-1.2")).unwrap();
        std::os::unix::fs::symlink(&slave_path, r.dev.join("ttyUSB0")).unwrap();
        fake::ec20_dload(&r.sysfs, "1-1.2", "ttyUSB0");
        let started = std::time::Instant::now();
        let dev = thread::spawn(move || {
            // The DMSS boot ROM says nothing until asked; the host listens first.
            let mut got = Vec::new();
            let mut b = [0u8; 16];
            while got.len() < 5 {
                let n = master.read(&mut b).unwrap();
                got.extend_from_slice(&b[..n]);
            }
            assert_eq!(got, [0x7E, 0x06, 0x4E, 0x95, 0x7E], "the DMSS NOP probe");
            master.write_all(&[0x7E, 0x02, 0x6A, 0xD3, 0x7E]).unwrap();
            (master, started.elapsed())
        });
        let m = bus.wait_for(&[DeviceMode::Dload, DeviceMode::Streaming], Duration::from_secs(10)).unwrap();
        let (_master, probed_after) = dev.join().unwrap();
        assert_eq!(m, DeviceMode::Dload);
        assert!(probed_after >= crate::discovery::listen::LISTEN_BEFORE_PROBE, "{probed_after:?}");
        let f = bus.current().unwrap();
        assert_eq!((f.usb_path.as_str(), f.mode.name(), f.bcd_device), ("1-1.2", "DLOAD", Some(0)));
        assert_eq!(bus.endpoint(Port::Dm), r.dev.join("ttyUSB0").display().to_string());
        // The verdict is cached for this enumeration: no second probe.
        assert_eq!(bus.detect().unwrap(), Some(DeviceMode::Dload));
    }

    #[test]
    fn open_at_port_uses_the_bound_tty() {
        let tmp = tempfile::tempdir().unwrap();
        let r = fake::roots(tmp.path());
        fake::ec20(&r.sysfs, "1-1.2", 0);
        let (mut master, _slave, slave_path) = pty();
        std::os::unix::fs::symlink(&slave_path, r.dev.join("ttyUSB2")).unwrap();
        let mut bus = UsbBus::with_roots(r.clone(), None).unwrap();
        bus.detect().unwrap();
        let mut at = bus.open(Port::At).unwrap();
        at.send(b"ATI\r").unwrap();
        let mut b = [0u8; 4];
        master.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ATI\r");
        master.write_all(b"OK\r\n").unwrap();
        let mut got = [0u8; 8];
        let n = at.recv(&mut got, Duration::from_secs(2)).unwrap();
        assert!(n > 0);
    }

    #[test]
    fn open_without_a_tty_or_usb_bus_reports_why() {
        let tmp = tempfile::tempdir().unwrap();
        let r = fake::roots(tmp.path());
        fake::qdl(&r.sysfs, "1-1", None);
        let f = scan(&r).unwrap().remove(0);
        let e = open_port(&f, Port::Edl).err().unwrap();
        assert!(!e.is_empty());
        assert_eq!(port_endpoint(&f, Port::Edl), "usb:1-1 if0");
        assert_eq!(port_endpoint(&f, Port::Dm), "usb:1-1 if0", "single interface serves the DM port");
    }
}
