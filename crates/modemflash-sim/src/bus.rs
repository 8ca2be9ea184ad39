//! The virtual USB bus: what the module currently exposes, appearing and disappearing as
//! it re-enumerates. The host lists endpoints, waits for a mode with a deadline, and opens
//! an endpoint's host side.
//!
//! Deadlines are measured on the module's [`Clock`](crate::clock::Clock): with virtual time a
//! 60 s wait costs milliseconds.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use std::sync::mpsc::Sender;

use modemflash::transport::memory::{self, MemoryTransport};
use modemflash::transport::{LinkInfo, Transport};
use serde::Serialize;

use crate::clock::SharedClock;
use modemflash::discovery::BusError;
use modemflash::module::{DeviceMode, Port};

/// One endpoint as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub role: Port,
    /// Where it is served besides in-process: a pty path or a TCP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
}

/// What the bus shows right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enumeration {
    /// Increases with every (re)enumeration and every disappearance.
    pub generation: u64,
    /// `None` while the module is off the bus (rebooting).
    pub mode: Option<DeviceMode>,
    pub usb_id: Option<(u16, u16)>,
    /// The USB serial string, in modes that have one (fastboot).
    pub usb_serial: Option<String>,
    /// The device descriptor and strings a host reads (bcdDevice, iProduct, serial).
    pub usb: Option<crate::identity::UsbIdentity>,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug)]
struct State {
    enumeration: Enumeration,
    /// In-process endpoints: each `open` hands a fresh device side to the endpoint's
    /// thread, like opening a tty again.
    connectors: Vec<Connector>,
}

/// The bus.
#[derive(Debug)]
pub struct VirtualBus {
    state: Mutex<State>,
    changed: Condvar,
    clock: SharedClock,
}

/// Host messages an in-process endpoint holds unread before the host's `send` waits, like
/// a USB pipe (a slow device slows the host instead of filling memory).
pub const HOST_QUEUE_DEPTH: usize = 64;

/// Real time slept per wait step, and virtual time charged for it.
const WAIT_STEP_REAL: Duration = Duration::from_millis(5);
const WAIT_STEP: Duration = Duration::from_millis(250);

impl VirtualBus {
    pub fn new(clock: SharedClock) -> Self {
        VirtualBus {
            state: Mutex::new(State {
                enumeration: Enumeration {
                    generation: 0,
                    mode: None,
                    usb_id: None,
                    usb_serial: None,
                    usb: None,
                    endpoints: Vec::new(),
                },
                connectors: Vec::new(),
            }),
            changed: Condvar::new(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The clock deadlines are measured on.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// What is on the bus now.
    pub fn current(&self) -> Enumeration {
        self.lock().enumeration.clone()
    }

    /// The module left the bus.
    pub(crate) fn detach(&self) {
        let mut s = self.lock();
        s.enumeration.generation += 1;
        s.enumeration.mode = None;
        s.enumeration.usb_id = None;
        s.enumeration.usb_serial = None;
        s.enumeration.usb = None;
        s.enumeration.endpoints.clear();
        s.connectors.clear();
        drop(s);
        self.changed.notify_all();
    }

    /// The module appeared in `mode`.
    pub(crate) fn attach(
        &self,
        mode: DeviceMode,
        usb: crate::identity::UsbIdentity,
        usb_serial: Option<String>,
        endpoints: Vec<Endpoint>,
        connectors: Vec<Connector>,
    ) -> u64 {
        let mut s = self.lock();
        s.enumeration.generation += 1;
        s.enumeration.mode = Some(mode);
        s.enumeration.usb_id = Some((usb.vid, usb.pid));
        s.enumeration.usb = Some(usb);
        s.enumeration.usb_serial = usb_serial;
        s.enumeration.endpoints = endpoints;
        s.connectors = connectors;
        let g = s.enumeration.generation;
        drop(s);
        self.changed.notify_all();
        g
    }

    /// Wait until the module shows a mode accepted by `want`, for at most `timeout` of bus
    /// time.
    pub fn wait_for(&self, want: &[DeviceMode], timeout: Duration) -> Result<Enumeration, BusError> {
        let wanted = want.iter().map(|m| m.key()).collect::<Vec<_>>().join(" or ");
        self.wait_until(&wanted, |e| e.mode.is_some_and(|m| want.contains(&m)), timeout)
    }

    /// Wait until what the bus shows satisfies `ready` (e.g. "a later generation, in
    /// fastboot"), for at most `timeout` of bus time; `wanted` names it for the error.
    pub fn wait_until(
        &self,
        wanted: &str,
        ready: impl Fn(&Enumeration) -> bool,
        timeout: Duration,
    ) -> Result<Enumeration, BusError> {
        let deadline = self.clock.now().saturating_add(timeout);
        let mut s = self.lock();
        loop {
            if ready(&s.enumeration) {
                return Ok(s.enumeration.clone());
            }
            if self.clock.now() >= deadline {
                let seen = s.enumeration.mode.map_or("nothing (off the bus)", DeviceMode::key).to_owned();
                return Err(BusError::Timeout { wanted: wanted.to_owned(), waited: timeout, seen });
            }
            let (guard, res) = self
                .changed
                .wait_timeout(s, WAIT_STEP_REAL)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s = guard;
            if res.timed_out() && self.clock.is_virtual() {
                // Nothing happened: let virtual time pass, as a real wait would.
                self.clock.sleep(WAIT_STEP);
            }
        }
    }

    /// Open an in-process endpoint of the current enumeration. Each call is a new
    /// connection; the endpoint keeps its protocol state across connections, as a tty does.
    pub fn open(&self, role: Port) -> Result<MemoryTransport, BusError> {
        let s = self.lock();
        let c = s.connectors.iter().find(|c| c.role == role).ok_or(BusError::NoEndpoint(role.key()))?;
        let (host, dev) = memory::pair_bounded(&c.info, HOST_QUEUE_DEPTH);
        c.tx.send(Box::new(dev)).map_err(|_| BusError::NoEndpoint(role.key()))?;
        Ok(host)
    }
}

/// Hands new connections to an in-process endpoint's thread.
#[derive(Debug)]
pub(crate) struct Connector {
    pub role: Port,
    pub info: LinkInfo,
    pub tx: Sender<Box<dyn Transport>>,
}
