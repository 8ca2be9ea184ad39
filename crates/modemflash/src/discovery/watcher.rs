//! One USB watcher for several modules updated at once.
//!
//! A [`Watcher`] owns the device list ([`UsbSource`]: sysfs/nusb on a host, the
//! simulator's bus in tests) and hands out one [`WatchedBus`] per module. Each bus follows
//! its module with the same [`Tracker`] rules as [`super::usbbus::UsbBus`] (own path, else
//! own distinct USB serial, else the one newcomer while every neighbour is home), and on
//! top of them the watcher never gives a bus a device another bus holds: a device on a
//! path another module was last seen on, or showing a distinct USB serial another module
//! has shown, is that module's, whatever the tracker would say. So a re-enumerated device
//! goes to the module it belongs to, or waits, and never to a neighbour.
//!
//! Scans are shared: a bus that needs the list takes the last one when it is younger than
//! [`SCAN_SHARE`], so N modules polling cost about one scan per poll, not N.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::module_id::{ModuleIdentity, is_distinct_serial};
use super::selector::Selector;
use super::sysfs::{Found, Roots};
use super::usbbus::{POLL_INTERVAL, Pick, Tracker};
use super::{BusError, ModuleBus, OpenFailure, Port, open_retrying};
use crate::plan::DeviceMode;
use crate::transport::Transport;

/// How old a shared scan may be and still serve another module's poll.
pub const SCAN_SHARE: Duration = Duration::from_millis(100);

/// Where the device list comes from, and how a listed device is reached.
pub trait UsbSource: Send + Sync {
    /// Every catalogue module on the bus now.
    fn scan(&self) -> Result<Vec<Found>, BusError>;
    /// The mode of a listed device (the 9615's DLOAD needs a probe of its port).
    fn mode_of(&self, f: &Found) -> Option<DeviceMode>;
    /// Open the interface of `f` that serves `port`.
    fn open(&self, f: &Found, port: Port) -> Result<Box<dyn Transport>, String>;
    /// Where `port` of `f` is, for messages.
    fn endpoint(&self, f: &Found, port: Port) -> String {
        super::usbbus::port_endpoint(f, port)
    }
    /// Wait one poll interval.
    fn pause(&self) {
        std::thread::sleep(POLL_INTERVAL);
    }
    /// Time since some fixed point (the simulator's may be virtual).
    fn now(&self) -> Duration;
}

/// The host's USB bus: sysfs on Linux, nusb elsewhere (as [`super::usbbus::UsbBus`]).
#[derive(Debug)]
pub struct HostUsb {
    roots: Roots,
    start: Instant,
}

impl HostUsb {
    pub fn new(roots: Roots) -> Self {
        HostUsb { roots, start: Instant::now() }
    }
}

impl UsbSource for HostUsb {
    fn scan(&self) -> Result<Vec<Found>, BusError> {
        super::usbbus::scan_modules(&self.roots).map_err(|e| BusError::Scan(e.to_string()))
    }
    fn mode_of(&self, f: &Found) -> Option<DeviceMode> {
        f.device_mode_hint().or_else(|| super::usbbus::probe(f).ok().flatten())
    }
    fn open(&self, f: &Found, port: Port) -> Result<Box<dyn Transport>, String> {
        super::usbbus::open_port(f, port)
    }
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// What each module holds: the path it was last seen on and the distinct serials it
/// showed.
#[derive(Debug, Default, Clone)]
struct Claim {
    path: Option<String>,
    serials: Vec<String>,
}

struct Shared {
    source: Box<dyn UsbSource>,
    last_scan: Mutex<Option<(Duration, Arc<Vec<Found>>)>>,
    claims: Mutex<HashMap<usize, Claim>>,
}

impl Shared {
    fn scan(&self) -> Result<Arc<Vec<Found>>, BusError> {
        let mut last = self.last_scan.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.source.now();
        if let Some((at, found)) = last.as_ref()
            && now.saturating_sub(*at) < SCAN_SHARE
        {
            return Ok(Arc::clone(found));
        }
        let found = Arc::new(self.source.scan()?);
        *last = Some((now, Arc::clone(&found)));
        Ok(found)
    }

