//! Where a module's endpoints are served: in-process (memory pairs on the virtual bus), or
//! for outside programs on ptys (DM, AT, EDL ports that look like `/dev/ttyUSB*`) and TCP
//! (fastboot, exactly as AOSP fastboot speaks it: `FB01` handshake, 8-byte big-endian
//! length frames).
//!
//! With a tty directory, stable names (`DIR/dm`, `DIR/at`) are symlinks to the current
//! ptys; a name vanishes while the mode has no such port and comes back when the module
//! re-enumerates, like a real `/dev/ttyUSB0`. The EDL (QDLoader) tty takes the name `dm`,
//! as on Linux the 9008 tty usually takes the DM tty's name (docs/facts/usb.md)
//! [inferred]: a host finds the mode by what answers there, not by a name.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use modemflash::protocol::fastboot::tcp::FastbootTcp;
use modemflash::transport::tcp::TcpTransport;
use modemflash::transport::{LinkInfo, Transport};

use crate::bus::Endpoint;
use modemflash::module::{DeviceMode, Port};

/// Time allowed for the fastboot TCP handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries (and their spacing) of a fastboot TCP bind while the old listener closes.
const BIND_RETRIES: u32 = 50;
const BIND_RETRY: Duration = Duration::from_millis(20);

/// How endpoints are served.
#[derive(Debug)]
pub enum Serving {
    /// Memory pairs, reached through [`crate::VirtualBus::open`].
    InProcess,
    /// Ptys (and symlinks in `tty_dir` when given) and TCP for fastboot. With port 0 the
    /// first port the system picks is kept for later enumerations when still free, so a
    /// host can reconnect after `reboot-bootloader`.
    External {
        tty_dir: Option<PathBuf>,
        fastboot_tcp: SocketAddr,
        links: Mutex<Vec<PathBuf>>,
        bound: Mutex<Option<SocketAddr>>,
    },
}

/// One served endpoint.
pub enum Served {
    InProcess,
    Tty { path: String, transport: Box<dyn Transport> },
    Tcp { addr: String, listener: TcpListener },
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Served::InProcess => write!(f, "InProcess"),
            Served::Tty { path, .. } => write!(f, "Tty({path})"),
            Served::Tcp { addr, .. } => write!(f, "Tcp({addr})"),
        }
    }
}

impl Serving {
    /// Serve externally.
    /// Ptys and TCP. Links a killed simulator left in `tty_dir` (`kill -9` runs no clean-up)
    /// are removed first: a stale `edl` would tell a host the module is in EDL.
    pub fn external(tty_dir: Option<PathBuf>, fastboot_tcp: SocketAddr) -> Self {
        if let Some(dir) = &tty_dir {
            remove_stale_links(dir);
        }
        Serving::External { tty_dir, fastboot_tcp, links: Mutex::new(Vec::new()), bound: Mutex::new(None) }
    }

    pub(crate) fn serve(&self, role: Port, info: &LinkInfo) -> std::io::Result<Served> {
        match self {
            Serving::InProcess => Ok(Served::InProcess),
            Serving::External { fastboot_tcp, bound, .. } if role == Port::Fastboot => {
                let mut bound = bound.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let listener = bind(bound.unwrap_or(*fastboot_tcp))
                    .or_else(|e| if bound.is_some() { TcpListener::bind(fastboot_tcp) } else { Err(e) })?;
                let local = listener.local_addr()?;
                *bound = Some(local);
                Ok(Served::Tcp { addr: local.to_string(), listener })
            }
            Serving::External { .. } => pty::open(info),
        }
    }

    /// Point the stable names at the new ptys (ptys, and so the names, exist on Unix only).
    #[cfg(unix)]
    pub(crate) fn publish(&self, _mode: DeviceMode, endpoints: &[Endpoint]) {
        let Serving::External { tty_dir: Some(dir), links, .. } = self else { return };
        let mut links = links.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for ep in endpoints {
            if let Some(tty) = &ep.tty {
                let link = dir.join(link_name(ep.role));
                let _ = std::fs::remove_file(&link);
                if std::os::unix::fs::symlink(tty, &link).is_ok() {
                    links.push(link);
                }
            }
        }
    }

