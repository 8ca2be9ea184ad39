//! Fastboot over TCP, as AOSP speaks it (`protocols.md` §6, S11): both sides send `FB`
//! followed by two ASCII version digits (`FB01`) and use the smaller version; after that
//! every packet is a big-endian u64 length followed by that many bytes.
//!
//! [`FastbootTcp`] wraps any byte-stream [`Transport`] (a TCP socket, or a memory pair
//! in tests) and is itself a message-oriented `Transport`: one `send` is one packet, one
//! `recv` returns one packet (or the next part of a packet bigger than the buffer).
//! Payload goes straight into the caller's buffer, so a large declared length never
//! causes an allocation.

use std::time::{Duration, Instant};

use super::FastbootError;
use crate::transport::{LinkInfo, Transport, TransportError};

/// Protocol version this side speaks.
pub const TCP_VERSION: u8 = 1;
/// Default TCP port.
pub const TCP_PORT: u16 = 5554;
/// Wait for the peer's handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest packet accepted. Download data may come as one packet of up to the 32-bit
/// `download:%08x` size; nothing legitimate is bigger.
pub const MAX_PACKET_LEN: u64 = u32::MAX as u64;

/// Internal receive buffer; bytes past the current packet wait here.
const RX_BUF: usize = 64 * 1024;
/// Sends up to this size go out as one write (header + payload).
const COALESCE: usize = 4096;

/// A length-framed fastboot link over a byte-stream transport.
#[derive(Debug)]
pub struct FastbootTcp<T> {
    inner: T,
    version: u8,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    hdr: [u8; 8],
    hdr_len: usize,
    /// Payload bytes of the current packet not yet returned.
    left: u64,
    tx: Vec<u8>,
}

fn handshake_bytes() -> [u8; 4] {
    [b'F', b'B', b'0' + TCP_VERSION / 10, b'0' + TCP_VERSION % 10]
}

/// Parse a peer handshake: `FB` + two ASCII digits.
pub fn parse_handshake(b: &[u8; 4]) -> Result<u8, FastbootError> {
    let bad = || FastbootError::Handshake { got: String::from_utf8_lossy(b).into_owned() };
    match b {
        [b'F', b'B', hi, lo] if hi.is_ascii_digit() && lo.is_ascii_digit() => {
            let v = (hi - b'0') * 10 + (lo - b'0');
            if v == 0 { Err(bad()) } else { Ok(v) }
        }
        _ => Err(bad()),
    }
}

impl<T: Transport> FastbootTcp<T> {
    fn wrap(inner: T) -> Self {
        Self {
            inner,
            version: TCP_VERSION,
            buf: vec![0; RX_BUF],
            start: 0,
            end: 0,
            hdr: [0; 8],
            hdr_len: 0,
            left: 0,
            tx: Vec::with_capacity(COALESCE + 8),
        }
    }

    /// Host side: send `FB01`, read the device's handshake.
    pub fn client_handshake(inner: T, timeout: Duration) -> Result<Self, FastbootError> {
        let mut me = Self::wrap(inner);
        me.inner.send(&handshake_bytes())?;
        me.read_handshake(timeout)?;
        Ok(me)
    }

    /// Device side: send `FB01`, read the host's handshake. (Both sides write before
    /// reading, so neither order of arrival can deadlock.)
    pub fn server_handshake(inner: T, timeout: Duration) -> Result<Self, FastbootError> {
        Self::client_handshake(inner, timeout)
    }

    fn read_handshake(&mut self, timeout: Duration) -> Result<(), FastbootError> {
        let deadline = crate::time::deadline(timeout);
        let mut got = [0u8; 4];
        let mut n = 0;
        while n < 4 {
            if self.start == self.end {
                self.fill(deadline, timeout)?;
            }
            while n < 4 && self.start < self.end {
                if let (Some(d), Some(s)) = (got.get_mut(n), self.buf.get(self.start)) {
                    *d = *s;
                }
                n += 1;
                self.start += 1;
            }
        }
        self.version = parse_handshake(&got)?.min(TCP_VERSION);
        Ok(())
    }

