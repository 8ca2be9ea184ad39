//! The host's view of an in-process virtual module: an implementation of the library's
//! [`ModuleBus`] over the [`VirtualBus`], so `modemflash::exec` runs against the simulator
//! exactly as against hardware (the demo and the end-to-end tests use it).

use std::time::Duration;

use modemflash::discovery::module_id::ModuleIdentity;
use modemflash::discovery::{BusError, ModuleBus};
use modemflash::module::{DeviceMode, Port};
use modemflash::transport::Transport;

use crate::module::Module;

/// Host access to an in-process module.
#[derive(Debug, Clone)]
pub struct SimBus {
    module: Module,
}

impl SimBus {
    pub fn new(module: Module) -> Self {
        SimBus { module }
    }

    /// The module behind the bus.
    pub fn module(&self) -> &Module {
        &self.module
    }
}

impl ModuleBus for SimBus {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        Ok(self.module.bus().current().mode)
    }

    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        let e = self.module.bus().wait_for(modes, timeout)?;
        e.mode.ok_or_else(|| BusError::Timeout {
            wanted: String::new(),
            waited: timeout,
            seen: "nothing".into(),
        })
    }

    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError> {
        self.module.bus().open(port).map(|t| Box::new(t) as Box<dyn Transport>).map_err(|e| BusError::Open {
            port: port.name(),
            endpoint: self.endpoint(port),
            why: e.to_string(),
        })
    }

    fn location(&self) -> ModuleIdentity {
        let mut id = ModuleIdentity {
            port_path: Some(format!("usb:{}", self.module.port_path())),
            ..Default::default()
        };
        id.set_usb_serial(self.module.bus().current().usb_serial.as_deref());
        id
    }

    /// What the virtual module's USB identity tells, read the way USB discovery reads a
    /// real one (catalogue rows by id, interface count, bcdDevice, iProduct).
    fn chip(&self) -> Option<modemflash::plan::ModuleChip> {
        let usb = self.module.bus().current().usb?;
        let row = modemflash::catalog::lookup_device(&modemflash::catalog::DeviceFacts {
            vid: usb.vid,
            pid: usb.pid,
            interface_count: Some(usize::from(usb.interfaces)),
            bcd_device: Some(usb.bcd_device),
            product: usb.product,
        })?;
        modemflash::discovery::chip_from_usb(row.chipset, row.family, usb.vid, usb.pid, usb.serial)
    }

    fn endpoint(&self, port: Port) -> String {
        let e = self.module.bus().current();
        let mode = e.mode.map_or("off the bus", DeviceMode::key);
        format!("virtual {} {} ({mode})", self.module.model().name(), port.name())
    }
}
