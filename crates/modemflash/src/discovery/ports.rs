//! A module reached through explicit endpoints: a DM tty (and the AT tty next to it) and
//! fastboot over TCP. This is what users on embedded boards pass (`--port /dev/ttyUSB0`),
//! and what tests pass for simulator ptys.
//!
//! Mode detection sends Quectel's raw DMSS NOP probe on the DM tty (`quectel-flows.md`
//! §2.3): ACK → DLOAD, `13 06` → normal, `7E 0E` → streaming programmer. Fastboot is
//! detected by a completed `FB01` handshake and `getvar:product`.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{BusError, ModuleBus, OpenFailure, Port, open_retrying};
use crate::plan::DeviceMode;
use crate::protocol::dmss::{DmssClient, ProbedMode};
use crate::protocol::fastboot::tcp::FastbootTcp;
use crate::transport::Transport;
use crate::transport::serial::SerialTransport;
use crate::transport::tcp::TcpTransport;

/// Poll interval while waiting for a mode.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Time allowed for the fastboot TCP handshake.
pub const FASTBOOT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Explicit endpoints.
#[derive(Debug, Clone, Default)]
pub struct PortsBus {
    pub dm: Option<PathBuf>,
    pub at: Option<PathBuf>,
    /// The QDLoader (EDL) tty when it differs from the DM tty: the simulator's `edl` link
    /// next to `dm`. On hardware the 9008 tty usually takes the DM tty's name.
    pub edl: Option<PathBuf>,
    pub fastboot: Option<SocketAddr>,
    last_seen: Option<DeviceMode>,
}

/// The AT tty that goes with a DM tty: `DIR/at` next to `DIR/dm` (simulator), or
/// `ttyUSB(n+2)` for `ttyUSBn` (QFlash's rule, `quectel-flows.md` §4) [C].
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
        let edl = dm
            .as_deref()
            .filter(|p| p.file_name().is_some_and(|n| n == "dm"))
            .map(|p| p.with_file_name("edl"));
        Ok(PortsBus { dm, at, edl, fastboot, last_seen: None })
    }

    fn probe_fastboot(&self) -> Option<DeviceMode> {
        let addr = self.fastboot?;
        let stream = TcpStream::connect_timeout(&addr, FASTBOOT_CONNECT_TIMEOUT).ok()?;
        let t = TcpTransport::from_stream(stream).ok()?;
        FastbootTcp::client_handshake(t, FASTBOOT_CONNECT_TIMEOUT).ok().map(|_| DeviceMode::Fastboot)
    }

    /// A separate EDL tty is there only while the module is in EDL; its presence is the
    /// answer (reading it would consume the boot ROM's one HELLO).
    fn probe_edl(&self) -> Option<DeviceMode> {
        self.edl.as_ref().filter(|p| p.exists()).map(|_| DeviceMode::Edl)
    }

    fn probe_dm(&self) -> Option<DeviceMode> {
        if let Some(m) = self.probe_edl() {
            return Some(m);
        }
        let path = self.dm.as_ref()?;
        if !path.exists() {
            return None;
        }
        let t = SerialTransport::open(&path.to_string_lossy()).ok()?;
        let mut client = DmssClient::new(t);
        match client.probe(PROBE_TIMEOUT).ok()? {
            ProbedMode::Dload => Some(DeviceMode::Dload),
            ProbedMode::NormalDiag => Some(DeviceMode::Normal),
            ProbedMode::StreamingProgrammer => Some(DeviceMode::Streaming),
            ProbedMode::SaharaHello | ProbedMode::SaharaEndImageTx => Some(DeviceMode::Edl),
            ProbedMode::Unknown(_) => None,
        }
    }
}

impl ModuleBus for PortsBus {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        if self.dm.is_none() && self.fastboot.is_none() {
            return Err(BusError::NotConfigured(
                "endpoint",
                "pass --port TTY and/or --fastboot tcp:HOST:PORT",
            ));
        }
        let m = self.probe_dm().or_else(|| self.probe_fastboot());
        if m.is_some() {
            self.last_seen = m;
        }
        Ok(m)
    }

    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        let deadline = crate::time::deadline(timeout);
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
        open_retrying(|| match port {
            Port::Edl if self.edl.is_some() => tty(&self.edl, "EDL port", "pass --port TTY"),
            Port::Dm | Port::Edl => tty(&self.dm, "DM port", "pass --port TTY"),
            Port::At => {
                tty(&self.at, "AT port", "pass --port with the DM tty; the AT tty is found next to it")
            }
            Port::Fastboot => match self.fastboot {
                Some(addr) => TcpStream::connect_timeout(&addr, FASTBOOT_CONNECT_TIMEOUT)
                    .map_err(|e| e.to_string())
                    .and_then(|s| TcpTransport::from_stream(s).map_err(|e| e.to_string()))
                    .and_then(|t| {
                        FastbootTcp::client_handshake(t, FASTBOOT_CONNECT_TIMEOUT).map_err(|e| e.to_string())
                    })
                    .map(|t| Box::new(t) as Box<dyn Transport>)
                    .map_err(OpenFailure::Retry),
                None => Err(stop(
                    "fastboot endpoint",
                    "pass --fastboot tcp:HOST:PORT, or --fastboot usb for 18d1:d00d on USB",
                )),
            },
        })
        .map_err(|f| f.into_error(port, self.endpoint(port)))
    }

    fn endpoint(&self, port: Port) -> String {
        match port {
            Port::Edl if self.edl.is_some() => {
                self.edl.as_ref().map_or("no EDL tty given".into(), |p| p.display().to_string())
            }
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
