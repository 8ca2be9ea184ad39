//! A module reached through explicit endpoints: a DM tty (and the AT tty next to it) and
//! fastboot over TCP. This is what users on embedded boards pass (`--port /dev/ttyUSB0`),
//! and what tests pass for simulator ptys.
//!
//! Mode detection listens on the DM tty first ([`super::listen`]): a boot ROM's Sahara
//! HELLO or a running Firehose programmer's XML arrives unprompted, and then nothing is
//! written. Only a silent port gets Quectel's raw DMSS NOP probe (docs/facts/dmss.md):
//! ACK → DLOAD, `13 06` → normal, `7E 0E` → streaming programmer. The QDLoader tty of a
//! module in EDL is the same path (on Linux the 9008 tty usually takes the DM tty's name,
//! docs/facts/usb.md): the mode is found by what answers, never by a tty's name. Fastboot
//! is detected by a completed `FB01` handshake.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::listen::{Heard, ListenOptions, listen_then_probe};
use super::{BusError, BusRemedy, ModuleBus, OpenFailure, Port, open_retrying};
use crate::module::DeviceMode;
use crate::protocol::fastboot::tcp::FastbootTcp;
use crate::transport::Transport;
use crate::transport::replay::Replay;
use crate::transport::serial::SerialTransport;
use crate::transport::tcp::TcpTransport;

/// Poll interval while waiting for a mode.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Silent probes in a row after which a DM tty last heard in EDL counts as in EDL still.
pub const SILENT_EDL_PROBES: u32 = 2;
/// Time allowed for the fastboot TCP handshake.
pub const FASTBOOT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Explicit endpoints.
#[derive(Default)]
pub struct PortsBus {
    /// The DM tty; in EDL the QDLoader tty has the same path.
    pub dm: Option<PathBuf>,
    pub at: Option<PathBuf>,
    pub fastboot: Option<SocketAddr>,
    /// Timing of the listen-first mode probe.
    pub listen: ListenOptions,
    last_seen: Option<DeviceMode>,
    /// Probes in a row that found the DM tty present and silent (no unprompted bytes, no
    /// answer to the DMSS probe).
    silent_probes: u32,
    /// The DM tty as left by a probe that heard EDL, with what it heard unprompted (a
    /// HELLO the boot ROM will not repeat), for the next open.
    heard: Option<(Box<dyn Transport>, Vec<u8>)>,
}

impl std::fmt::Debug for PortsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortsBus")
            .field("dm", &self.dm)
            .field("at", &self.at)
            .field("fastboot", &self.fastboot)
            .field("last_seen", &self.last_seen)
            .field("heard", &self.heard.as_ref().map(|(_, b)| b.len()))
            .finish_non_exhaustive()
    }
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions::new(PROBE_TIMEOUT)
    }
}

/// The AT tty that goes with a DM tty: `DIR/at` next to `DIR/dm` (simulator), or
/// `ttyUSB(n+2)` for `ttyUSBn` (QFlash's rule, `docs/facts/usb.md`) [confirmed].
pub fn at_port_for(dm: &Path) -> Option<PathBuf> {
    let name = dm.file_name()?.to_str()?;
    if name == "dm" {
        return Some(dm.with_file_name("at"));
    }
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    let n: u32 = digits.parse().ok()?;
    let prefix = name.strip_suffix(digits)?;
    Some(dm.with_file_name(format!("{prefix}{}", n.checked_add(2)?)))
}

impl PortsBus {
    /// Endpoints from the command line. `fastboot` is `HOST:PORT`.
    pub fn new(dm: Option<PathBuf>, at: Option<PathBuf>, fastboot: Option<&str>) -> Result<Self, BusError> {
        let fastboot = match fastboot {
            Some(s) => {
                Some(s.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| BusError::Open {
                    port: "fastboot",
                    endpoint: s.to_owned(),
                    why: "not a HOST:PORT address".into(),
                })?)
            }
            None => None,
        };
        let at = at.or_else(|| dm.as_deref().and_then(at_port_for));
        Ok(PortsBus { dm, at, fastboot, ..PortsBus::default() })
    }

    fn probe_fastboot(&self) -> Option<DeviceMode> {
        let addr = self.fastboot?;
        let stream = TcpStream::connect_timeout(&addr, FASTBOOT_CONNECT_TIMEOUT).ok()?;
        let t = TcpTransport::from_stream(stream).ok()?;
        FastbootTcp::client_handshake(t, FASTBOOT_CONNECT_TIMEOUT).ok().map(|_| DeviceMode::Fastboot)
    }

    fn probe_dm(&mut self) -> Option<DeviceMode> {
        if self.heard.is_some() {
            // The port already said it is in EDL and is held open for the next step.
            return Some(DeviceMode::Edl);
        }
        let path = self.dm.as_ref()?;
        if !crate::transport::serial::tty_present(path) {
            return None;
        }
        let t = SerialTransport::open(&path.to_string_lossy()).ok()?;
        let (heard, link): (Heard, _) = listen_then_probe(Box::new(t), self.listen).ok()?;
        let silent = heard.mode.is_none() && heard.unprompted.is_empty();
        self.silent_probes = if silent { self.silent_probes.saturating_add(1) } else { 0 };
        if heard.mode == Some(DeviceMode::Edl) {
            self.heard = Some((link, heard.unprompted));
        }
        heard.mode
    }

    /// A DM tty last heard in EDL that has since gone silent is taken to be in EDL still:
    /// a boot ROM whose HELLO was read, or a programmer an interrupted run left waiting for
    /// data, answers nothing (docs/facts/firehose.md, "A host that dies in the data phase")
    /// [inferred]. The step that needs EDL then probes it and names the state; waiting for
    /// the mode could only time out.
    fn silent_since_edl(&self) -> bool {
        self.last_seen == Some(DeviceMode::Edl) && self.silent_probes >= SILENT_EDL_PROBES
    }
}

