//! [`UsbBus`]: the module as found on USB, for the executor.
//!
//! - The device list comes from sysfs on Linux (ttys and drivers included) and from nusb
//!   plus serialport's enumeration elsewhere.
//! - The module is followed across re-enumerations: same bus/port path, else same
//!   (distinct, `module_id.rs`) USB serial string, else the one device on a path never
//!   seen before, and that only while every neighbour (every other catalogue module seen
//!   since the module was found) is still on its own path. That last rule catches a USB3
//!   module coming back as USB2 on another path (docs/facts/usb.md) [confirmed];
//!   QFirehose rescans for a newer 05c6:9008 the same way. While a neighbour is away it
//!   is not used at all: the neighbour may be what re-enumerates on the new path, and
//!   adopting it would flash the wrong module. Devices seen while the module is away
//!   count as neighbours from then on. The executor also checks every identity a new mode
//!   shows against the ones seen earlier in the run. The EC20 R1 keeps
//!   its path (and id 05c6:9215) when it enters DLOAD, so it is followed through DLOAD.
//! - The mode comes from the USB identity (catalogue rows tell modes apart by interface
//!   count, bcdDevice and iProduct). 05c6:9008 is EDL, and nothing is written to find it
//!   out. The 9615's DLOAD identity is shared by its boot ROM (DMSS) and the streaming
//!   programmer, so there the port is probed, listening before speaking
//!   ([`super::listen`]).
//! - Ports open the tty bound to the interface when there is one, else raw USB (feature
//!   `usb`). The EDL interface prefers raw USB, as QFirehose does for 05c6:9008
//!   (`docs/facts/usb.md`) [confirmed], and falls back to the tty.
//! - `wait_for` polls every [`POLL_INTERVAL`] and wakes early on nusb hotplug events.

use std::collections::HashSet;
use std::time::Duration;

use super::listen::{ListenOptions, listen_then_probe};
use super::selector::Selector;
use super::sysfs::{self, Found, FoundPort, Roots};
use super::{BusError, ModuleBus, OpenFailure, PollingBus, Port, open_retrying, wait_polling};
use crate::catalog::InterfaceRole;
use crate::module::DeviceMode;
use crate::time::{Clock, RealClock};
use crate::transport::Transport;
use crate::transport::serial::SerialTransport;

/// Poll interval while waiting for a mode.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long the DMSS probe of a 9615 in DLOAD may collect its answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Which module among those found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    One(Box<Found>),
    Nothing,
    /// Several modules and nothing to choose by; the text lists them.
    Ambiguous(String),
}

/// Follows one module across re-enumerations (pure; [`UsbBus`] feeds it scans).
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    pub selector: Option<Selector>,
    /// The module as last seen.
    pub tracked: Option<Found>,
    /// Paths where other catalogue modules have been seen since the module was first
    /// found. While it is not empty, a module that leaves its path is followed only by
    /// its USB serial string.
    bystanders: HashSet<String>,
}

impl Tracker {
    pub fn new(selector: Option<Selector>) -> Self {
        Tracker { selector, tracked: None, bystanders: HashSet::new() }
    }

    /// Choose the module in a scan and remember it.
    pub fn pick(&mut self, found: &[Found]) -> Pick {
        let chosen = self.choose(found);
        match &chosen {
            Pick::One(f) => {
                self.bystanders
                    .extend(found.iter().filter(|o| o.usb_path != f.usb_path).map(|o| o.usb_path.clone()));
                self.tracked = Some((**f).clone());
            }
            // Whatever is on the bus while the module is away is someone else.
            Pick::Nothing | Pick::Ambiguous(_) if self.tracked.is_some() => {
                self.bystanders.extend(found.iter().map(|o| o.usb_path.clone()));
            }
            Pick::Nothing | Pick::Ambiguous(_) => {}
        }
        chosen
    }

