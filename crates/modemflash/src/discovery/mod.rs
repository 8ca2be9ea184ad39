//! Finding the module and its ports, across re-enumerations.
//!
//! The executor talks to a [`ModuleBus`]: wait for a mode with a deadline, then open a
//! port. Re-enumeration is a normal event, not an error: `open` retries while the OS
//! catches up (the field failure `error: cannot open device` was exactly an open right
//! after re-enumeration, `docs/facts/quectel.md`).
//!
//! Implementations: [`ports::PortsBus`] for explicit endpoints (`--port TTY`,
//! `--fastboot tcp:HOST:PORT`); the virtual module's in-process bus lives in
//! `modemflash-sim`; [`usbbus::UsbBus`] for modules found on USB (sysfs on Linux, nusb
//! elsewhere), with ttys where a driver binds them and raw USB ([`usb`]) otherwise.

pub mod choose;
pub mod identity;
pub mod listen;
#[cfg(feature = "modemmanager")]
mod mm_guard;
#[cfg(feature = "modemmanager")]
pub mod modemmanager;
pub mod module_id;
pub mod ports;
pub mod selector;
pub mod sysfs;
pub mod tty;
#[cfg(feature = "usb")]
pub mod usb;
pub mod usbbus;
pub mod watcher;

use std::time::Duration;

use crate::module::DeviceMode;
pub use crate::module::Port;
use crate::transport::Transport;

/// Why the bus could not deliver (host buses and the virtual module's bus alike).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("no module in {wanted} mode within {waited:?}; last seen: {seen}")]
    Timeout { wanted: String, waited: Duration, seen: String },
    #[error("cannot open the {port} at {endpoint}: {why}")]
    Open { port: &'static str, endpoint: String, why: String },
    #[error("no {0} is configured: {1}")]
    NotConfigured(&'static str, BusRemedy),
    #[error("{0}: choose one by its USB location (see `modemflash list`)")]
    Ambiguous(String),
    #[error("cannot read the USB device list: {0}")]
    Scan(String),
    /// The module shows no such port in its current mode (the virtual module's bus).
    #[error("the module has no {0} endpoint in its current mode")]
    NoEndpoint(&'static str),
}

impl BusError {
    /// What the caller can do about it, as data (a program names its own options).
    #[must_use]
    pub fn remedy(&self) -> Option<BusRemedy> {
        match self {
            BusError::NotConfigured(_, r) => Some(*r),
            BusError::Ambiguous(_) => Some(BusRemedy::ChooseModule),
            _ => None,
        }
    }
}

/// What to do when the bus lacks an endpoint or has too many modules. The library's texts
/// say it in words; a program renders it with its own option names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusRemedy {
    /// Name the DM tty and/or a fastboot endpoint.
    NameEndpoint,
    /// Name the DM tty (in EDL also the QDLoader tty).
    NameDmTty,
    /// Name the DM tty: the AT tty is found next to it.
    NameDmTtyForAt,
    /// Name where fastboot is (TCP, or 18d1:d00d on USB).
    NameFastboot,
    /// Several modules: choose one by its USB location.
    ChooseModule,
    /// Serial and TCP devices are reached through explicit ports, not USB discovery.
    UseExplicitPorts,
    /// The bus has no such module (a test bus's index).
    NoSuchModule,
}

impl std::fmt::Display for BusRemedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BusRemedy::NameEndpoint => "name the module's DM tty and/or a fastboot TCP endpoint",
            BusRemedy::NameDmTty => "name the module's DM tty",
            BusRemedy::NameDmTtyForAt => "name the module's DM tty; the AT tty is found next to it",
            BusRemedy::NameFastboot => "name a fastboot TCP endpoint, or fastboot on USB for 18d1:d00d",
            BusRemedy::ChooseModule => "choose one module by its USB location",
            BusRemedy::UseExplicitPorts => {
                "serial and TCP devices are reached through explicit ports, not USB discovery"
            }
            BusRemedy::NoSuchModule => "index out of range",
        })
    }
}

/// Attempts of an open right after re-enumeration, and the pause between them: device
/// nodes and ttys appear a moment after the USB device does (`docs/facts/quectel.md`).
pub const OPEN_ATTEMPTS: u32 = 20;
pub const OPEN_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Why one open attempt did not give a transport.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    /// Worth another attempt (the node is not there yet, the device is busy…).
    Retry(String),
    /// No attempt can succeed (nothing configured, ambiguous selector).
    Stop(BusError),
}