    /// Whether `f` is held by a module other than `slot`. A distinct USB serial tells
    /// whose a device is better than a path (a hub may renumber): the module that showed
    /// it owns it. Without one, the path does: the module last seen there.
    fn held_by_other(&self, slot: usize, f: &Found) -> bool {
        let claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        let has = |c: &Claim, s: &str| c.serials.iter().any(|x| x == s);
        if let Some(s) = f.serial.as_deref().filter(|s| is_distinct_serial(s)) {
            if claims.iter().any(|(k, c)| *k != slot && has(c, s)) {
                return true;
            }
            if claims.get(&slot).is_some_and(|c| has(c, s)) {
                return false;
            }
        }
        claims.iter().any(|(k, c)| *k != slot && c.path.as_deref() == Some(f.usb_path.as_str()))
    }

    fn claim(&self, slot: usize, f: &Found) {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        let c = claims.entry(slot).or_default();
        c.path = Some(f.usb_path.clone());
        if let Some(s) = f.serial.as_deref().filter(|s| is_distinct_serial(s))
            && !c.serials.iter().any(|x| x == s)
        {
            c.serials.push(s.to_owned());
        }
    }
}

/// One device list, several modules followed on it.
#[derive(Clone)]
pub struct Watcher {
    shared: Arc<Shared>,
    next_slot: Arc<Mutex<usize>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    pub fn new(source: Box<dyn UsbSource>) -> Self {
        Watcher {
            shared: Arc::new(Shared {
                source,
                last_scan: Mutex::new(None),
                claims: Mutex::new(HashMap::new()),
            }),
            next_slot: Arc::new(Mutex::new(0)),
        }
    }

    /// Every catalogue module on the bus now (a fresh scan).
    pub fn modules(&self) -> Result<Vec<Found>, BusError> {
        self.shared.source.scan()
    }

    /// A bus that follows the module `selector` names. Every module of one run should
    /// get its bus before any of them moves, so each knows the others as neighbours.
    pub fn bus(&self, selector: Selector) -> Result<WatchedBus, BusError> {
        if !selector.is_usb() {
            return Err(BusError::NotConfigured("USB selector", super::BusRemedy::UseExplicitPorts));
        }
        let slot = {
            let mut n = self.next_slot.lock().unwrap_or_else(PoisonError::into_inner);
            let s = *n;
            *n = n.saturating_add(1);
            s
        };
        let mut bus = WatchedBus {
            shared: Arc::clone(&self.shared),
            slot,
            tracker: Tracker::new(Some(selector.clone())),
            selector,
            probed: None,
            last_seen: "nothing".into(),
            #[cfg(feature = "modemmanager")]
            mm: super::mm_guard::MmGuard::default(),
        };
        // Claim the module's device now, before any neighbour starts to move.
        bus.refresh()?;
        Ok(bus)
    }
}

/// What identifies one enumeration of a device: path, vid, pid, device number.
type ProbeKey = (String, u16, u16, Option<u16>);

/// One module followed by a [`Watcher`].
pub struct WatchedBus {
    shared: Arc<Shared>,
    slot: usize,
    tracker: Tracker,
    /// What the module was chosen by.
    selector: Selector,
    probed: Option<(ProbeKey, Option<DeviceMode>)>,
    last_seen: String,
    /// ModemManager kept off this module's paths (off until asked).
    #[cfg(feature = "modemmanager")]
    mm: super::mm_guard::MmGuard,
}

impl std::fmt::Debug for WatchedBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedBus")
            .field("slot", &self.slot)
            .field("tracker", &self.tracker)
            .field("selector", &self.selector)
            .field("probed", &self.probed)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}

impl WatchedBus {
    /// Keep ModemManager off this module while the bus lives (feature `modemmanager`), as
    /// `UsbBus::inhibit_modemmanager` does for one module: each USB path it shows up on is
    /// inhibited once, through the system bus or the D-Bus at `bus_address`.
    #[cfg(feature = "modemmanager")]
    pub fn inhibit_modemmanager(&mut self, bus_address: Option<String>) {
        self.mm.set_bus(bus_address);
    }

    /// The module as last seen.
    pub fn current(&self) -> Option<&Found> {
        self.tracker.tracked.as_ref()
    }

