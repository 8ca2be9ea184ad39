//! ModemManager kept off a module (feature `modemmanager`): each USB path the module shows
//! up on is inhibited once, and the inhibitions are lifted when the guard is dropped.
//! Shared by the one-module `UsbBus` and the many-module `WatchedBus`.

use std::time::Duration;

use super::sysfs::Found;

/// Which D-Bus to reach ModemManager on.
#[derive(Debug, Default)]
enum MmBus {
    /// Inhibition is off.
    #[default]
    Off,
    System,
    /// Another bus, by address (tests).
    Address(String),
}

/// ModemManager inhibition held by the bus (the module exists with feature `modemmanager`).
#[derive(Debug, Default)]
pub(crate) struct MmGuard {
    bus: MmBus,
    /// USB paths already handled, and the inhibitions held (lifted on drop).
    tried: Vec<String>,
    held: Vec<super::modemmanager::Inhibition>,
    errors: Vec<String>,
}

impl MmGuard {
    /// Inhibit through the system bus, or the D-Bus at `bus_address` (tests).
    pub fn set_bus(&mut self, bus_address: Option<String>) {
        self.bus = bus_address.map_or(MmBus::System, MmBus::Address);
    }

    /// Device uids inhibited, and what went wrong trying.
    pub fn inhibitions(&self) -> (Vec<&str>, &[String]) {
        (self.held.iter().map(super::modemmanager::Inhibition::uid).collect(), &self.errors)
    }

    /// Inhibit ModemManager for the USB path `f` is on, once per path.
    pub fn inhibit_once(&mut self, f: &Found) {
        use super::modemmanager::{MANAGE_WAIT, Outcome, inhibit, inhibit_on_system_bus};
        if self.tried.contains(&f.usb_path) {
            return;
        }
        let r = match &self.bus {
            MmBus::Off => return,
            // ModemManager makes a modem only of a module in normal mode; give it time to
            // finish probing one (its inhibition then holds across the flashing modes).
            MmBus::System => inhibit_on_system_bus(
                &f.usb_path,
                if f.mode == crate::catalog::Mode::Normal { MANAGE_WAIT } else { Duration::ZERO },
            ),
            MmBus::Address(addr) => zbus::blocking::connection::Builder::address(addr.as_str())
                .and_then(zbus::blocking::connection::Builder::build)
                .map_err(super::modemmanager::MmError::from)
                .and_then(|c| inhibit(c, &f.usb_path)),
        };
        self.tried.push(f.usb_path.clone());
        match r {
            Ok(Outcome::Inhibited(g)) => self.held.push(g),
            Ok(Outcome::NotRunning | Outcome::NotManaged) => {}
            Err(e) => self.errors.push(format!("usb:{}: {e}", f.usb_path)),
        }
    }
}
