//! modemflash: identify, inspect, update and recover Qualcomm-based cellular modules
//! (Quectel EC20 R1 on MDM9615, EC25/EC21/EG25-G/EC20 R2 on MDM9x07).
//!
//! The data takes one road: `package` → `plan` → `exec` → `protocol::<name>::client` →
//! `protocol::<name>::codec` → `transport`. See ARCHITECTURE.md at the repository root.
//!
//! The library never prints. Progress and diagnostics travel as values (events, typed
//! errors); the CLI decides how to show them.

pub mod backup;
pub mod catalog;
pub mod discovery;
pub mod doctor;
pub mod exec;
pub mod module;
pub mod package;
pub mod plan;
pub mod protocol;
pub mod record;
pub mod time;
pub mod transport;

#[cfg(test)]
mod testutil;