impl ModuleBus for PortsBus {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        if self.dm.is_none() && self.fastboot.is_none() {
            return Err(BusError::NotConfigured("endpoint", BusRemedy::NameEndpoint));
        }
        let m = self.probe_dm().or_else(|| self.probe_fastboot());
        if m.is_some() {
            self.last_seen = m;
        }
        Ok(m)
    }

    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        let deadline = crate::time::deadline(timeout);
        if !modes.contains(&DeviceMode::Edl) {
            // Waiting for another mode: whatever EDL said before is stale.
            self.heard = None;
        }
        loop {
            // Only probe what can answer: fastboot lives on TCP, the rest on the DM tty.
            let m = if modes == [DeviceMode::Fastboot] {
                self.probe_fastboot()
            } else if modes.contains(&DeviceMode::Fastboot) {
                self.probe_dm().or_else(|| self.probe_fastboot())
            } else {
                self.probe_dm()
            };
            if let Some(m) = m {
                self.last_seen = Some(m);
                if modes.contains(&m) {
                    return Ok(m);
                }
            } else if modes.contains(&DeviceMode::Edl) && self.silent_since_edl() {
                return Ok(DeviceMode::Edl);
            }
            if Instant::now() >= deadline {
                return Err(BusError::Timeout {
                    wanted: modes.iter().map(|m| m.name()).collect::<Vec<_>>().join(" or "),
                    waited: timeout,
                    seen: self.last_seen.map_or("nothing".into(), |m| format!("{} mode", m.name())),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError> {
        let stop = |what, hint| OpenFailure::Stop(BusError::NotConfigured(what, hint));
        let tty = |path: &Option<PathBuf>, what, hint| match path {
            Some(p) => open_tty(p),
            None => Err(stop(what, hint)),
        };
        if matches!(port, Port::Dm | Port::Edl)
            && let Some((link, heard)) = self.heard.take()
        {
            return Ok(Replay::boxed(link, heard));
        }
        open_retrying(|| match port {
            Port::Dm | Port::Edl => tty(&self.dm, "DM port", BusRemedy::NameDmTty),
            Port::At => tty(&self.at, "AT port", BusRemedy::NameDmTtyForAt),
            Port::Fastboot => match self.fastboot {
                Some(addr) => TcpStream::connect_timeout(&addr, FASTBOOT_CONNECT_TIMEOUT)
                    .map_err(|e| e.to_string())
                    .and_then(|s| TcpTransport::from_stream(s).map_err(|e| e.to_string()))
                    .and_then(|t| {
                        FastbootTcp::client_handshake(t, FASTBOOT_CONNECT_TIMEOUT).map_err(|e| e.to_string())
                    })
                    .map(|t| Box::new(t) as Box<dyn Transport>)
                    .map_err(OpenFailure::Retry),
                None => Err(stop("fastboot endpoint", BusRemedy::NameFastboot)),
            },
        })
        .map_err(|f| f.into_error(port, self.endpoint(port)))
    }

    fn endpoint(&self, port: Port) -> String {
        match port {
            Port::Dm | Port::Edl => {
                self.dm.as_ref().map_or("no DM tty given".into(), |p| p.display().to_string())
            }
            Port::At => self.at.as_ref().map_or("no AT tty given".into(), |p| p.display().to_string()),
            Port::Fastboot => {
                self.fastboot.map_or("no fastboot endpoint given".into(), |a| format!("tcp:{a}"))
            }
        }
    }

    /// The place is the endpoint given: the DM tty, else the fastboot address. Explicit
    /// endpoints carry no USB serial string.
    fn location(&self) -> super::module_id::ModuleIdentity {
        let place = self
            .dm
            .as_ref()
            .map(|p| format!("serial:{}", p.display()))
            .or_else(|| self.fastboot.map(|a| format!("tcp:{a}")));
        super::module_id::ModuleIdentity { port_path: place, ..Default::default() }
    }
}

/// Open a tty as a transport; every failure is worth a retry (the node may be appearing).
fn open_tty(path: &Path) -> Result<Box<dyn Transport>, OpenFailure> {
    SerialTransport::open(&path.to_string_lossy())
        .map(|t| Box::new(t) as Box<dyn Transport>)
        .map_err(|e| OpenFailure::Retry(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_port_rules() {
        assert_eq!(at_port_for(Path::new("/tmp/sim/dm")), Some(PathBuf::from("/tmp/sim/at")));
        assert_eq!(at_port_for(Path::new("/dev/ttyUSB0")), Some(PathBuf::from("/dev/ttyUSB2")));
        assert_eq!(at_port_for(Path::new("/dev/ttyUSB10")), Some(PathBuf::from("/dev/ttyUSB12")));
        assert_eq!(at_port_for(Path::new("/dev/serial")), None);
        assert_eq!(at_port_for(Path::new("/dev/ttyUSB4294967295")), None);
    }
}
