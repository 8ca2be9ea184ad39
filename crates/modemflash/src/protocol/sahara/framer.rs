//! Reassembling Sahara packets from reads of any size (`docs/facts/sahara.md`: "over a tty,
//! transfer boundaries are lost"): framing by the length field, bounded by
//! [`MAX_PACKET_LEN`](super::codec::MAX_PACKET_LEN). Pure.

use super::codec::{Packet, check_frame_length, header};
use super::error::SaharaError;

/// Take the first packet off the front of `buf`.
///
/// Returns `None` while the packet is incomplete. Otherwise returns the packet (or its
/// error) and how many bytes to drop: the packet's length, or all of `buf` when the
/// header itself is impossible (no way to find the next packet then).
pub fn decode(buf: &[u8]) -> Option<(Result<Packet, SaharaError>, usize)> {
    let (id, length) = header(buf)?;
    if let Err(e) = check_frame_length(id, length) {
        return Some((Err(e), buf.len()));
    }
    let packet = buf.get(..length as usize)?;
    Some((Packet::parse(packet), packet.len()))
}

/// Reassembles packets from reads of any size, and hands out raw data (EXECUTE_DATA
/// answers, MEMORY_READ) by length.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// A framer already holding `bytes`.
    pub fn with_bytes(bytes: Vec<u8>) -> Self {
        Self { buf: bytes }
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete packet, if any.
    pub fn next_packet(&mut self) -> Option<Result<Packet, SaharaError>> {
        let (result, used) = decode(&self.buf)?;
        self.buf.drain(..used.min(self.buf.len()));
        Some(result)
    }

    /// Take exactly `n` raw bytes if that many are buffered.
    pub fn take_raw(&mut self, n: usize) -> Option<Vec<u8>> {
        if self.buf.len() < n {
            return None;
        }
        Some(self.buf.drain(..n).collect())
    }

    /// Take everything buffered.
    pub fn take_all(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::sahara::codes::cmd;

    use crate::protocol::sahara::codec::tests::mdm9607_hello;

    #[test]
    fn framer_splits_and_joins() {
        let mut stream = Packet::Hello(mdm9607_hello()).encode();
        stream.extend(Packet::ReadData { image_id: 13, offset: 0, length: 52 }.encode());
        stream.extend(Packet::DoneResp { status: 1 }.encode());
        stream.extend_from_slice(&[0xAA, 0xBB]);
        for split in [1, 3, 7, 8, 20, stream.len()] {
            let mut f = Framer::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(split) {
                f.push(chunk);
                while let Some(p) = f.next_packet() {
                    got.push(p.unwrap().cmd());
                }
            }
            assert_eq!(got, [cmd::HELLO, cmd::READ_DATA, cmd::DONE_RESP], "split {split}");
            assert_eq!(f.take_raw(3), None);
            assert_eq!(f.take_raw(2), Some(vec![0xAA, 0xBB]));
            assert_eq!(f.buffered(), 0);
        }
    }

    proptest::proptest! {
        #[test]
        fn framer_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), split in 1usize..40) {
            let _ = decode(&bytes);
            let mut f = Framer::default();
            for chunk in bytes.chunks(split) {
                f.push(chunk);
                while f.next_packet().is_some() {}
            }
        }
    }
}