    /// Negotiated protocol version.
    pub fn version(&self) -> u8 {
        self.version
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }

    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Read more bytes into the empty internal buffer. ZLPs are ignored.
    fn fill(&mut self, deadline: Instant, timeout: Duration) -> Result<(), TransportError> {
        self.start = 0;
        self.end = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout(timeout));
            }
            let n = self.inner.recv(&mut self.buf, left)?;
            if n > 0 {
                self.end = n.min(self.buf.len());
                return Ok(());
            }
        }
    }

    fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }
}

impl<T: Transport> Transport for FastbootTcp<T> {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let len = (data.len() as u64).to_be_bytes();
        if data.len() <= COALESCE {
            self.tx.clear();
            self.tx.extend_from_slice(&len);
            self.tx.extend_from_slice(data);
            self.inner.send(&self.tx)
        } else {
            self.inner.send(&len)?;
            self.inner.send(data)
        }
    }

    /// One packet, or as much of it as fits in `out`. Waits until that much has
    /// arrived; if the deadline passes after some payload was copied, returns it.
    fn recv(&mut self, out: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        let deadline = crate::time::deadline(timeout);
        if self.left == 0 {
            while self.hdr_len < 8 {
                if self.start == self.end {
                    self.fill(deadline, timeout)?;
                }
                let take = (8 - self.hdr_len).min(self.end - self.start);
                if let (Some(d), Some(s)) = (
                    self.hdr.get_mut(self.hdr_len..self.hdr_len + take),
                    self.buf.get(self.start..self.start + take),
                ) {
                    d.copy_from_slice(s);
                }
                self.hdr_len += take;
                self.start += take;
            }
            self.hdr_len = 0;
            let len = u64::from_be_bytes(self.hdr);
            if len > MAX_PACKET_LEN {
                return Err(TransportError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("fastboot TCP packet of {len} bytes: expected at most {MAX_PACKET_LEN}"),
                )));
            }
            if len == 0 {
                return Ok(0);
            }
            self.left = len;
        }
        let want = usize::try_from(self.left).unwrap_or(usize::MAX).min(out.len());
        let mut got = 0;
        while got < want {
            if self.start == self.end {
                match self.fill(deadline, timeout) {
                    Ok(()) => {}
                    Err(TransportError::Timeout(_)) if got > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            let avail = self.buffered();
            let n = avail.len().min(want - got);
            if let (Some(d), Some(s)) = (out.get_mut(got..got + n), avail.get(..n)) {
                d.copy_from_slice(s);
            }
            got += n;
            self.start += n;
        }
        self.left -= got as u64;
        Ok(got)
    }

    fn info(&self) -> &LinkInfo {
        self.inner.info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::memory::{MemoryTransport, stream_pair};
    use std::thread;

    const T: Duration = Duration::from_secs(2);

    fn connected() -> (FastbootTcp<MemoryTransport>, FastbootTcp<MemoryTransport>) {
        let (h, d) = stream_pair("tcp");
        let dev = thread::spawn(move || FastbootTcp::server_handshake(d, T).unwrap());
        let host = FastbootTcp::client_handshake(h, T).unwrap();
        (host, dev.join().unwrap())
    }

    #[test]
    fn handshake_and_packet_bytes() {
        let (h, mut d) = stream_pair("tcp");
        d.send(b"FB01").unwrap();
        let dev = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            while got.len() < 4 + 8 + 14 {
                let n = d.recv(&mut buf, T).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(&got[..4], b"FB01");
            assert_eq!(&got[4..12], &[0, 0, 0, 0, 0, 0, 0, 14]);
            assert_eq!(&got[12..], b"getvar:product");
            d.send(&[0, 0, 0, 0, 0, 0, 0, 9]).unwrap();
            d.send(b"OKAYsargo").unwrap();
        });
        let mut fb = FastbootTcp::client_handshake(h, T).unwrap();
        assert_eq!(fb.version(), 1);
        fb.send(b"getvar:product").unwrap();
        let mut buf = [0u8; 256];
        let n = fb.recv(&mut buf, T).unwrap();
        assert_eq!(&buf[..n], b"OKAYsargo");
        dev.join().unwrap();
    }

    #[test]
    fn newer_peer_version_uses_ours_and_bad_handshake_fails() {
        assert_eq!(parse_handshake(b"FB02").unwrap(), 2);
        assert_eq!(parse_handshake(b"FB99").unwrap(), 99);
        for bad in [b"FB00", b"FBx1", b"fb01", b"XX01"] {
            assert!(matches!(parse_handshake(bad), Err(FastbootError::Handshake { .. })));
        }
        let (h, mut d) = stream_pair("tcp");
        d.send(b"FB07").unwrap();
        assert_eq!(FastbootTcp::client_handshake(h, T).unwrap().version(), 1);
        let (h, mut d) = stream_pair("tcp");
        d.send(b"HTTP").unwrap();
        assert!(matches!(FastbootTcp::client_handshake(h, T), Err(FastbootError::Handshake { .. })));
    }

    #[test]
    fn packets_reassemble_from_arbitrary_splits() {
        let (h, mut d) = stream_pair("tcp");
        // Handshake and two packets, delivered one byte at a time.
        let mut wire = b"FB01".to_vec();
        for p in [&b"INFOhello"[..], b"OKAY"] {
            wire.extend_from_slice(&(p.len() as u64).to_be_bytes());
            wire.extend_from_slice(p);
        }
        for b in &wire {
            d.send(std::slice::from_ref(b)).unwrap();
        }
        let mut fb = FastbootTcp::client_handshake(h, T).unwrap();
        let mut buf = [0u8; 256];
        let n = fb.recv(&mut buf, T).unwrap();
        assert_eq!(&buf[..n], b"INFOhello");
        let n = fb.recv(&mut buf, T).unwrap();
        assert_eq!(&buf[..n], b"OKAY");
    }

    #[test]
    fn packets_sharing_one_read_stay_apart() {
        let (h, mut d) = stream_pair("tcp");
        let mut wire = b"FB01".to_vec();
        for p in [&b"INFOa"[..], b"OKAYb"] {
            wire.extend_from_slice(&(p.len() as u64).to_be_bytes());
            wire.extend_from_slice(p);
        }
        d.send(&wire).unwrap();
        let mut fb = FastbootTcp::client_handshake(h, T).unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(fb.recv(&mut buf, T).unwrap(), 5);
        assert_eq!(&buf[..5], b"INFOa");
        assert_eq!(fb.recv(&mut buf, T).unwrap(), 5);
        assert_eq!(&buf[..5], b"OKAYb");
    }

    #[test]
    fn big_packet_streams_into_small_buffers() {
        let (mut host, mut dev) = connected();
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        host.send(&data).unwrap();
        host.send(b"next").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 7000];
        while got.len() < data.len() {
            let n = dev.recv(&mut buf, T).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, data);
        let n = dev.recv(&mut buf, T).unwrap();
        assert_eq!(&buf[..n], b"next");
    }

    #[test]
    fn oversized_length_is_rejected_and_timeouts_keep_state() {
        let (mut host, mut dev) = connected();
        let mut buf = [0u8; 16];
        assert!(matches!(dev.recv(&mut buf, Duration::from_millis(20)), Err(TransportError::Timeout(_))));
        // Half a header, a timeout, then the rest.
        host.inner.send(&[0, 0, 0, 0]).unwrap();
        assert!(matches!(dev.recv(&mut buf, Duration::from_millis(20)), Err(TransportError::Timeout(_))));
        host.inner.send(&[0, 0, 0, 2, b'o', b'k']).unwrap();
        assert_eq!(dev.recv(&mut buf, T).unwrap(), 2);
        assert_eq!(&buf[..2], b"ok");
        host.inner.send(&u64::MAX.to_be_bytes()).unwrap();
        assert!(matches!(dev.recv(&mut buf, T), Err(TransportError::Io(_))));
    }
}