    /// Ptys do not exist here, so there are no stable names to publish.
    #[cfg(not(unix))]
    pub(crate) fn publish(&self, _mode: DeviceMode, _endpoints: &[Endpoint]) {}

    /// Remove the stable names (the module left the bus).
    pub(crate) fn unpublish(&self) {
        let Serving::External { links, .. } = self else { return };
        let mut links = links.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for l in links.drain(..) {
            let _ = std::fs::remove_file(l);
        }
    }
}

/// Remove the stable names of every role from `dir`, when they are symlinks (never a
/// regular file or directory someone else put there).
pub fn remove_stale_links(dir: &std::path::Path) {
    for role in [Port::Dm, Port::At, Port::Fastboot, Port::Edl] {
        let link = dir.join(role.key());
        if std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = std::fs::remove_file(&link);
        }
    }
}

/// The stable name of a role's tty in the tty directory.
pub fn link_name(role: Port) -> &'static str {
    match role {
        Port::Edl => Port::Dm.key(),
        other => other.key(),
    }
}

/// Bind `addr`, waiting a little while the listener of the previous enumeration (which
/// stops within one poll interval) still holds it.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < BIND_RETRIES => {
                tries += 1;
                std::thread::sleep(BIND_RETRY);
            }
            other => return other,
        }
    }
}

/// Accept one AOSP fastboot TCP connection: handshake, then length-framed packets.
pub(crate) fn fastboot_tcp_server(stream: TcpStream) -> Result<Box<dyn Transport>, String> {
    let t = TcpTransport::from_stream(stream).map_err(|e| e.to_string())?;
    let fb = FastbootTcp::server_handshake(t, HANDSHAKE_TIMEOUT).map_err(|e| e.to_string())?;
    Ok(Box::new(fb))
}

#[cfg(unix)]
mod pty {
    //! The device side of a pty: the master, in raw mode, read with `poll`.

    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::{AsFd, OwnedFd};
    use std::time::Duration;

    use modemflash::transport::{LinkInfo, Transport, TransportError};
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::pty::openpty;
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

    use super::Served;

    pub(super) struct PtyTransport {
        master: File,
        /// Kept open so the master never sees a hang-up between host opens.
        _slave: OwnedFd,
        info: LinkInfo,
    }

    pub(super) fn open(info: &LinkInfo) -> std::io::Result<Served> {
        let pty = openpty(None, None).map_err(std::io::Error::from)?;
        let mut t = tcgetattr(&pty.slave).map_err(std::io::Error::from)?;
        cfmakeraw(&mut t);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t).map_err(std::io::Error::from)?;
        let path = nix::unistd::ttyname(&pty.slave).map_err(std::io::Error::from)?;
        let path = path.display().to_string();
        let transport = PtyTransport {
            master: File::from(pty.master),
            _slave: pty.slave,
            info: LinkInfo::stream(format!("pty:{path}")),
        };
        let _ = info;
        Ok(Served::Tty { path, transport: Box::new(transport) })
    }

    impl Transport for PtyTransport {
        fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
            self.master.write_all(data)?;
            Ok(())
        }

        fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            let n = poll(&mut fds, PollTimeout::from(ms)).map_err(std::io::Error::from)?;
            if n == 0 {
                return Err(TransportError::Timeout(timeout));
            }
            match self.master.read(buf) {
                Ok(0) => Err(TransportError::Timeout(timeout)),
                Ok(n) => Ok(n),
                // EIO on the master means no slave is open; wait for the host to open it.
                Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => {
                    std::thread::sleep(timeout);
                    Err(TransportError::Timeout(timeout))
                }
                Err(e) => Err(e.into()),
            }
        }

        fn info(&self) -> &LinkInfo {
            &self.info
        }
    }
}

#[cfg(not(unix))]
mod pty {
    use modemflash::transport::LinkInfo;

    use super::Served;

    pub(super) fn open(_info: &LinkInfo) -> std::io::Result<Served> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "pty serving needs a Unix system"))
    }
}
