//! A tty (ttyUSB/ttyACM, or any serial port) as a [`Transport`]: a byte stream with no
//! message boundaries, so the codecs above never rely on them.
//!
//! Settings follow QFlash (`quectel-flows.md` §2.1, [C]): raw mode, 8N1, no flow control,
//! 115200 baud (irrelevant on USB). A read that finds nothing within its timeout is
//! [`TransportError::Timeout`]; end of file and hang-up (read returns 0, EIO, broken pipe,
//! the device node gone) are [`TransportError::Disconnected`].

use std::fmt;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits};

use super::{LinkInfo, Transport, TransportError};

/// Line speed set on open; only matters on a real UART (`quectel-flows.md` §2.1) [C].
pub const BAUD_RATE: u32 = 115_200;
/// Time allowed for one write to be accepted by the tty: 3 s, QFirehose's bulk write timeout
/// (`quectel-flows.md` §3.3) [C].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);

/// An open serial port.
pub struct SerialTransport {
    port: Box<dyn SerialPort>,
    info: LinkInfo,
}

impl fmt::Debug for SerialTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialTransport").field("info", &self.info).finish_non_exhaustive()
    }
}

/// Whether an I/O error means the other end is gone. [I] inferred: `serialport` maps EIO and
/// ENODEV/ENXIO to generic errors that keep only the errno text, so the text is checked too.
fn is_hangup(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::BrokenPipe | K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::NotConnected
    ) {
        return true;
    }
    // EIO 5, ENXIO 6, ENODEV 19 on Linux.
    if matches!(e.raw_os_error(), Some(5 | 6 | 19)) {
        return true;
    }
    let text = e.to_string();
    ["I/O error", "Input/output error", "No such device"].iter().any(|t| text.contains(t))
}

fn map_err(e: io::Error, timeout: Duration) -> TransportError {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TransportError::Timeout(timeout),
        _ if is_hangup(&e) => TransportError::Disconnected,
        _ => TransportError::Io(e),
    }
}

impl SerialTransport {
    /// Open `path` raw, 8N1, no flow control, [`BAUD_RATE`].
    pub fn open(path: &str) -> Result<Self, TransportError> {
        let port = serialport::new(path, BAUD_RATE)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(SEND_TIMEOUT)
            .open()
            .map_err(io::Error::from)?;
        Ok(Self { port, info: LinkInfo::stream(path) })
    }
}

impl Transport for SerialTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.port.set_timeout(SEND_TIMEOUT).map_err(io::Error::from)?;
        let mut rest = data;
        while !rest.is_empty() {
            match self.port.write(rest) {
                Ok(0) => return Err(TransportError::Disconnected),
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(map_err(e, SEND_TIMEOUT)),
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = crate::time::deadline(timeout);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            self.port.set_timeout(left).map_err(io::Error::from)?;
            match self.port.read(buf) {
                Ok(0) => return Err(TransportError::Disconnected),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted && !left.is_zero() => {}
                Err(e) => return Err(map_err(e, timeout)),
            }
        }
    }

    fn info(&self) -> &LinkInfo {
        &self.info
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::fd::AsRawFd;

    /// A pty pair: the master as a file, the slave's path for `SerialTransport::open`.
    /// The slave fd is returned too and must stay open until the transport has opened.
    fn pty() -> (File, std::os::fd::OwnedFd, String) {
        let p = nix::pty::openpty(None, None).unwrap();
        let path = std::fs::read_link(format!("/proc/self/fd/{}", p.slave.as_raw_fd())).unwrap();
        (File::from(p.master), p.slave, path.to_string_lossy().into_owned())
    }

    #[test]
    fn bytes_cross_both_ways_and_timeout_holds() {
        let (mut master, slave_fd, path) = pty();
        let mut t = SerialTransport::open(&path).unwrap();
        drop(slave_fd);
        assert_eq!(t.info().endpoint, path);

        // Binary bytes, including CR/LF and 0x7E, must pass untouched (raw mode).
        let msg = [0x7e, 0x06, 0x4e, 0x95, 0x7e, b'\r', b'\n', 0x00, 0x11, 0x13];
        master.write_all(&msg).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < msg.len() {
            let n = t.recv(&mut buf, Duration::from_secs(2)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, msg);

        t.send(b"AT\r\x7e\x00").unwrap();
        let mut back = [0u8; 5];
        master.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"AT\r\x7e\x00");

        let t0 = Instant::now();
        let r = t.recv(&mut buf, Duration::from_millis(150));
        assert!(matches!(r, Err(TransportError::Timeout(d)) if d == Duration::from_millis(150)), "{r:?}");
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(140) && waited < Duration::from_secs(2), "{waited:?}");
        assert!(matches!(t.recv(&mut buf, Duration::ZERO), Err(TransportError::Timeout(_))));
    }

    #[test]
    fn master_hangup_is_disconnected() {
        let (master, slave_fd, path) = pty();
        let mut t = SerialTransport::open(&path).unwrap();
        drop(slave_fd);
        drop(master);
        let mut buf = [0u8; 8];
        let r = t.recv(&mut buf, Duration::from_secs(1));
        assert!(matches!(r, Err(TransportError::Disconnected)), "{r:?}");
    }

    #[test]
    fn missing_device_is_an_io_error() {
        let r = SerialTransport::open("/dev/modemflash-no-such-tty");
        assert!(matches!(r, Err(TransportError::Io(_))), "{r:?}");
    }
}