    fn refresh(&mut self) -> Result<Option<Found>, BusError> {
        let found = self.shared.scan()?;
        let before = self.tracker.clone();
        let mut pick = self.tracker.pick(&found);
        if let Pick::One(f) = &pick
            && self.shared.held_by_other(self.slot, f)
        {
            // Another module's device (on our old path, say): look again without the
            // devices others hold, so ours can still be found by its serial. Without them
            // a neighbour looks away, which only makes the newcomer rule stricter.
            self.tracker = before;
            let free: Vec<Found> =
                found.iter().filter(|g| !self.shared.held_by_other(self.slot, g)).cloned().collect();
            let retry = self.tracker.clone();
            pick = self.tracker.pick(&free);
            if matches!(&pick, Pick::One(g) if self.shared.held_by_other(self.slot, g)) {
                self.tracker = retry;
                pick = Pick::Nothing;
            }
        }
        match pick {
            Pick::One(f) => {
                self.shared.claim(self.slot, &f);
                // From now on the module is followed (path, serial, newcomer), not
                // selected: a neighbour that lands on the selected path is not ours.
                self.tracker.selector = None;
                #[cfg(feature = "modemmanager")]
                self.mm.inhibit_once(&f);
                Ok(Some(*f))
            }
            Pick::Nothing => Ok(None),
            Pick::Ambiguous(text) => Err(BusError::Ambiguous(text)),
        }
    }

    fn mode_of(&mut self, f: &Found) -> Option<DeviceMode> {
        let key = (f.usb_path.clone(), f.vid, f.pid, f.devnum);
        if let Some((k, m)) = &self.probed
            && *k == key
        {
            return *m;
        }
        let m = self.shared.source.mode_of(f);
        // Only a probe is worth remembering; a mode from the USB identity is free.
        if f.device_mode_hint().is_none() {
            self.probed = Some((key, m));
        }
        m
    }
}

impl super::PollingBus for WatchedBus {
    fn last_seen_mut(&mut self) -> &mut String {
        &mut self.last_seen
    }
    fn now(&self) -> Duration {
        self.shared.source.now()
    }
    fn poll_pause(&mut self) {
        self.shared.source.pause();
    }
}

impl ModuleBus for WatchedBus {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        let f = self.refresh()?;
        let m = f.as_ref().and_then(|f| self.mode_of(f));
        self.last_seen = match (&f, m) {
            (None, _) => "the module is not on the bus".into(),
            (Some(f), Some(m)) => {
                format!("usb:{} ({:04x}:{:04x}) in {} mode", f.usb_path, f.vid, f.pid, m.name())
            }
            (Some(f), None) => format!("usb:{} ({:04x}:{:04x}), mode unknown", f.usb_path, f.vid, f.pid),
        };
        Ok(m)
    }

    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        super::wait_polling(self, modes, timeout)
    }

    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError> {
        self.probed = None;
        let shared = Arc::clone(&self.shared);
        open_retrying(|| match self.refresh() {
            Ok(Some(f)) => shared.source.open(&f, port).map_err(OpenFailure::Retry),
            Ok(None) => Err(OpenFailure::Retry("the module is not on the bus".into())),
            Err(BusError::Ambiguous(t)) => Err(OpenFailure::Stop(BusError::Ambiguous(t))),
            Err(e) => Err(OpenFailure::Retry(e.to_string())),
        })
        .map_err(|f| f.into_error(port, self.endpoint(port)))
    }

    fn endpoint(&self, port: Port) -> String {
        match self.current() {
            Some(f) => self.shared.source.endpoint(f, port),
            None => format!("{} (not found yet)", self.selector),
        }
    }

    fn location(&self) -> ModuleIdentity {
        let mut id = ModuleIdentity::default();
        if let Some(f) = self.current() {
            id.port_path = Some(format!("usb:{}", f.usb_path));
            id.set_usb_serial(f.serial.as_deref());
        }
        id
    }

    fn chip(&self) -> Option<crate::plan::ModuleChip> {
        let f = self.current()?;
        super::chip_from_usb(f.chipset, f.family, f.vid, f.pid, f.serial.as_deref())
    }
}

#[cfg(test)]
#[path = "watcher_tests.rs"]
mod tests;
