//! Against a fake ModemManager served on a private `dbus-daemon --session` that the test
//! starts (Debian package `dbus`); skipped, with a message, where dbus-daemon is missing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// A private session bus; killed on drop.
struct Bus {
    child: Child,
    address: String,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn private_bus() -> Option<Bus> {
    let mut child = match Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "SKIPPED: no dbus-daemon ({e}); install Debian's `dbus` package to run the ModemManager tests"
            );
            return None;
        }
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take()?).read_line(&mut line).ok()?;
    Some(Bus { child, address: line.trim().to_owned() })
}

type Calls = Arc<Mutex<Vec<(String, bool)>>>;

struct FakeManager {
    known: Vec<String>,
    calls: Calls,
}

#[zbus::interface(name = "org.freedesktop.ModemManager1")]
impl FakeManager {
    fn inhibit_device(&self, uid: String, inhibit: bool) -> zbus::fdo::Result<()> {
        if !self.known.contains(&uid) {
            return Err(zbus::fdo::Error::Failed(format!("unknown device {uid}")));
        }
        self.calls.lock().unwrap().push((uid, inhibit));
        Ok(())
    }
}

struct FakeModem {
    device: String,
}

#[zbus::interface(name = "org.freedesktop.ModemManager1.Modem")]
impl FakeModem {
    #[zbus(property)]
    fn device(&self) -> String {
        self.device.clone()
    }
}

const UID: &str = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.2";

fn fake_mm(address: &str, calls: Calls) -> Connection {
    zbus::blocking::connection::Builder::address(address)
        .unwrap()
        .name(MM_NAME)
        .unwrap()
        .serve_at(MM_PATH, zbus::fdo::ObjectManager)
        .unwrap()
        .serve_at(MM_PATH, FakeManager { known: vec![UID.into()], calls })
        .unwrap()
        .serve_at(format!("{MM_PATH}/Modem/0"), FakeModem { device: UID.into() })
        .unwrap()
        .build()
        .unwrap()
}

fn client(address: &str) -> Connection {
    zbus::blocking::connection::Builder::address(address).unwrap().build().unwrap()
}

fn wait_for(calls: &Calls, n: usize) -> Vec<(String, bool)> {
    let t0 = Instant::now();
    loop {
        let c = calls.lock().unwrap().clone();
        if c.len() >= n || t0.elapsed() > Duration::from_secs(5) {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn uid_matching() {
    assert!(uid_is_usb_path(UID, "1-1.2"));
    assert!(uid_is_usb_path("/sys/devices/x/1-1.2/", "1-1.2"));
    assert!(!uid_is_usb_path(UID, "1-1"));
    assert!(!uid_is_usb_path("", "1-1"));
}

#[test]
fn no_modemmanager_on_the_bus_is_nothing_to_do() {
    let Some(bus) = private_bus() else { return };
    let r = inhibit(client(&bus.address), "1-1.2").unwrap();
    assert!(matches!(r, Outcome::NotRunning), "{r:?}");
}

#[test]
fn inhibits_the_module_and_lifts_it_on_drop_and_release() {
    let Some(bus) = private_bus() else { return };
    let calls: Calls = Arc::default();
    let _mm = fake_mm(&bus.address, calls.clone());

    assert_eq!(modem_devices(&client(&bus.address)).unwrap(), [UID]);

    // A module ModemManager does not manage.
    let r = inhibit(client(&bus.address), "2-1").unwrap();
    assert!(matches!(r, Outcome::NotManaged), "{r:?}");

    let Outcome::Inhibited(guard) = inhibit(client(&bus.address), "1-1.2").unwrap() else { panic!() };
    assert_eq!(guard.uid(), UID);
    assert_eq!(wait_for(&calls, 1), [(UID.to_owned(), true)]);
    drop(guard);
    assert_eq!(wait_for(&calls, 2), [(UID.to_owned(), true), (UID.to_owned(), false)]);

    let Outcome::Inhibited(guard) = inhibit(client(&bus.address), "1-1.2").unwrap() else { panic!() };
    guard.release().unwrap();
    let c = wait_for(&calls, 4);
    assert_eq!(c.len(), 4, "release lifts it exactly once: {c:?}");
    assert_eq!(c[3], (UID.to_owned(), false));
}

#[test]
fn usb_bus_inhibits_the_module_it_tracks_while_it_lives() {
    use crate::discovery::ModuleBus;
    use crate::discovery::sysfs::fake;
    use crate::discovery::usbbus::UsbBus;
    use crate::module::DeviceMode;

    let Some(bus) = private_bus() else { return };
    let calls: Calls = Arc::default();
    let _mm = fake_mm(&bus.address, calls.clone());
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake::roots(tmp.path());
    fake::ec20(&roots.sysfs, "1-1.2", 0);
    let mut ub = UsbBus::with_roots(roots, None).unwrap();
    ub.inhibit_modemmanager(Some(bus.address.clone()));
    assert_eq!(ub.detect().unwrap(), Some(DeviceMode::Normal));
    assert_eq!(ub.detect().unwrap(), Some(DeviceMode::Normal));
    assert_eq!(wait_for(&calls, 1), [(UID.to_owned(), true)], "inhibited once");
    let (held, errors) = ub.modemmanager_inhibitions();
    assert_eq!((held, errors.len()), (vec![UID], 0));
    drop(ub);
    assert_eq!(wait_for(&calls, 2), [(UID.to_owned(), true), (UID.to_owned(), false)]);
}