impl OpenFailure {
    /// The error to report for `port` at `endpoint`.
    pub(crate) fn into_error(self, port: Port, endpoint: String) -> BusError {
        match self {
            OpenFailure::Stop(e) => e,
            OpenFailure::Retry(last) => BusError::Open {
                port: port.name(),
                endpoint,
                why: format!("{last} (after {OPEN_ATTEMPTS} attempts)"),
            },
        }
    }
}

/// Run `attempt` up to [`OPEN_ATTEMPTS`] times, pausing between tries, until it opens a
/// transport or says to stop. The one retry policy of every bus.
pub(crate) fn open_retrying(
    mut attempt: impl FnMut() -> Result<Box<dyn Transport>, OpenFailure>,
) -> Result<Box<dyn Transport>, OpenFailure> {
    let mut last = OpenFailure::Retry(String::new());
    for _ in 0..OPEN_ATTEMPTS {
        match attempt() {
            Ok(t) => return Ok(t),
            Err(stop @ OpenFailure::Stop(_)) => return Err(stop),
            Err(retry) => last = retry,
        }
        std::thread::sleep(OPEN_RETRY_DELAY);
    }
    Err(last)
}

/// The module as the executor reaches it.
pub trait ModuleBus: Send {
    /// The mode the module is in now, if it is on the bus.
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError>;
    /// Wait until the module shows one of `modes`.
    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError>;
    /// Open a port of the current mode.
    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError>;
    /// Where a port is, for messages (`/dev/ttyUSB0`, `tcp:127.0.0.1:5554`).
    fn endpoint(&self, port: Port) -> String;
    /// What the bus itself tells about the module now: its port path and, where the mode
    /// has a distinct one, its USB serial string (`module_id.rs`). Buses that know
    /// neither return nothing.
    fn location(&self) -> module_id::ModuleIdentity {
        module_id::ModuleIdentity::default()
    }

    /// The chipset the module's USB identity tells, when the bus sees one (USB
    /// discovery); explicit ports see none.
    fn chip(&self) -> Option<crate::module::ModuleChip> {
        None
    }
}

/// A bus that finds the module by listing the devices again and again (USB discovery;
/// several virtual modules on one bus). [`wait_polling`] is its one wait.
pub trait PollingBus: ModuleBus {
    /// What was last seen, for the timeout message; an ambiguous listing is noted here.
    fn last_seen_mut(&mut self) -> &mut String;
    /// Now, on the clock the wait's deadline is measured on (the bus's own, maybe virtual).
    fn now(&self) -> Duration;
    /// Let a moment pass before listing again.
    fn poll_pause(&mut self);
}

/// Detect until the module shows one of `modes`, or `timeout` has passed on the bus's
/// clock. An ambiguous listing is not an error while waiting (the other module may leave).
pub fn wait_polling<B: PollingBus + ?Sized>(
    bus: &mut B,
    modes: &[DeviceMode],
    timeout: Duration,
) -> Result<DeviceMode, BusError> {
    let deadline = bus.now().saturating_add(timeout);
    loop {
        match bus.detect() {
            Ok(Some(m)) if modes.contains(&m) => return Ok(m),
            Ok(_) => {}
            Err(BusError::Ambiguous(text)) => *bus.last_seen_mut() = text,
            Err(e) => return Err(e),
        }
        if bus.now() >= deadline {
            return Err(BusError::Timeout {
                wanted: modes.iter().map(|m| m.name()).collect::<Vec<_>>().join(" or "),
                waited: timeout,
                seen: bus.last_seen_mut().clone(),
            });
        }
        bus.poll_pause();
    }
}

/// The chipset a catalogue identity tells: the row's chipset, or for a fastboot device the
/// serial its LK reports (`MDM9615` on the EC20 R1, docs/facts/usb.md).
pub fn chip_from_usb(
    row_chipset: crate::catalog::Chipset,
    family: &str,
    vid: u16,
    pid: u16,
    serial: Option<&str>,
) -> Option<crate::module::ModuleChip> {
    use crate::catalog::Chipset;
    match row_chipset {
        Chipset::Unknown => serial.and_then(crate::plan::chip::chip_from_fastboot_product).map(|mut c| {
            c.evidence = format!("{family}, {vid:04x}:{pid:04x} with serial {}", serial.unwrap_or_default());
            c
        }),
        c => Some(crate::module::ModuleChip::new(c, format!("{family}, {vid:04x}:{pid:04x}"))),
    }
}
