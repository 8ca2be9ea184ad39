//! Events a virtual module reports, for `modemflash sim --json` and tests.
//!
//! Two are fixed because outside scripts rely on them (issue 4):
//! `{"event":"endpoints","mode":…,"endpoints":[{"role":"dm","tty":…},…]}` and
//! `{"event":"partition_written","name":…,"size":N,"sha256":…}`.

use serde::Serialize;

use crate::bus::Endpoint;
use modemflash::module::DeviceMode;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SimEvent {
    /// The module (re)enumerated.
    /// `usb_id` is `vid:pid`; `usb` the whole identity (bcdDevice, strings, interfaces).
    Endpoints {
        mode: DeviceMode,
        usb_id: String,
        usb: crate::identity::UsbIdentity,
        endpoints: Vec<Endpoint>,
    },
    /// The module left the bus (reset, power loss).
    Detached { reason: String },
    /// A write to a partition completed.
    PartitionWritten { name: String, size: u64, sha256: String },
    /// The module booted its firmware and reports this revision.
    Booted { revision: String },
    /// A fault switch fired.
    Fault { kind: String, step: String },
    /// Free text about what the module does.
    Log { text: String },
}
