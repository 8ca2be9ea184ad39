//! HDLC frames over a [`Transport`]: the shared I/O half of the DIAG, DMSS and streaming
//! clients. It owns the receive buffer and decoder, so bytes that arrive after a frame in
//! the same read are kept for the next call.

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::{Due, SharedClock};

use super::codec::{Decoder, HdlcError, encode_into};
use crate::transport::{Transport, TransportError};

/// Errors from [`HdlcLink`].
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Hdlc(#[from] HdlcError),
}

/// A transport that speaks HDLC frames.
#[derive(Debug)]
pub struct HdlcLink<T> {
    transport: T,
    decoder: Decoder,
    frames: VecDeque<Result<Vec<u8>, HdlcError>>,
    tx: Vec<u8>,
    rx: Vec<u8>,
    clock: SharedClock,
}

impl<T: Transport> HdlcLink<T> {
    /// Wrap `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            decoder: Decoder::default(),
            frames: VecDeque::new(),
            tx: Vec::new(),
            rx: vec![0; 4096],
            clock: crate::time::real(),
        }
    }

    /// Measure timeouts on `clock` (virtual in tests; `crate::time`).
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock timeouts are measured on.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The wrapped transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The wrapped transport, mutably (for raw writes such as Quectel's mode probe).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Give the transport back.
    pub fn into_inner(self) -> T {
        self.transport
    }

    /// Encode `payload` as one frame and send it.
    pub fn send(&mut self, payload: &[u8], leading_flag: bool) -> Result<(), TransportError> {
        self.tx.clear();
        encode_into(payload, leading_flag, &mut self.tx);
        self.transport.send(&self.tx)
    }

    /// Drop buffered frames and partial input (after a mode change or a resync).
    pub fn clear(&mut self) {
        self.frames.clear();
        self.decoder.reset();
    }

    /// Receive the next frame, valid or not, waiting up to `timeout` in total.
    /// Empty frames (duplicate flags) are skipped by the decoder.
    pub fn recv_any(&mut self, timeout: Duration) -> Result<Result<Vec<u8>, HdlcError>, TransportError> {
        let due = Due::after(&self.clock, timeout);
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return Ok(frame);
            }
            let left = due.left();
            if left.is_zero() {
                return Err(TransportError::Timeout(timeout));
            }
            let n = match self.transport.recv(&mut self.rx, left) {
                Err(TransportError::Timeout(_)) => return Err(TransportError::Timeout(timeout)),
                other => other?,
            };
            let frames = &mut self.frames;
            self.decoder
                .feed(self.rx.get(..n).unwrap_or_default(), |r| frames.push_back(r.map(<[u8]>::to_vec)));
        }
    }

    /// Receive the next valid frame; a corrupt frame is an error.
    pub fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        Ok(self.recv_any(timeout)??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::memory::stream_pair;

    #[test]
    fn frames_survive_split_and_coalesced_reads() {
        let (host, mut dev) = stream_pair("dm");
        let mut link = HdlcLink::new(host);
        // Two frames in one write, plus the start of a third.
        dev.send(&[0x7e, 0x02, 0x6a, 0xd3, 0x7e, 0x13, 0x06, 0x88, 0xd5, 0x7e, 0x7e, 0x0b]).unwrap();
        let t = Duration::from_millis(200);
        assert_eq!(link.recv(t).unwrap(), vec![0x02]);
        assert_eq!(link.recv(t).unwrap(), vec![0x13, 0x06]);
        assert!(matches!(
            link.recv(Duration::from_millis(20)),
            Err(LinkError::Transport(TransportError::Timeout(_)))
        ));
        dev.send(&[0xab, 0x4e, 0x7e]).unwrap();
        assert_eq!(link.recv(t).unwrap(), vec![0x0b]);
    }

    #[test]
    fn send_writes_one_frame() {
        let (host, mut dev) = stream_pair("dm");
        let mut link = HdlcLink::new(host);
        link.send(&[0x3a], false).unwrap();
        let mut buf = [0u8; 16];
        let n = dev.recv(&mut buf, Duration::from_millis(200)).unwrap();
        assert_eq!(&buf[..n], &[0x3a, 0xa1, 0x6e, 0x7e]);
    }
}
