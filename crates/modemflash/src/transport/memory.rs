//! An in-process transport pair: what one side sends, the other receives, message by
//! message. Used by tests and by the virtual module (modemflash-sim) when it is served
//! in-process.
//!
//! The pair can behave like a USB bulk pipe (`max_packet_size` + ZLP) or like a byte
//! stream; either way it preserves the bytes exactly.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::Duration;

use super::{LinkInfo, Transport, TransportError};

/// The sending half: unbounded, or bounded like a USB pipe whose reader is slow.
#[derive(Debug)]
enum Tx {
    Unbounded(Sender<Vec<u8>>),
    Bounded(SyncSender<Vec<u8>>),
}

impl Tx {
    fn send(&self, msg: Vec<u8>) -> Result<(), TransportError> {
        match self {
            Tx::Unbounded(tx) => tx.send(msg),
            Tx::Bounded(tx) => tx.send(msg),
        }
        .map_err(|_| TransportError::Disconnected)
    }
}

/// One end of an in-process link.
#[derive(Debug)]
pub struct MemoryTransport {
    tx: Tx,
    rx: Receiver<Vec<u8>>,
    /// Rest of a message that did not fit in the caller's buffer.
    pending: VecDeque<u8>,
    info: LinkInfo,
    /// With a virtual clock, a wait that brings nothing lets the whole timeout pass on
    /// that clock at once (see [`MemoryTransport::with_clock`]).
    clock: Option<crate::time::SharedClock>,
}

/// Real time a receive on a virtual clock waits for a message before the timeout is
/// taken as passed: the peer thread may be about to send.
const VIRTUAL_GRACE: Duration = Duration::from_millis(20);

impl MemoryTransport {
    /// Measure receive timeouts on `clock`. On a virtual clock, a receive that gets
    /// nothing within a short real grace advances the clock by the whole timeout and
    /// reports it: a client's 60 s timeout then costs milliseconds, on the clock the
    /// client measures too (its `with_clock`).
    #[must_use]
    pub fn with_clock(mut self, clock: crate::time::SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }
}

/// Create a connected pair `(host, device)`. Both ends share `info`'s packet semantics;
/// their endpoint names get `:host` / `:device` suffixes.
pub fn pair(info: &LinkInfo) -> (MemoryTransport, MemoryTransport) {
    make_pair(info, None)
}

/// Like [`pair`], but the host's `send` blocks while `depth` messages wait unread on the
/// device side, as a USB bulk OUT transfer waits for the device: a slow device then
/// slows the host down instead of piling up the host's data in memory.
pub fn pair_bounded(info: &LinkInfo, depth: usize) -> (MemoryTransport, MemoryTransport) {
    make_pair(info, Some(depth))
}

fn make_pair(info: &LinkInfo, depth: Option<usize>) -> (MemoryTransport, MemoryTransport) {
    let (a_tx, b_rx) = match depth {
        None => {
            let (tx, rx) = mpsc::channel();
            (Tx::Unbounded(tx), rx)
        }
        Some(d) => {
            let (tx, rx) = mpsc::sync_channel(d.max(1));
            (Tx::Bounded(tx), rx)
        }
    };
    let (b_tx, a_rx) = mpsc::channel();
    let b_tx = Tx::Unbounded(b_tx);
    let mut host_info = info.clone();
    host_info.endpoint = format!("{}:host", info.endpoint);
    let mut dev_info = info.clone();
    dev_info.endpoint = format!("{}:device", info.endpoint);
    (
        MemoryTransport { tx: a_tx, rx: a_rx, pending: VecDeque::new(), info: host_info, clock: None },
        MemoryTransport { tx: b_tx, rx: b_rx, pending: VecDeque::new(), info: dev_info, clock: None },
    )
}

/// A pair that behaves like a byte stream named `name`.
pub fn stream_pair(name: &str) -> (MemoryTransport, MemoryTransport) {
    pair(&LinkInfo::stream(format!("memory:{name}")))
}

impl Transport for MemoryTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        if !data.is_empty() {
            self.tx.send(data.to_vec())?;
        }
        if self.info.needs_zlp(data.len()) {
            self.tx.send(Vec::new())?;
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if self.pending.is_empty() {
            let virtual_clock = self.clock.as_ref().filter(|c| c.is_virtual());
            let wait = if virtual_clock.is_some() { timeout.min(VIRTUAL_GRACE) } else { timeout };
            let msg = match self.rx.recv_timeout(wait) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(c) = virtual_clock {
                        c.sleep(timeout);
                    }
                    return Err(TransportError::Timeout(timeout));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(TransportError::Disconnected),
            };
            if msg.is_empty() {
                return Ok(0);
            }
            self.pending.extend(msg);
        }
        let n = buf.len().min(self.pending.len());
        for (dst, src) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }

    fn info(&self) -> &LinkInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(200);

    #[test]
    fn bytes_cross_and_split_across_small_buffers() {
        let (mut host, mut dev) = stream_pair("dm");
        host.send(b"hello world").unwrap();
        let mut buf = [0u8; 4];
        let mut got = Vec::new();
        while got.len() < 11 {
            let n = dev.recv(&mut buf, T).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"hello world");
        assert!(matches!(dev.recv(&mut buf, Duration::from_millis(10)), Err(TransportError::Timeout(_))));
    }

    #[test]
    fn zlp_follows_multiple_of_max_packet() {
        let info = LinkInfo { endpoint: "memory:edl".into(), max_packet_size: Some(4), zlp: true };
        let (mut host, mut dev) = pair(&info);
        host.send(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        host.send(&[9]).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(dev.recv(&mut buf, T).unwrap(), 8);
        assert_eq!(dev.recv(&mut buf, T).unwrap(), 0, "ZLP after 8 bytes at mps 4");
        assert_eq!(dev.recv(&mut buf, T).unwrap(), 1);
    }

    #[test]
    fn bounded_host_side_waits_for_the_device() {
        let (mut host, mut dev) = pair_bounded(&LinkInfo::stream("memory:edl"), 2);
        host.send(b"a").unwrap();
        host.send(b"b").unwrap();
        let t = std::thread::spawn(move || {
            host.send(b"c").unwrap(); // blocks until the device reads
            host
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "the third send must wait");
        let mut buf = [0u8; 4];
        assert_eq!(dev.recv(&mut buf, T).unwrap(), 1);
        let host = t.join().unwrap();
        drop(dev);
        let mut host = host;
        assert!(matches!(host.send(b"x"), Err(TransportError::Disconnected)));
    }

    #[test]
    fn dropped_peer_is_disconnected() {
        let (mut host, dev) = stream_pair("dm");
        drop(dev);
        let mut buf = [0u8; 4];
        assert!(matches!(host.recv(&mut buf, T), Err(TransportError::Disconnected)));
        assert!(matches!(host.send(b"x"), Err(TransportError::Disconnected)));
    }
}