    fn choose(&self, found: &[Found]) -> Pick {
        let one = |f: &Found| Pick::One(Box::new(f.clone()));
        if let Some(sel) = &self.selector {
            let hits: Vec<&Found> = found
                .iter()
                .filter(|f| sel.matches_usb(&f.usb_path, f.vid, f.pid, f.serial.as_deref()))
                .collect();
            match hits.as_slice() {
                [f] => return one(f),
                [] => {}
                many => return Pick::Ambiguous(describe_many(many)),
            }
            if self.tracked.is_none() {
                return Pick::Nothing;
            }
        }
        if let Some(t) = &self.tracked {
            if let Some(f) = found.iter().find(|f| f.usb_path == t.usb_path) {
                return one(f);
            }
            if let Some(serial) = t.serial.as_deref().filter(|s| super::module_id::is_distinct_serial(s))
                && let Some(f) = found.iter().find(|f| f.serial.as_deref() == Some(serial))
            {
                return one(f);
            }
            // A device on a new path can be ours only while every neighbour is still
            // where it was: one that is away may be the one re-enumerating there.
            let here: HashSet<&str> = found.iter().map(|f| f.usb_path.as_str()).collect();
            if !self.bystanders.iter().all(|b| here.contains(b.as_str())) {
                return Pick::Nothing;
            }
            let newcomers: Vec<&Found> =
                found.iter().filter(|f| !self.bystanders.contains(&f.usb_path)).collect();
            return match newcomers.as_slice() {
                [f] => one(f),
                [] => Pick::Nothing,
                many => Pick::Ambiguous(describe_many(many)),
            };
        }
        match found {
            [f] => one(f),
            [] => Pick::Nothing,
            many => Pick::Ambiguous(describe_many(&many.iter().collect::<Vec<_>>())),
        }
    }
}

fn describe(f: &Found) -> String {
    format!("{} ({:04x}:{:04x}) at usb:{}", f.family, f.vid, f.pid, f.usb_path)
}

fn describe_many(many: &[&Found]) -> String {
    format!(
        "{} modules on the bus: {}",
        many.len(),
        many.iter().map(|f| describe(f)).collect::<Vec<_>>().join(", ")
    )
}

/// The interface roles that serve a port, in order of preference.
fn roles_for(port: Port) -> &'static [InterfaceRole] {
    match port {
        Port::Dm => &[InterfaceRole::Diag, InterfaceRole::QdLoader],
        Port::At => &[InterfaceRole::At],
        Port::Edl => &[InterfaceRole::QdLoader],
        Port::Fastboot => &[InterfaceRole::Fastboot],
    }
}

/// The interface of `f` that serves `port`; a single-interface device serves every port.
pub fn port_interface(f: &Found, port: Port) -> Option<&FoundPort> {
    roles_for(port).iter().find_map(|r| f.port(*r)).or(match f.ports.as_slice() {
        [only] => Some(only),
        _ => None,
    })
}

/// What identifies one enumeration of a device: path, vid, pid, device number.
type ProbeKey = (String, u16, u16, Option<u16>);

/// A module on USB.
#[derive(Debug)]
pub struct UsbBus {
    roots: Roots,
    tracker: Tracker,
    /// Probe verdict for the device as last probed.
    probed: Option<(ProbeKey, Option<DeviceMode>)>,
    last_seen: String,
    clock: RealClock,
    #[cfg(feature = "usb")]
    hotplug: Option<super::usb::HotplugWaiter>,
    #[cfg(feature = "modemmanager")]
    mm: super::mm_guard::MmGuard,
}

impl UsbBus {
    /// The module chosen by `selector` (a `usb:` selector, or `None` for "the only one").
    pub fn new(selector: Option<Selector>) -> Result<Self, BusError> {
        Self::with_roots(Roots::default(), selector)
    }

    /// Same, reading sysfs and `/dev` under other roots (tests).
    pub fn with_roots(roots: Roots, selector: Option<Selector>) -> Result<Self, BusError> {
        if let Some(s) = &selector
            && !s.is_usb()
        {
            return Err(BusError::NotConfigured("USB selector", super::BusRemedy::UseExplicitPorts));
        }
        Ok(UsbBus {
            roots,
            tracker: Tracker::new(selector),
            probed: None,
            last_seen: "nothing".into(),
            clock: RealClock::default(),
            #[cfg(feature = "usb")]
            hotplug: None,
            #[cfg(feature = "modemmanager")]
            mm: super::mm_guard::MmGuard::default(),
        })
    }

