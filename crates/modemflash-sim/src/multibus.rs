//! Several virtual modules on one USB bus, as the host sees them: every module that is on
//! the bus is listed as a catalogue device (`Found`) at its port path with its USB id and
//! serial string, and the library's own [`Tracker`] picks which one to follow, exactly
//! as [`UsbBus`](modemflash::discovery::usbbus::UsbBus) does over sysfs. Tests of "two
//! modules re-enumerating at the same moment" run the real following logic this way.
//!
//! The mode of a listed device is the module's own (a real host probes 05c6:9008 for it;
//! probing is not what these tests are about).

use std::time::Duration;

use modemflash::catalog;
use modemflash::discovery::module_id::ModuleIdentity;
use modemflash::discovery::selector::Selector;
use modemflash::discovery::sysfs::Found;
use modemflash::discovery::usbbus::{Pick, Tracker};
use std::sync::Arc;

use modemflash::discovery::{BusError, ModuleBus, PollingBus, wait_polling};
use modemflash::module::{DeviceMode, Port};
use modemflash::time::{RealClock, SharedClock};
use modemflash::transport::Transport;

use crate::module::Module;

/// Real time slept per poll, and virtual time charged for it (as `VirtualBus::wait_for`).
const POLL_REAL: Duration = Duration::from_millis(5);
const POLL_VIRTUAL: Duration = Duration::from_millis(250);

/// Host access to one module among several on a bus.
#[derive(Debug)]
pub struct MultiBus {
    modules: Vec<Module>,
    tracker: Tracker,
    /// Index of the module followed, as last picked.
    current: Option<usize>,
    last_seen: String,
    /// The modules' clock (the first module's; they share one in tests).
    clock: SharedClock,
}

impl MultiBus {
    /// Follow the module `selector` names (`usb:1-2`), or the only one.
    pub fn new(modules: Vec<Module>, selector: Option<Selector>) -> Self {
        let clock = modules
            .first()
            .map_or_else(|| Arc::new(RealClock::default()) as SharedClock, |m| m.bus().clock().clone());
        MultiBus {
            modules,
            tracker: Tracker::new(selector),
            current: None,
            last_seen: "nothing".into(),
            clock,
        }
    }

    /// The module followed now, if any.
    pub fn current(&self) -> Option<&Module> {
        self.current.and_then(|i| self.modules.get(i))
    }

    /// Every module on the bus, as catalogue devices (with the index of each).
    fn scan(&self) -> Vec<(Found, usize)> {
        listed(&self.modules)
    }

    fn refresh(&mut self) -> Result<Option<usize>, BusError> {
        let listed = self.scan();
        let found: Vec<Found> = listed.iter().map(|(f, _)| f.clone()).collect();
        match self.tracker.pick(&found) {
            Pick::One(f) => {
                let i = listed.iter().find(|(g, _)| g.usb_path == f.usb_path).map(|(_, i)| *i);
                self.current = i;
                Ok(i)
            }
            Pick::Nothing => Ok(None),
            Pick::Ambiguous(t) => Err(BusError::Ambiguous(t)),
        }
    }

    fn mode_now(&self, i: usize) -> Option<DeviceMode> {
        self.modules.get(i).and_then(|m| m.bus().current().mode)
    }
}

/// Every module of `modules` that is on the bus, as the host lists catalogue devices (with
/// the index of each). Shared with [`crate::fleet::SimUsb`].
pub(crate) fn listed(modules: &[Module]) -> Vec<(Found, usize)> {
    modules
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let e = m.bus().current();
            let usb = e.usb.clone()?;
            let (vid, pid) = (usb.vid, usb.pid);
            e.mode?;
            // Only what the catalogue knows is a module to the host, told apart as USB
            // discovery tells them (id, interface count, bcdDevice, iProduct).
            let row = catalog::lookup_device(&catalog::DeviceFacts {
                vid,
                pid,
                interface_count: Some(usize::from(usb.interfaces)),
                bcd_device: Some(usb.bcd_device),
                product: usb.product,
            })?;
            let found = Found {
                usb_path: m.port_path(),
                vid,
                pid,
                serial: e.usb_serial.clone(),
                product: usb.product.map(str::to_owned),
                bcd_device: Some(usb.bcd_device),
                speed: Some("480".into()),
                family: row.family,
                chipset: row.chipset,
                mode: row.mode,
                inferred: false,
                busnum: None,
                devnum: Some(u16::try_from(e.generation % 128).unwrap_or(0)),
                usbfs_node: None,
                ports: Vec::new(),
            };
            Some((found, i))
        })
        .collect()
}

impl PollingBus for MultiBus {
    fn last_seen_mut(&mut self) -> &mut String {
        &mut self.last_seen
    }

    fn now(&self) -> Duration {
        self.clock.now()
    }

    fn poll_pause(&mut self) {
        std::thread::sleep(POLL_REAL);
        if self.clock.is_virtual() {
            self.clock.sleep(POLL_VIRTUAL);
        }
    }
}

impl ModuleBus for MultiBus {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        let i = self.refresh()?;
        let mode = i.and_then(|i| self.mode_now(i));
        self.last_seen = match (i, mode) {
            (Some(i), Some(m)) => format!(
                "module at usb:{} in {} mode",
                self.modules.get(i).map(Module::port_path).unwrap_or_default(),
                m.name()
            ),
            _ => "the module is not on the bus".into(),
        };
        Ok(mode)
    }

    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        wait_polling(self, modes, timeout)
    }

    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError> {
        let i = self.refresh()?.ok_or_else(|| BusError::Open {
            port: port.name(),
            endpoint: self.endpoint(port),
            why: "the module is not on the bus".into(),
        })?;
        let m = self
            .modules
            .get(i)
            .ok_or(BusError::NotConfigured("module", modemflash::discovery::BusRemedy::NoSuchModule))?;
        m.bus().open(port).map(|t| Box::new(t) as Box<dyn Transport>).map_err(|e| BusError::Open {
            port: port.name(),
            endpoint: format!("usb:{}", m.port_path()),
            why: e.to_string(),
        })
    }

    fn endpoint(&self, port: Port) -> String {
        match self.current() {
            Some(m) => format!("virtual {} {} at usb:{}", m.model().name(), port.name(), m.port_path()),
            None => format!("{} (module not found)", port.name()),
        }
    }

    fn location(&self) -> ModuleIdentity {
        let mut id = ModuleIdentity::default();
        if let Some(f) = self.tracker.tracked.as_ref() {
            id.port_path = Some(format!("usb:{}", f.usb_path));
            id.set_usb_serial(f.serial.as_deref());
        }
        id
    }
}
