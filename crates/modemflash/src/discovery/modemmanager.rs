//! Keep ModemManager off the module during an update (cargo feature `modemmanager`, Linux).
//!
//! ModemManager probes new modem ports and can reset a module in the middle of a flash
//! (`docs/facts/quectel.md` [inferred]). Its D-Bus API has the remedy: `InhibitDevice(s uid,
//! b inhibit)` on `org.freedesktop.ModemManager1` (object `/org/freedesktop/ModemManager1`)
//! closes the modem's ports and ignores the device, where `uid` is the `Device` property of
//! the modem object (its sysfs path, e.g. `/sys/devices/…/usb1/1-12/1-12.2`). The
//! inhibition is bound to the caller's bus connection: ModemManager lifts it when the caller
//! leaves the bus, so it ends on every exit, Ctrl-C and crashes included. [`Inhibition`]
//! also lifts it explicitly when dropped.
//!
//! Tested against a fake ModemManager on a private bus (`dbus-daemon --session`) started by
//! the tests; not against the real daemon.

use zbus::blocking::Connection;
use zbus::blocking::fdo::{DBusProxy, ObjectManagerProxy};
use zbus::names::BusName;

/// ModemManager's bus name, manager object and interfaces.
pub const MM_NAME: &str = "org.freedesktop.ModemManager1";
pub const MM_PATH: &str = "/org/freedesktop/ModemManager1";
pub const MODEM_INTERFACE: &str = "org.freedesktop.ModemManager1.Modem";

/// Why inhibition failed.
#[derive(Debug, thiserror::Error)]
pub enum MmError {
    #[error("D-Bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("D-Bus: {0}")]
    Fdo(#[from] zbus::fdo::Error),
}

/// What [`inhibit`] did.
#[derive(Debug)]
pub enum Outcome {
    /// ModemManager is not on the bus: nothing to do.
    NotRunning,
    /// ModemManager runs but has no modem at this USB path (e.g. the module is in a
    /// flashing mode it ignores).
    NotManaged,
    /// The module is inhibited until the [`Inhibition`] is dropped.
    Inhibited(Inhibition),
}

/// An active inhibition; dropping it lifts it.
#[derive(Debug)]
pub struct Inhibition {
    conn: Connection,
    uid: String,
    released: bool,
}

impl Inhibition {
    /// The device uid ModemManager knows the module by.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Lift the inhibition now.
    pub fn release(mut self) -> Result<(), MmError> {
        self.released = true;
        call_inhibit(&self.conn, &self.uid, false)
    }
}

impl Drop for Inhibition {
    fn drop(&mut self) {
        if !self.released {
            // Best effort: closing the connection lifts it anyway.
            let _ = call_inhibit(&self.conn, &self.uid, false);
        }
    }
}

fn call_inhibit(conn: &Connection, uid: &str, inhibit: bool) -> Result<(), MmError> {
    let proxy = zbus::blocking::Proxy::new(conn, MM_NAME, MM_PATH, MM_NAME)?;
    proxy.call::<_, _, ()>("InhibitDevice", &(uid, inhibit))?;
    Ok(())
}

/// The `Device` uids of the modems ModemManager manages.
pub fn modem_devices(conn: &Connection) -> Result<Vec<String>, MmError> {
    let om = ObjectManagerProxy::builder(conn).destination(MM_NAME)?.path(MM_PATH)?.build()?;
    let mut out = Vec::new();
    for ifaces in om.get_managed_objects()?.into_values() {
        let Some(props) = ifaces.iter().find(|(name, _)| name.as_str() == MODEM_INTERFACE).map(|(_, p)| p)
        else {
            continue;
        };
        if let Some(dev) = props.get("Device").and_then(|v| String::try_from(v.clone()).ok()) {
            out.push(dev);
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a ModemManager device uid (a sysfs path) is the USB device at `usb_path`.
pub fn uid_is_usb_path(uid: &str, usb_path: &str) -> bool {
    uid.trim_end_matches('/').rsplit('/').next() == Some(usb_path)
}

/// How long a running ModemManager is given to finish probing a module it has no modem
/// for yet. Seen with Debian's ModemManager 1.20 over a real kernel USB stack: right after
/// the module appears ModemManager is still probing its ports (`AT` on every tty) and has no
/// modem object, so there is nothing to inhibit; started then, an update met ModemManager's
/// `AT` in the middle of its DMSS upload once the 9615 was in DLOAD (05c6:9215, the normal
/// mode's id). Once inhibited, ModemManager keeps ignoring the device uid (its sysfs path)
/// across re-enumerations on the same port. [inferred: real hardware probes in about 5 to
/// 15 s; an emulated guest is slower]
pub const MANAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(45);
const MANAGE_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Inhibit the module at `usb_path` (`1-1.2`) over `conn`, when ModemManager has a modem
/// for it now.
pub fn inhibit(conn: Connection, usb_path: &str) -> Result<Outcome, MmError> {
    inhibit_when_managed(conn, usb_path, std::time::Duration::ZERO)
}

/// Inhibit the module at `usb_path`, waiting up to `wait` for a running ModemManager to
/// create its modem (it probes new ports first; see [`MANAGE_WAIT`]).
pub fn inhibit_when_managed(
    conn: Connection,
    usb_path: &str,
    wait: std::time::Duration,
) -> Result<Outcome, MmError> {
    let name = BusName::try_from(MM_NAME).map_err(zbus::Error::from)?;
    if !DBusProxy::new(&conn)?.name_has_owner(name)? {
        return Ok(Outcome::NotRunning);
    }
    let deadline = crate::time::deadline(wait);
    let uid = loop {
        if let Some(uid) = modem_devices(&conn)?.into_iter().find(|u| uid_is_usb_path(u, usb_path)) {
            break uid;
        }
        if std::time::Instant::now() >= deadline {
            return Ok(Outcome::NotManaged);
        }
        std::thread::sleep(MANAGE_POLL);
    };
    call_inhibit(&conn, &uid, true)?;
    Ok(Outcome::Inhibited(Inhibition { conn, uid, released: false }))
}

/// Inhibit the module on the system bus, giving a ModemManager that is still probing it
/// `wait` (see [`MANAGE_WAIT`]). No system bus means no ModemManager.
pub fn inhibit_on_system_bus(usb_path: &str, wait: std::time::Duration) -> Result<Outcome, MmError> {
    match Connection::system() {
        Ok(conn) => inhibit_when_managed(conn, usb_path, wait),
        Err(_) => Ok(Outcome::NotRunning),
    }
}

#[cfg(test)]
#[path = "tests/modemmanager.rs"]
mod tests;