    /// Keep ModemManager off the module while this bus lives (feature `modemmanager`):
    /// each USB path the module shows up on is inhibited once, through the system bus or
    /// the D-Bus at `bus_address`. Where ModemManager is absent nothing happens.
    #[cfg(feature = "modemmanager")]
    pub fn inhibit_modemmanager(&mut self, bus_address: Option<String>) {
        self.mm.set_bus(bus_address);
    }

    /// Device uids ModemManager is inhibited for, and what went wrong trying.
    #[cfg(feature = "modemmanager")]
    pub fn modemmanager_inhibitions(&self) -> (Vec<&str>, &[String]) {
        self.mm.inhibitions()
    }

    fn inhibit_once(&mut self, f: &Found) {
        #[cfg(feature = "modemmanager")]
        self.mm.inhibit_once(f);
        #[cfg(not(feature = "modemmanager"))]
        let _ = f;
    }

    /// The module as last seen.
    pub fn current(&self) -> Option<&Found> {
        self.tracker.tracked.as_ref()
    }

    /// Every catalogue module on the bus now.
    pub fn scan(&self) -> Result<Vec<Found>, BusError> {
        scan_modules(&self.roots).map_err(|e| BusError::Scan(e.to_string()))
    }

    fn refresh(&mut self) -> Result<Option<Found>, BusError> {
        let found = self.scan()?;
        match self.tracker.pick(&found) {
            Pick::One(f) => {
                self.inhibit_once(&f);
                Ok(Some(*f))
            }
            Pick::Nothing => Ok(None),
            Pick::Ambiguous(text) => Err(BusError::Ambiguous(text)),
        }
    }

    fn mode_of(&mut self, f: &Found) -> Option<DeviceMode> {
        if let Some(m) = f.device_mode_hint() {
            return Some(m);
        }
        let key = (f.usb_path.clone(), f.vid, f.pid, f.devnum);
        if let Some((k, m)) = &self.probed
            && *k == key
        {
            return *m;
        }
        // A port that could not be opened is asked again at the next look: right after
        // enumeration udev may not have given the tty its group yet (seen over a real
        // kernel USB stack as a non-root user: EACCES at the first open, then a DLOAD that
        // never "answered"). Only an answer, or silence on an open port, is kept.
        let m = probe(f).ok()?;
        self.probed = Some((key, m));
        m
    }

    fn note_seen(&mut self, f: Option<&Found>, mode: Option<DeviceMode>) {
        self.last_seen = match (f, mode) {
            (None, _) => "no catalogue module on USB".into(),
            (Some(f), Some(m)) => format!("{} in {} mode", describe(f), m.name()),
            (Some(f), None) => format!("{} ({} mode, did not answer the probe)", describe(f), f.mode.name()),
        };
    }

