//! A link that first hands out bytes already read from it (by a mode probe that listened
//! before speaking), then reads the link itself. The bytes a boot ROM sends once (its
//! Sahara HELLO) reach the client that speaks to it.

use std::time::Duration;

use super::{LinkInfo, Transport, TransportError};

/// `head`, then `inner`.
pub struct Replay {
    inner: Box<dyn Transport>,
    head: Vec<u8>,
    at: usize,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("left", &self.head.len().saturating_sub(self.at))
            .finish_non_exhaustive()
    }
}

impl Replay {
    pub fn new(inner: Box<dyn Transport>, head: Vec<u8>) -> Self {
        Replay { inner, head, at: 0 }
    }

    /// `inner` itself when there is nothing to replay.
    pub fn boxed(inner: Box<dyn Transport>, head: Vec<u8>) -> Box<dyn Transport> {
        if head.is_empty() { inner } else { Box::new(Replay::new(inner, head)) }
    }
}

impl Transport for Replay {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.inner.send(data)
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        let left = self.head.get(self.at..).unwrap_or_default();
        if left.is_empty() {
            return self.inner.recv(buf, timeout);
        }
        let n = left.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), left.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.at += n;
        Ok(n)
    }

    fn info(&self) -> &LinkInfo {
        self.inner.info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::memory::stream_pair;

    #[test]
    fn replay_returns_the_head_then_the_link() {
        let (host, mut dev) = stream_pair("edl");
        dev.send(b"later").unwrap();
        let mut r = Replay::new(Box::new(host), b"first".to_vec());
        let mut buf = [0u8; 3];
        let mut got = Vec::new();
        while got.len() < 10 {
            let n = r.recv(&mut buf, Duration::from_millis(100)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"firstlater");
    }
}
