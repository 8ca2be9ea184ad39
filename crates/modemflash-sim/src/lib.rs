//! Virtual Quectel modules for modemflash, and a builder of synthetic but structurally
//! faithful firmware packages.
//!
//! - [`Module`]: an EC20 R1 (MDM9615) or EC25 (MDM9x07) that speaks DIAG, AT, DMSS,
//!   streaming DLOAD, fastboot, Sahara and Firehose from the device side, with the same
//!   codecs as the host, over a simulated NAND whose contents decide what it boots into.
//! - [`VirtualBus`]: what the module exposes as it re-enumerates; the host lists, waits and
//!   opens endpoints there.
//! - [`builder`]: synthetic packages. Every image is a correct header (MBN, ELF, `ANDROID!`,
//!   yaffs2, Intel HEX, partition table, rawprogram XML) over deterministic pseudo-random
//!   bytes, so tests and the demo need no binary blobs.

pub mod boot;
pub mod builder;
pub mod bus;
pub mod clock;
pub mod core;
pub mod event;
pub mod factory;
pub mod fault;
pub mod fleet;
pub mod handler;
pub mod handlers;
pub mod host;
pub mod identity;
pub mod module;
pub mod multibus;
pub mod nand;
pub mod nand_data;
pub mod nv;
pub mod serve;
pub mod state;
pub mod usbip;

pub use boot::Model;
pub use bus::{Endpoint, Enumeration, VirtualBus};
pub use clock::{Clock, RealClock, SharedClock, VirtualClock};
pub use core::{EdlQuirks, FastbootQuirks, IdentityOverrides, ModuleConfig, SimIdentity};
pub use event::SimEvent;
pub use fault::{Fault, FaultKind};
pub use host::SimBus;
pub use identity::{UsbIdentity, usb_identity};
pub use module::Module;
pub use multibus::MultiBus;
pub use serve::Serving;
