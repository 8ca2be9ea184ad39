//! A transport that replays the fuzzer's bytes as the device's answers, in chunks of a
//! fuzzer-chosen size, drops what the host sends, and then reports a disconnect (so no
//! client ever waits for real time).
use modemflash::transport::{LinkInfo, Transport, TransportError};
use std::time::Duration;

pub struct Replay {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    info: LinkInfo,
}

impl Replay {
    pub fn new(data: &[u8], chunk: usize) -> Self {
        Replay { data: data.to_vec(), pos: 0, chunk: chunk.max(1), info: LinkInfo::stream("fuzz") }
    }
}

impl Transport for Replay {
    fn send(&mut self, _data: &[u8]) -> Result<(), TransportError> {
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], _timeout: Duration) -> Result<usize, TransportError> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Err(TransportError::Disconnected);
        }
        let n = rest.len().min(buf.len()).min(self.chunk);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }

    fn info(&self) -> &LinkInfo {
        &self.info
    }
}
