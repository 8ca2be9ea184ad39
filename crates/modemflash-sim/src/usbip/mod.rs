//! The virtual module as a USB device over USB/IP, for a Linux host's own USB stack
//! (`usbip attach` → vhci-hcd → qcserial/option/usbfs).
//!
//! The server is a host of the module's [`VirtualBus`](crate::VirtualBus), like every other
//! way of reaching the module: it opens the endpoints of the current mode in-process and
//! carries their bytes in URBs. There is no second device model.
//!
//! - It exports one device, bus id [`BUSID`], while the module is on the bus and nobody has
//!   imported it. Its descriptors are those of the mode ([`descriptors`]).
//! - When the module leaves the bus (a reset, a reboot into another mode) the server closes
//!   the imported connection: the host sees the device unplugged. After the module's
//!   re-enumeration delay the next mode is exported; the host attaches it again.
//! - Bulk IN URBs wait for data; control requests are answered from the descriptors.

pub mod descriptors;
mod pipe;
pub mod proto;
mod server;

pub use server::{BUSID, UsbIpServer};
