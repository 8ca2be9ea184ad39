//! Which bus reaches the module, chosen once for every program: USB discovery
//! ([`UsbBus`]) for a USB selector, fastboot on USB, or when no endpoint is given at all;
//! explicit ports ([`PortsBus`]) for a tty and fastboot over TCP. The caller says where the
//! module is as data ([`Endpoints`]); refusals are typed ([`ChooseError`]) so a program
//! words them with its own option names.

use std::path::{Path, PathBuf};

use super::ports::PortsBus;
use super::selector::Selector;
use super::sysfs::Roots;
use super::usbbus::{self, UsbBus};
use super::{BusError, ModuleBus};

/// Where fastboot is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FastbootAt {
    /// 18d1:d00d found by USB discovery.
    Usb,
    /// AOSP fastboot over TCP, `HOST:PORT`.
    Tcp(String),
}

/// Where the caller says the module is; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// A module selector (`usb:…`, `serial:PATH`, `tcp:HOST:PORT`).
    pub device: Option<Selector>,
    /// The DM tty.
    pub port: Option<PathBuf>,
    /// The AT tty, when it is not next to the DM tty.
    pub at_port: Option<PathBuf>,
    pub fastboot: Option<FastbootAt>,
}

/// The bus chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusChoice {
    /// USB discovery, following the selected module (or the only one).
    Usb(Option<Selector>),
    /// Explicit ports.
    Ports { dm: Option<PathBuf>, at: Option<PathBuf>, fastboot: Option<String> },
}

/// Why no bus was chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChooseError {
    #[error("a USB module and fastboot over TCP cannot be combined; pick one")]
    UsbAndTcp,
    #[error("{0} is not a tty of a module on USB; choose the module by its USB location")]
    TtyNotOnUsb(PathBuf),
    #[error("no module found on USB")]
    NoModuleOnUsb,
}

/// Whether a selector names explicit ports (a tty, fastboot over TCP) rather than a module
/// found by USB discovery. `info` and the update commands route by this one rule.
#[must_use]
pub fn is_explicit(sel: &Selector) -> bool {
    matches!(sel, Selector::Serial(_) | Selector::Tcp { .. })
}

/// Choose the bus for `e`, reading USB under `roots` where the choice depends on it (no
/// endpoint at all and no module on USB is refused at once; a tty with fastboot on USB
/// follows the USB module that owns the tty).
pub fn choose(e: &Endpoints, roots: &Roots) -> Result<BusChoice, ChooseError> {
    let mut port = e.port.clone();
    let mut fastboot = match &e.fastboot {
        Some(FastbootAt::Tcp(a)) => Some(a.clone()),
        _ => None,
    };
    let mut usb_selector = None;
    match &e.device {
        Some(Selector::Serial(path)) => port = Some(path.clone()),
        Some(Selector::Tcp { host, port: p }) => fastboot = Some(format!("{host}:{p}")),
        Some(s) => usb_selector = Some(s.clone()),
        None => {}
    }
    let fastboot_usb = e.fastboot == Some(FastbootAt::Usb);
    let nothing_given = port.is_none() && fastboot.is_none();
    if nothing_given
        && usb_selector.is_none()
        && !fastboot_usb
        && usbbus::scan_modules(roots).is_ok_and(|found| found.is_empty())
    {
        return Err(ChooseError::NoModuleOnUsb);
    }
    if usb_selector.is_some() || fastboot_usb || nothing_given {
        if fastboot.is_some() {
            return Err(ChooseError::UsbAndTcp);
        }
        if let (None, Some(tty)) = (&usb_selector, &port) {
            let path = usb_path_of_tty(tty, roots).ok_or_else(|| ChooseError::TtyNotOnUsb(tty.clone()))?;
            usb_selector = Some(Selector::UsbPath(path));
        }
        return Ok(BusChoice::Usb(usb_selector));
    }
    Ok(BusChoice::Ports { dm: port, at: e.at_port.clone(), fastboot })
}

impl BusChoice {
    /// Open the chosen bus. USB discovery keeps ModemManager off the module while the bus
    /// lives; it lifts the inhibition itself when the process leaves the bus.
    pub fn open(self) -> Result<Box<dyn ModuleBus>, BusError> {
        match self {
            BusChoice::Usb(sel) => {
                #[cfg_attr(not(feature = "modemmanager"), allow(unused_mut))]
                let mut b = UsbBus::new(sel)?;
                #[cfg(feature = "modemmanager")]
                b.inhibit_modemmanager(None);
                Ok(Box::new(b))
            }
            BusChoice::Ports { dm, at, fastboot } => {
                Ok(Box::new(PortsBus::new(dm, at, fastboot.as_deref())?))
            }
        }
    }
}

/// The USB path of the module that has `tty` (`/dev/ttyUSB0`) as one of its ports.
fn usb_path_of_tty(tty: &Path, roots: &Roots) -> Option<String> {
    let found = usbbus::scan_modules(roots).ok()?;
    let want = std::fs::canonicalize(tty).unwrap_or_else(|_| tty.to_path_buf());
    found
        .into_iter()
        .find(|f| f.ports.iter().any(|p| p.tty.as_deref().is_some_and(|t| t == want || t == tty)))
        .map(|f| f.usb_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_roots() -> (tempfile::TempDir, Roots) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("sys")).unwrap();
        std::fs::create_dir_all(d.path().join("dev")).unwrap();
        let roots = Roots { sysfs: d.path().join("sys"), dev: d.path().join("dev") };
        (d, roots)
    }

    #[test]
    fn explicit_ports_usb_and_refusals() {
        let (_d, roots) = empty_roots();
        let tty = Endpoints { port: Some("/dev/ttyUSB0".into()), ..Endpoints::default() };
        assert_eq!(
            choose(&tty, &roots),
            Ok(BusChoice::Ports { dm: Some("/dev/ttyUSB0".into()), at: None, fastboot: None })
        );
        let tcp = Endpoints {
            device: Some(Selector::parse("tcp:127.0.0.1:5554").unwrap()),
            ..Endpoints::default()
        };
        assert_eq!(
            choose(&tcp, &roots),
            Ok(BusChoice::Ports { dm: None, at: None, fastboot: Some("127.0.0.1:5554".into()) })
        );
        let usb = Endpoints { device: Some(Selector::parse("usb:1-2").unwrap()), ..Endpoints::default() };
        assert!(matches!(choose(&usb, &roots), Ok(BusChoice::Usb(Some(_)))));
        let both = Endpoints { fastboot: Some(FastbootAt::Tcp("h:1".into())), ..usb };
        assert_eq!(choose(&both, &roots), Err(ChooseError::UsbAndTcp));
        assert_eq!(choose(&Endpoints::default(), &roots), Err(ChooseError::NoModuleOnUsb));
        let tty_usb = Endpoints { fastboot: Some(FastbootAt::Usb), ..tty };
        assert_eq!(choose(&tty_usb, &roots), Err(ChooseError::TtyNotOnUsb("/dev/ttyUSB0".into())));
    }
}
