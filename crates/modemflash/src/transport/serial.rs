//! A tty (ttyUSB/ttyACM, or any serial port) as a [`Transport`]: a byte stream with no
//! message boundaries, so the codecs above never rely on them.
//!
//! Settings follow QFlash (`docs/facts/quectel.md`, [confirmed]): raw mode, 8N1, no flow control,
//! 115200 baud (irrelevant on USB). A read that finds nothing within its timeout is
//! [`TransportError::Timeout`]; end of file and hang-up (read returns 0, EIO, broken pipe,
//! the device node gone) are [`TransportError::Disconnected`].

use std::fmt;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits};

use super::{LinkInfo, Transport, TransportError};

/// Line speed set on open; only matters on a real UART (`docs/facts/quectel.md`) [confirmed].
pub const BAUD_RATE: u32 = 115_200;
// The termios fallback (`tty_unix.rs`) sets B115200.
const _: () = assert!(BAUD_RATE == 115_200);
/// Time allowed for one write to be accepted by the tty: 3 s, QFirehose's bulk write timeout
/// (`docs/facts/quectel.md`) [confirmed].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether a serial port named `path` is there to open.
///
/// A file test is right for Unix device nodes, but not for Windows COM ports: `COM5` (or
/// `\\.\COM5`) is a device name, not a file, and asking for its metadata fails although the
/// port opens. On Windows such names count as present, and opening them tells.
pub fn tty_present(path: &std::path::Path) -> bool {
    if cfg!(windows) && is_windows_device_name(path) {
        return true;
    }
    path.exists()
}

/// `COM<n>` or `\\.\COM<n>` (any case), the names Windows gives serial ports.
pub fn is_windows_device_name(path: &std::path::Path) -> bool {
    let s = path.to_string_lossy();
    let s = s.strip_prefix(r"\\.\").unwrap_or(&s);
    let upper = s.to_ascii_uppercase();
    upper.strip_prefix("COM").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The port underneath: `serialport`'s, or the Unix fallback of `tty_unix.rs`.
enum Line {
    Port(Box<dyn SerialPort>),
    #[cfg(unix)]
    Tty(super::tty_unix::Tty),
}

impl Line {
    fn set_timeout(&mut self, d: Duration) -> io::Result<()> {
        match self {
            Line::Port(p) => p.set_timeout(d).map_err(io::Error::from),
            #[cfg(unix)]
            Line::Tty(t) => {
                t.set_timeout(d);
                Ok(())
            }
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Line::Port(p) => p.read(buf),
            #[cfg(unix)]
            Line::Tty(t) => t.read(buf),
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Line::Port(p) => p.write(data),
            #[cfg(unix)]
            Line::Tty(t) => t.write(data),
        }
    }
}

/// Longest single wait of a read on Windows (see `recv`).
const WINDOWS_READ_SLICE: Duration = Duration::from_millis(20);

/// An open serial port.
pub struct SerialTransport {
    port: Line,
    info: LinkInfo,
}

impl fmt::Debug for SerialTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialTransport").field("info", &self.info).finish_non_exhaustive()
    }
}

/// Whether an I/O error means the other end is gone. [inferred] `serialport` maps EIO and
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

/// Whether `serialport` failed because a system call it needs is missing. `serialport` keeps
/// only the errno text of such errors, so the text is checked too.
#[cfg(unix)]
fn is_enosys(e: &io::Error) -> bool {
    e.raw_os_error() == Some(super::tty_unix::ENOSYS) || e.to_string().contains("not implemented")
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
    ///
    /// Where `serialport` cannot configure the tty because a call it needs does not exist
    /// (ENOSYS: termios2 under qemu-user or an old kernel), the tty is opened with the same
    /// settings through plain termios instead (`tty_unix.rs`).
    pub fn open(path: &str) -> Result<Self, TransportError> {
        let opened = serialport::new(path, BAUD_RATE)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(SEND_TIMEOUT)
            .open()
            .map_err(io::Error::from);
        let port = match opened {
            Ok(p) => Line::Port(p),
            #[cfg(unix)]
            Err(e) if is_enosys(&e) => Line::Tty(super::tty_unix::Tty::open(path, SEND_TIMEOUT)?),
            Err(e) => return Err(e.into()),
        };
        Ok(Self { port, info: LinkInfo::stream(path) })
    }

    /// Open `path` through the Unix termios fallback directly (tests of that path).
    #[cfg(unix)]
    #[doc(hidden)]
    pub fn open_termios(path: &str) -> Result<Self, TransportError> {
        Ok(Self {
            port: Line::Tty(super::tty_unix::Tty::open(path, SEND_TIMEOUT)?),
            info: LinkInfo::stream(path),
        })
    }
}

impl Transport for SerialTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.port.set_timeout(SEND_TIMEOUT)?;
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
            // On Windows the wait is cut into short slices: Wine's COM ports (a pty behind a
            // COM name) answer a read only when its whole timeout has passed, even with data
            // waiting, which made every request-reply cost the full reply timeout. Short
            // slices bound that wait; on Windows itself they cost a few more calls.
            let slice = if cfg!(windows) { left.min(WINDOWS_READ_SLICE) } else { left };
            self.port.set_timeout(slice)?;
            match self.port.read(buf) {
                Ok(0) => return Err(TransportError::Disconnected),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted && !left.is_zero() => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut && slice < left => {}
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
        both_ways(SerialTransport::open);
    }

    /// The termios fallback (used where `serialport` meets ENOSYS, as under qemu-user)
    /// behaves the same on a real pty.
    #[test]
    fn termios_fallback_crosses_both_ways_and_times_out() {
        both_ways(SerialTransport::open_termios);
    }

    #[test]
    fn termios_fallback_sees_a_hangup() {
        let (master, slave_fd, path) = pty();
        let mut t = SerialTransport::open_termios(&path).unwrap();
        drop(slave_fd);
        drop(master);
        let mut buf = [0u8; 8];
        let r = t.recv(&mut buf, Duration::from_secs(1));
        assert!(matches!(r, Err(TransportError::Disconnected)), "{r:?}");
    }

    fn both_ways(open: fn(&str) -> Result<SerialTransport, TransportError>) {
        let (mut master, slave_fd, path) = pty();
        let mut t = open(&path).unwrap();
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
    fn windows_com_names_are_recognised() {
        for n in ["COM5", "com12", r"\\.\COM3"] {
            assert!(is_windows_device_name(std::path::Path::new(n)), "{n}");
        }
        for n in ["COM", "COMX", "/dev/ttyUSB0", "COM5.txt"] {
            assert!(!is_windows_device_name(std::path::Path::new(n)), "{n}");
        }
        // Off Windows, presence is the file test.
        assert!(!tty_present(std::path::Path::new("COM5")));
    }

    #[test]
    fn missing_device_is_an_io_error() {
        let r = SerialTransport::open("/dev/modemflash-no-such-tty");
        assert!(matches!(r, Err(TransportError::Io(_))), "{r:?}");
    }
}
