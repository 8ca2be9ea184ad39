//! The device-side protocol handlers plug in here: one [`Handler`] per endpoint of a mode.
//! A handler turns received bytes into replies through the shared codecs of the
//! `modemflash` library, and asks the module for resets, NAND writes and faults through
//! [`Cx`].

use std::time::Duration;

use crate::core::Core;
use crate::event::SimEvent;
use crate::fault::FaultKind;
use crate::nand::{Content, PartitionWriter};
use modemflash::module::DeviceMode;

/// Where a reset leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// Run the boot logic over the NAND.
    Boot,
    /// A mode forced by a command (DIAG 0x3A → DLOAD, EDL command, AT+QFASTBOOT, GO).
    Mode(DeviceMode),
}

/// Something the endpoint runner must do after a handler returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Leave the bus, then come back as `to` after the re-enumeration delay. `after` lets
    /// the reply go out first (e.g. Firehose power reset ~1 s later).
    Reset { to: ResetTo, after: Duration },
    /// Hold the endpoint (send nothing, read nothing) until this time on the module
    /// clock: device timing. Several pauses in one call: the latest wins.
    PauseUntil(Duration),
}

/// A device-side protocol handler for one endpoint.
pub trait Handler: Send {
    /// Bytes arrived from the host.
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>);
    /// Called when nothing arrived for a while (about 20 ms).
    fn on_idle(&mut self, _cx: &mut Cx<'_>) {}
}

/// What a handler can reach while it runs. The module's lock is held.
#[derive(Debug)]
pub struct Cx<'a> {
    pub core: &'a mut Core,
    pub(crate) out: &'a mut Vec<Vec<u8>>,
    pub(crate) actions: &'a mut Vec<Action>,
    pub(crate) events: &'a mut Vec<SimEvent>,
}

impl Cx<'_> {
    /// Queue one message (one USB transfer) to the host.
    pub fn send(&mut self, msg: Vec<u8>) {
        self.out.push(msg);
    }

    /// Ask for a reset.
    pub fn reset(&mut self, to: ResetTo, after: Duration) {
        self.actions.push(Action::Reset { to, after });
    }

    /// The module clock's time.
    pub fn now(&self) -> Duration {
        self.core.clock.now()
    }

    /// Hold the endpoint until `at` (module clock) before the replies of this call go out
    /// and before more input is read.
    pub fn pause_until(&mut self, at: Duration) {
        self.actions.push(Action::PauseUntil(at));
    }

    /// Log what the module does (shown by `modemflash sim`).
    pub fn log(&mut self, text: impl Into<String>) {
        self.events.push(SimEvent::Log { text: text.into() });
    }

    /// Count a command. Returns a fault to apply to it, if one fires now
    /// (`Nak`, `Stall`, `Disconnect`, `PowerLoss`).
    pub fn command(&mut self, step: &str) -> Option<FaultKind> {
        let by_count = self.core.faults.on_command();
        let by_step = self.core.faults.at_step(step);
        let fault = by_count.or(by_step);
        if let Some(f) = &fault {
            self.events.push(SimEvent::Fault { kind: format!("{f:?}"), step: step.to_owned() });
        }
        fault
    }

    /// True when an always-on fault of this kind is configured (wrong chip id, model).
    pub fn has_fault(&self, kind: &FaultKind) -> bool {
        self.core.faults.has(kind)
    }

    /// Store a finished partition write and announce it.
    pub fn commit(&mut self, writer: PartitionWriter, complete: bool) {
        self.update_touches_nand();
        let name = writer.name.clone();
        let content: Content = writer.finish(complete);
        if complete {
            self.events.push(SimEvent::PartitionWritten {
                name: name.clone(),
                size: content.len,
                sha256: content.sha256.clone().unwrap_or_default(),
            });
        } else {
            self.events.push(SimEvent::Log {
                text: format!("partition {name} left partial ({} bytes)", content.len),
            });
        }
        self.core.nand.store(&name, content);
        self.core.dirty = true;
        self.persist();
    }

    /// An erase or write of the NAND: the `wipe-nv` fault loses the NV items now.
    fn update_touches_nand(&mut self) {
        if !self.core.nv.is_empty() && self.has_fault(&crate::fault::FaultKind::WipeNv) {
            self.core.nv.wipe();
            self.events.push(SimEvent::Log { text: "NV items wiped (fault wipe-nv)".into() });
        }
    }

    /// Save the NAND to the state file now, as a real flash keeps what was written when
    /// the power goes (a module killed mid-update restarts with what had landed).
    fn persist(&mut self) {
        if let Some(path) = self.core.config.state_file.clone() {
            match crate::state::save(&path, &self.core.nand, &self.core.config.identity) {
                Ok(()) => self.core.dirty = false,
                Err(e) => self
                    .events
                    .push(SimEvent::Log { text: format!("cannot save state to {}: {e}", path.display()) }),
            }
        }
    }

    /// Erase a partition.
    pub fn erase(&mut self, name: &str) {
        self.update_touches_nand();
        self.core.nand.erase(name);
        if let Ok(mut d) = self.core.data.lock() {
            d.erase(name);
        }
        self.core.dirty = true;
        self.persist();
        self.events.push(SimEvent::Log { text: format!("erased {name}") });
    }
}
