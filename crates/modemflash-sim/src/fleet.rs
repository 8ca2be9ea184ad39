//! Several virtual modules on one bus as a [`UsbSource`] for the library's [`Watcher`]:
//! the host's view that `update --all` gets from sysfs, here from the modules themselves
//! (the same listing as [`crate::MultiBus`]). Modes come from the modules (a real host
//! reads them from the USB identity, and probes the 9615's DLOAD).
//!
//! [`Watcher`]: modemflash::discovery::watcher::Watcher

use std::time::Duration;

use modemflash::discovery::BusError;
use modemflash::discovery::Port;
use modemflash::discovery::sysfs::Found;
use modemflash::discovery::watcher::UsbSource;
use modemflash::plan::DeviceMode;
use modemflash::transport::Transport;

use crate::module::Module;
use crate::multibus::listed;

/// Real time slept per poll, and virtual time charged for it (as `MultiBus`).
const POLL_REAL: Duration = Duration::from_millis(5);
const POLL_VIRTUAL: Duration = Duration::from_millis(250);

/// The modules on one virtual bus.
#[derive(Debug, Clone)]
pub struct SimUsb {
    modules: Vec<Module>,
}

impl SimUsb {
    pub fn new(modules: Vec<Module>) -> Self {
        SimUsb { modules }
    }

    fn module_at(&self, path: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.port_path() == path && m.bus().current().mode.is_some())
    }
}

impl UsbSource for SimUsb {
    fn scan(&self) -> Result<Vec<Found>, BusError> {
        Ok(listed(&self.modules).into_iter().map(|(f, _)| f).collect())
    }

    fn mode_of(&self, f: &Found) -> Option<DeviceMode> {
        self.module_at(&f.usb_path).and_then(|m| m.bus().current().mode)
    }

    fn open(&self, f: &Found, port: Port) -> Result<Box<dyn Transport>, String> {
        let m = self.module_at(&f.usb_path).ok_or("the module is not on the bus")?;
        m.bus().open(port).map(|t| Box::new(t) as Box<dyn Transport>).map_err(|e| e.to_string())
    }

    fn endpoint(&self, f: &Found, port: Port) -> String {
        format!("virtual {} at usb:{}", port.name(), f.usb_path)
    }

    fn pause(&self) {
        std::thread::sleep(POLL_REAL);
        if let Some(m) = self.modules.first()
            && m.bus().clock().is_virtual()
        {
            m.bus().clock().sleep(POLL_VIRTUAL);
        }
    }

    fn now(&self) -> Duration {
        self.modules.first().map_or(Duration::ZERO, |m| m.bus().clock().now())
    }
}
