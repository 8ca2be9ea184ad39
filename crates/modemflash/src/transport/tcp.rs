//! A TCP connection as a [`Transport`]: a byte stream, e.g. a module exported over the
//! network (QFirehose's `-p host:9008`, `docs/facts/quectel.md`) or the simulator served on a
//! socket. Nagle is off so small command frames leave at once. End of stream and resets are
//! [`TransportError::Disconnected`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{LinkInfo, Transport, TransportError};

/// Shortest read timeout handed to the socket: the OS rejects zero, so a zero wait becomes
/// this.
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);
/// Time allowed for one write: 3 s, as for USB bulk writes (`docs/facts/quectel.md`) [confirmed].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);

/// A connected TCP stream.
#[derive(Debug)]
pub struct TcpTransport {
    stream: TcpStream,
    info: LinkInfo,
    read_timeout: Option<Duration>,
}

fn map_err(e: io::Error, timeout: Duration) -> TransportError {
    use io::ErrorKind as K;
    match e.kind() {
        K::WouldBlock | K::TimedOut => TransportError::Timeout(timeout),
        K::BrokenPipe | K::ConnectionReset | K::ConnectionAborted | K::NotConnected | K::UnexpectedEof => {
            TransportError::Disconnected
        }
        _ => TransportError::Io(e),
    }
}

impl TcpTransport {
    /// Connect to `addr`, trying each resolved address for up to `timeout`.
    pub fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> Result<Self, TransportError> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing");
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => return Self::from_stream(s),
                Err(e) => last = e,
            }
        }
        Err(match last.kind() {
            io::ErrorKind::TimedOut => TransportError::Timeout(timeout),
            _ => TransportError::Io(last),
        })
    }

    /// Wrap an already connected stream (e.g. one accepted by a listener).
    pub fn from_stream(stream: TcpStream) -> Result<Self, TransportError> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(SEND_TIMEOUT))?;
        let endpoint = match stream.peer_addr() {
            Ok(SocketAddr::V4(a)) => format!("tcp:{a}"),
            Ok(SocketAddr::V6(a)) => format!("tcp:{a}"),
            Err(_) => "tcp:?".to_owned(),
        };
        Ok(Self { stream, info: LinkInfo::stream(endpoint), read_timeout: None })
    }
}

impl Transport for TcpTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.stream.write_all(data).map_err(|e| match e.kind() {
            io::ErrorKind::WriteZero => TransportError::Disconnected,
            _ => map_err(e, SEND_TIMEOUT),
        })
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let wanted = timeout.max(MIN_READ_TIMEOUT);
        if self.read_timeout != Some(wanted) {
            self.stream.set_read_timeout(Some(wanted))?;
            self.read_timeout = Some(wanted);
        }
        loop {
            return match self.stream.read(buf) {
                Ok(0) => Err(TransportError::Disconnected),
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(map_err(e, timeout)),
            };
        }
    }

    fn info(&self) -> &LinkInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    fn pair() -> (TcpTransport, TcpTransport) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let client = TcpTransport::connect(addr, Duration::from_secs(2)).unwrap();
        let (s, _) = l.accept().unwrap();
        (client, TcpTransport::from_stream(s).unwrap())
    }

    #[test]
    fn bytes_cross_both_ways() {
        let (mut a, mut b) = pair();
        assert!(a.info().endpoint.starts_with("tcp:127.0.0.1:"));
        assert!(a.stream.nodelay().unwrap());
        a.send(&[0x7e, 0x06, 0x4e, 0x95, 0x7e]).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 3];
        while got.len() < 5 {
            let n = b.recv(&mut buf, Duration::from_secs(2)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, [0x7e, 0x06, 0x4e, 0x95, 0x7e]);
        b.send(b"OK").unwrap();
        let mut buf = [0u8; 8];
        let mut got = Vec::new();
        while got.len() < 2 {
            let n = a.recv(&mut buf, Duration::from_secs(2)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"OK");
    }

    #[test]
    fn timeout_and_eof() {
        let (mut a, b) = pair();
        let mut buf = [0u8; 8];
        let t0 = Instant::now();
        let r = a.recv(&mut buf, Duration::from_millis(100));
        assert!(matches!(r, Err(TransportError::Timeout(d)) if d == Duration::from_millis(100)), "{r:?}");
        assert!(t0.elapsed() >= Duration::from_millis(90));
        assert!(matches!(a.recv(&mut buf, Duration::ZERO), Err(TransportError::Timeout(_))));
        drop(b);
        assert!(matches!(a.recv(&mut buf, Duration::from_secs(1)), Err(TransportError::Disconnected)));
    }

    #[test]
    fn refused_connection_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert!(TcpTransport::connect(addr, Duration::from_millis(500)).is_err());
    }
}