    fn pause(&mut self) {
        #[cfg(feature = "usb")]
        {
            if self.hotplug.is_none() {
                self.hotplug = super::usb::HotplugWaiter::new();
            }
            if let Some(h) = self.hotplug.as_mut() {
                h.wait(POLL_INTERVAL);
                return;
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Every catalogue module: sysfs on Linux (no `/sys/bus/usb` means no USB bus), else nusb
/// with serial ports attached by id.
pub fn scan_modules(roots: &Roots) -> std::io::Result<Vec<Found>> {
    if cfg!(target_os = "linux") || roots.sysfs.exists() || cfg!(not(feature = "usb")) {
        return sysfs::scan(roots);
    }
    #[cfg(feature = "usb")]
    {
        let devices = super::usb::list().map_err(std::io::Error::other)?;
        let mut found: Vec<Found> =
            devices.iter().filter_map(|d| Found::from_device(d, &roots.dev)).collect();
        super::tty::attach(&mut found, &super::tty::usb_serial_ports());
        Ok(found)
    }
    #[cfg(not(feature = "usb"))]
    Ok(Vec::new())
}

/// Find the mode behind a device whose identity does not tell it (the 9615's DLOAD):
/// listen, and probe only a silent port.
/// The mode the DM port's answer shows (`Ok(None)`: it opened but did not answer); `Err`
/// when the port could not be opened.
pub(crate) fn probe(f: &Found) -> Result<Option<DeviceMode>, ()> {
    let t = open_port(f, Port::Dm).map_err(|_| ())?;
    Ok(listen_then_probe(t, ListenOptions::new(PROBE_TIMEOUT)).ok().and_then(|(heard, _link)| heard.mode))
}

fn open_tty(p: &FoundPort) -> Result<Box<dyn Transport>, String> {
    let tty = p.tty.as_ref().ok_or("no tty is bound to the interface")?;
    SerialTransport::open(&tty.to_string_lossy())
        .map(|t| Box::new(t) as Box<dyn Transport>)
        .map_err(|e| e.to_string())
}

#[cfg(feature = "usb")]
fn open_raw(f: &Found, p: &FoundPort) -> Result<Box<dyn Transport>, String> {
    super::usb::open_bulk(&f.usb_path, p.interface)
        .map(|t| Box::new(t) as Box<dyn Transport>)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "usb"))]
fn open_raw(_f: &Found, _p: &FoundPort) -> Result<Box<dyn Transport>, String> {
    Err("no tty is bound and this build has no raw USB support (cargo feature `usb`)".into())
}

/// Open the interface of `f` that serves `port`: the tty when bound, else raw USB; for
/// EDL raw USB first.
pub fn open_port(f: &Found, port: Port) -> Result<Box<dyn Transport>, String> {
    let p = port_interface(f, port)
        .ok_or_else(|| format!("{} has no interface for the {}", describe(f), port.name()))?;
    if port == Port::Edl || port == Port::Fastboot || p.tty.is_none() {
        match open_raw(f, p) {
            Ok(t) => return Ok(t),
            Err(e) if p.tty.is_none() => return Err(e),
            Err(_) => {}
        }
    }
    open_tty(p)
}

/// Where `port` of `f` is, for messages.
pub fn port_endpoint(f: &Found, port: Port) -> String {
    match port_interface(f, port) {
        Some(p) => match (&p.tty, port) {
            (Some(t), Port::Dm | Port::At) => t.display().to_string(),
            _ => format!("usb:{} if{}", f.usb_path, p.interface),
        },
        None => format!("usb:{} (no {})", f.usb_path, port.name()),
    }
}

impl PollingBus for UsbBus {
    fn last_seen_mut(&mut self) -> &mut String {
        &mut self.last_seen
    }
    fn now(&self) -> Duration {
        self.clock.now()
    }
    fn poll_pause(&mut self) {
        self.pause();
    }
}

impl ModuleBus for UsbBus {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        let f = self.refresh()?;
        let m = f.as_ref().and_then(|f| self.mode_of(f));
        self.note_seen(f.as_ref(), m);
        Ok(m)
    }

    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        wait_polling(self, modes, timeout)
    }

    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError> {
        // Whatever is done through the port may change the mode without re-enumerating.
        self.probed = None;
        open_retrying(|| match self.refresh() {
            Ok(Some(f)) => open_port(&f, port).map_err(OpenFailure::Retry),
            Ok(None) => Err(OpenFailure::Retry("the module is not on the bus".into())),
            Err(BusError::Ambiguous(t)) => Err(OpenFailure::Stop(BusError::Ambiguous(t))),
            Err(e) => Err(OpenFailure::Retry(e.to_string())),
        })
        .map_err(|f| f.into_error(port, self.endpoint(port)))
    }

    fn location(&self) -> super::module_id::ModuleIdentity {
        let mut id = super::module_id::ModuleIdentity::default();
        if let Some(f) = self.current() {
            id.port_path = Some(format!("usb:{}", f.usb_path));
            id.set_usb_serial(f.serial.as_deref());
        }
        id
    }

    fn chip(&self) -> Option<crate::module::ModuleChip> {
        let f = self.current()?;
        super::chip_from_usb(f.chipset, f.family, f.vid, f.pid, f.serial.as_deref())
    }

    fn endpoint(&self, port: Port) -> String {
        match self.current() {
            Some(f) => port_endpoint(f, port),
            None => match &self.tracker.selector {
                Some(s) => format!("{s} (not found yet)"),
                None => "usb (no module found yet)".into(),
            },
        }
    }
}

#[cfg(test)]
#[path = "usbbus_tests.rs"]
mod tests;
