//! One `Transport` trait for every link a module can be reached through: USB bulk
//! endpoints, serial ttys, TCP and in-process memory pairs.
//!
//! The trait is message-oriented, like a USB bulk pipe: [`Transport::send`] writes one
//! message (one bulk OUT transfer), [`Transport::recv`] returns what one read yields.
//! A byte stream (tty, TCP) loses message boundaries, so codecs never rely on them:
//! HDLC splits on flags, Sahara on length fields, Firehose on `</data>`
//! (`protocols.md` §8, "Over a tty, transfer boundaries are lost").
//!
//! USB semantics that protocols care about are expressed through [`LinkInfo`]: the
//! bulk max packet size, and whether a zero-length packet (ZLP) follows a write whose
//! length is a multiple of it. A ZLP reaches the peer as `Ok(0)` from `recv`.

pub mod bulk;
pub mod memory;
pub mod replay;
pub mod serial;
pub mod tcp;
#[cfg(unix)]
mod tty_unix;

use std::time::Duration;

/// What went wrong on a link.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Nothing arrived within the allowed time.
    #[error("timed out after {0:?} waiting for data")]
    Timeout(Duration),
    /// The peer went away (USB disconnect, closed socket, hung-up tty).
    #[error("the link is disconnected")]
    Disconnected,
    /// An operating-system error on the link.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Static facts about a link that protocols need to respect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Human-readable endpoint name, used in error messages (e.g. `/dev/ttyUSB0`,
    /// `usb:1-1.2 if0`, `tcp:127.0.0.1:5554`, `memory:dm`).
    pub endpoint: String,
    /// Bulk max packet size when the link is USB-like (512 at high speed); `None` for a
    /// byte stream.
    pub max_packet_size: Option<usize>,
    /// Whether `send` appends a zero-length packet after a write that is a whole number
    /// of max-size packets (`protocols.md` §5.3 ZLP rules, `ZlpAwareHost`).
    pub zlp: bool,
}

impl LinkInfo {
    /// A byte-stream link (tty, TCP) with no packet semantics.
    pub fn stream(endpoint: impl Into<String>) -> Self {
        Self { endpoint: endpoint.into(), max_packet_size: None, zlp: false }
    }

    /// Whether a write of `len` bytes is followed by a ZLP on this link.
    pub fn needs_zlp(&self, len: usize) -> bool {
        match self.max_packet_size {
            Some(mps) if self.zlp && mps > 0 => len > 0 && len.is_multiple_of(mps),
            _ => false,
        }
    }
}

/// A bidirectional, blocking link to one endpoint of a module.
pub trait Transport: Send {
    /// Send one message. On USB-like links this is one bulk OUT transfer, followed by a
    /// ZLP when [`LinkInfo::needs_zlp`] says so.
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError>;

    /// Receive into `buf`, waiting at most `timeout` for the first byte.
    ///
    /// Returns the number of bytes read. `Ok(0)` means a zero-length packet arrived (USB
    /// ZLP); it is never used for end-of-stream, which is [`TransportError::Disconnected`].
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError>;

    /// Facts about this link.
    fn info(&self) -> &LinkInfo;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        (**self).send(data)
    }
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        (**self).recv(buf, timeout)
    }
    fn info(&self) -> &LinkInfo {
        (**self).info()
    }
}
