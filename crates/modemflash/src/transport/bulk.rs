//! A pair of USB bulk pipes as a [`Transport`], independent of the USB library: the
//! nusb adapter (`discovery::usb`) plugs real endpoints in, tests plug in fakes.
//!
//! - `send` splits a message into transfers of [`OUT_CHUNK`] bytes (a whole number of max
//!   packets, so the split is invisible on the bus), keeps up to [`OUT_IN_FLIGHT`] of them
//!   queued, and ends with a zero-length packet when the message is a non-zero multiple of
//!   the max packet size (`docs/facts/usb.md` ZLP via usbfs, `docs/facts/quectel.md`) [confirmed].
//!   Several 1 MiB transfers in flight is what keeps Firehose fast (`docs/benchmarks.md` takeaway 2).
//! - `recv` keeps [`IN_IN_FLIGHT`] reads of [`IN_TRANSFER`] bytes queued; a read that
//!   completes empty is a ZLP and is reported as `Ok(0)`; bytes beyond the caller's buffer
//!   are kept for the next call. A read timeout leaves the reads queued, so no data is lost.

use std::time::Duration;

use super::{LinkInfo, Transport, TransportError};

/// Bytes per OUT transfer; rounded down to a multiple of the max packet size.
pub const OUT_CHUNK: usize = 1024 * 1024;
/// OUT transfers queued at once.
pub const OUT_IN_FLIGHT: usize = 4;
/// Bytes requested per IN transfer (a multiple of every bulk max packet size: 64, 512, 1024).
pub const IN_TRANSFER: usize = 16 * 1024;
/// IN transfers queued at once.
pub const IN_IN_FLIGHT: usize = 2;
/// Time allowed for one OUT transfer: 3 s, QFirehose's bulk write timeout
/// (`docs/facts/quectel.md`) [confirmed].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait for cancelled transfers to come back.
pub const CANCEL_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// How a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipeError {
    /// Cancelled (after a timeout).
    Cancelled,
    /// The endpoint stalled.
    Stall,
    /// The device is gone.
    Disconnected,
    /// Anything else, as the USB library words it.
    Other(String),
}

/// A bulk OUT endpoint.
pub trait OutPipe: Send {
    fn max_packet_size(&self) -> usize;
    /// Queue a transfer of `data` (empty = a zero-length packet).
    fn submit(&mut self, data: Vec<u8>);
    /// Transfers queued and not yet returned by `wait`.
    fn pending(&self) -> usize;
    /// The oldest queued transfer's outcome, or `None` after `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<Result<(), PipeError>>;
    fn cancel_all(&mut self);
}

/// A bulk IN endpoint.
pub trait InPipe: Send {
    fn max_packet_size(&self) -> usize;
    /// Queue a read of up to `len` bytes (a multiple of the max packet size).
    fn submit(&mut self, len: usize);
    fn pending(&self) -> usize;
    /// The oldest queued read: the bytes that came, and how it ended. `None` after `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<(Vec<u8>, Result<(), PipeError>)>;
    fn cancel_all(&mut self);
}

fn to_transport_error(e: PipeError, timeout: Duration) -> TransportError {
    match e {
        PipeError::Cancelled => TransportError::Timeout(timeout),
        PipeError::Disconnected => TransportError::Disconnected,
        PipeError::Stall => TransportError::Io(std::io::Error::other("the USB endpoint stalled")),
        PipeError::Other(s) => TransportError::Io(std::io::Error::other(s)),
    }
}

/// Bulk OUT + IN of one interface.
#[derive(Debug)]
pub struct BulkTransport<O, I> {
    out: O,
    inp: I,
    info: LinkInfo,
    chunk: usize,
    in_len: usize,
    /// Bytes of a completed read not yet handed out, and where they start.
    leftover: Vec<u8>,
    leftover_pos: usize,
}

/// Round `n` down to a multiple of `mps` (at least one packet).
fn round_to_packets(n: usize, mps: usize) -> usize {
    n.checked_div(mps).map_or(n.max(1), |packets| packets.max(1) * mps)
}

impl<O: OutPipe, I: InPipe> BulkTransport<O, I> {
    /// Wrap two pipes; `endpoint` names the link in messages (`usb:1-1.2 if0`).
    pub fn new(out: O, inp: I, endpoint: impl Into<String>) -> Self {
        let mps = out.max_packet_size();
        let info = LinkInfo { endpoint: endpoint.into(), max_packet_size: Some(mps), zlp: true };
        let chunk = round_to_packets(OUT_CHUNK, mps);
        let in_len = round_to_packets(IN_TRANSFER, inp.max_packet_size());
        BulkTransport { out, inp, info, chunk, in_len, leftover: Vec::new(), leftover_pos: 0 }
    }

    /// Whether to follow writes that fill whole packets with a ZLP (default on).
    pub fn set_zlp(&mut self, on: bool) {
        self.info.zlp = on;
    }

    fn wait_out(&mut self) -> Result<(), TransportError> {
        match self.out.wait(SEND_TIMEOUT) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(to_transport_error(e, SEND_TIMEOUT)),
            None => Err(TransportError::Timeout(SEND_TIMEOUT)),
        }
    }

    /// Cancel what is queued and collect it, so the pipe is clean for the next message.
    fn abort_out(&mut self) {
        self.out.cancel_all();
        while self.out.pending() > 0 {
            if self.out.wait(CANCEL_DRAIN_TIMEOUT).is_none() {
                break;
            }
        }
    }

    fn queue_out(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        while self.out.pending() >= OUT_IN_FLIGHT {
            self.wait_out()?;
        }
        self.out.submit(data);
        Ok(())
    }

    fn send_inner(&mut self, data: &[u8]) -> Result<(), TransportError> {
        for piece in data.chunks(self.chunk) {
            self.queue_out(piece.to_vec())?;
        }
        if self.info.needs_zlp(data.len()) {
            self.queue_out(Vec::new())?;
        }
        while self.out.pending() > 0 {
            self.wait_out()?;
        }
        Ok(())
    }

    fn take_leftover(&mut self, buf: &mut [u8]) -> usize {
        let rest = self.leftover.get(self.leftover_pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.leftover_pos += n;
        if self.leftover_pos >= self.leftover.len() {
            self.leftover.clear();
            self.leftover_pos = 0;
        }
        n
    }
}

impl<O: OutPipe, I: InPipe> Transport for BulkTransport<O, I> {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        if data.is_empty() {
            return Ok(());
        }
        let r = self.send_inner(data);
        if r.is_err() {
            self.abort_out();
        }
        r
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.leftover.is_empty() {
            return Ok(self.take_leftover(buf));
        }
        while self.inp.pending() < IN_IN_FLIGHT {
            self.inp.submit(self.in_len);
        }
        let (data, status) = self.inp.wait(timeout).ok_or(TransportError::Timeout(timeout))?;
        if !data.is_empty() {
            // Bytes that came before an error are still delivered; the error shows next time.
            self.leftover = data;
            self.leftover_pos = 0;
            return Ok(self.take_leftover(buf));
        }
        match status {
            Ok(()) => Ok(0),
            Err(e) => Err(to_transport_error(e, timeout)),
        }
    }

    fn info(&self) -> &LinkInfo {
        &self.info
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! In-memory pipes that record what the host did.
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Default)]
    pub struct Log {
        /// OUT transfers as submitted.
        pub out: Vec<Vec<u8>>,
        /// Largest number of OUT transfers queued at once.
        pub max_out_pending: usize,
        /// Reads submitted, with their lengths.
        pub in_submits: Vec<usize>,
        pub cancels: usize,
    }

    #[derive(Debug)]
    pub struct FakeOut {
        pub mps: usize,
        pub log: Arc<Mutex<Log>>,
        queued: VecDeque<()>,
        /// Outcome of the nth OUT transfer (index into `log.out`); default Ok.
        pub fail_at: Option<(usize, Option<PipeError>)>,
    }

    impl FakeOut {
        pub fn new(mps: usize, log: Arc<Mutex<Log>>) -> Self {
            FakeOut { mps, log, queued: VecDeque::new(), fail_at: None }
        }
    }

    impl OutPipe for FakeOut {
        fn max_packet_size(&self) -> usize {
            self.mps
        }
        fn submit(&mut self, data: Vec<u8>) {
            let mut l = self.log.lock().unwrap();
            l.out.push(data);
            self.queued.push_back(());
            l.max_out_pending = l.max_out_pending.max(self.queued.len());
        }
        fn pending(&self) -> usize {
            self.queued.len()
        }
        fn wait(&mut self, _t: Duration) -> Option<Result<(), PipeError>> {
            let done = self.log.lock().unwrap().out.len() - self.queued.len();
            if let Some((n, outcome)) = &self.fail_at
                && *n == done
            {
                return match outcome {
                    None => None,
                    Some(e) => {
                        self.queued.pop_front();
                        Some(Err(e.clone()))
                    }
                };
            }
            self.queued.pop_front().map(|()| Ok(()))
        }
        fn cancel_all(&mut self) {
            self.log.lock().unwrap().cancels += 1;
            self.fail_at = None;
        }
    }

    /// Reads complete from a script of (bytes, status); an empty script times out.
    #[derive(Debug)]
    pub struct FakeIn {
        pub mps: usize,
        pub log: Arc<Mutex<Log>>,
        pub script: VecDeque<(Vec<u8>, Result<(), PipeError>)>,
        queued: usize,
    }

    impl FakeIn {
        pub fn new(mps: usize, log: Arc<Mutex<Log>>, script: Vec<(Vec<u8>, Result<(), PipeError>)>) -> Self {
            FakeIn { mps, log, script: script.into(), queued: 0 }
        }
    }

    impl InPipe for FakeIn {
        fn max_packet_size(&self) -> usize {
            self.mps
        }
        fn submit(&mut self, len: usize) {
            self.log.lock().unwrap().in_submits.push(len);
            self.queued += 1;
        }
        fn pending(&self) -> usize {
            self.queued
        }
        fn wait(&mut self, _t: Duration) -> Option<(Vec<u8>, Result<(), PipeError>)> {
            let c = self.script.pop_front()?;
            self.queued -= 1;
            Some(c)
        }
        fn cancel_all(&mut self) {}
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;
    use std::sync::{Arc, Mutex};

    fn transport(
        mps: usize,
        script: Vec<(Vec<u8>, Result<(), PipeError>)>,
    ) -> (BulkTransport<FakeOut, FakeIn>, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let t = BulkTransport::new(
            FakeOut::new(mps, log.clone()),
            FakeIn::new(mps, log.clone(), script),
            "usb:1-1 if0",
        );
        (t, log)
    }

    #[test]
    fn zlp_follows_whole_packets_only() {
        let (mut t, log) = transport(512, vec![]);
        assert_eq!(t.info().max_packet_size, Some(512));
        t.send(&[1; 512]).unwrap();
        t.send(&[2; 1024]).unwrap();
        t.send(&[3; 100]).unwrap();
        t.send(&[4; 513]).unwrap();
        t.send(&[]).unwrap();
        let lens: Vec<usize> = log.lock().unwrap().out.iter().map(Vec::len).collect();
        assert_eq!(lens, [512, 0, 1024, 0, 100, 513]);
        t.set_zlp(false);
        t.send(&[5; 512]).unwrap();
        assert_eq!(log.lock().unwrap().out.last().unwrap().len(), 512);
    }

    #[test]
    fn big_writes_go_out_as_1mib_transfers_several_in_flight() {
        let (mut t, log) = transport(512, vec![]);
        let data: Vec<u8> = (0..5 * OUT_CHUNK + 512).map(|i| (i % 251) as u8).collect();
        t.send(&data).unwrap();
        let l = log.lock().unwrap();
        let lens: Vec<usize> = l.out.iter().map(Vec::len).collect();
        assert_eq!(lens, [OUT_CHUNK, OUT_CHUNK, OUT_CHUNK, OUT_CHUNK, OUT_CHUNK, 512, 0]);
        assert_eq!(l.max_out_pending, OUT_IN_FLIGHT);
        assert_eq!(l.out.concat(), data, "bytes in order, nothing lost");
    }

    #[test]
    fn out_timeout_cancels_and_reports() {
        let (mut t, log) = transport(512, vec![]);
        t.out.fail_at = Some((1, None));
        let r = t.send(&vec![0; 3 * OUT_CHUNK]);
        assert!(matches!(r, Err(TransportError::Timeout(d)) if d == SEND_TIMEOUT), "{r:?}");
        assert_eq!(log.lock().unwrap().cancels, 1);
        assert_eq!(t.out.pending(), 0, "cancelled transfers were collected");
    }

    #[test]
    fn out_disconnect_and_stall() {
        let (mut t, _) = transport(512, vec![]);
        t.out.fail_at = Some((0, Some(PipeError::Disconnected)));
        assert!(matches!(t.send(b"x"), Err(TransportError::Disconnected)));
        t.out.fail_at = Some((1, Some(PipeError::Stall)));
        let e = t.send(b"y").unwrap_err();
        assert!(e.to_string().contains("stalled"), "{e}");
    }

    #[test]
    fn reads_split_keep_leftovers_and_report_zlp() {
        let script = vec![
            (b"hello world".to_vec(), Ok(())),
            (Vec::new(), Ok(())),
            (b"tail".to_vec(), Err(PipeError::Disconnected)),
            (Vec::new(), Err(PipeError::Disconnected)),
        ];
        let (mut t, log) = transport(512, script);
        let mut b = [0u8; 5];
        let d = Duration::from_millis(10);
        assert_eq!(t.recv(&mut b, d).unwrap(), 5);
        assert_eq!(&b, b"hello");
        assert_eq!(t.recv(&mut b, d).unwrap(), 5);
        assert_eq!(&b, b" worl");
        assert_eq!(t.recv(&mut b, d).unwrap(), 1);
        assert_eq!(&b[..1], b"d");
        assert_eq!(t.recv(&mut b, d).unwrap(), 0, "ZLP");
        assert_eq!(t.recv(&mut b, d).unwrap(), 4, "data before the error is delivered");
        assert!(matches!(t.recv(&mut b, d), Err(TransportError::Disconnected)));
        assert!(matches!(t.recv(&mut b, d), Err(TransportError::Timeout(x)) if x == d));
        let l = log.lock().unwrap();
        assert!(l.in_submits.iter().all(|&n| n == IN_TRANSFER), "{:?}", l.in_submits);
        assert!(l.in_submits.len() >= IN_IN_FLIGHT);
    }

    #[test]
    fn odd_packet_sizes_round_transfer_lengths() {
        let log = Arc::new(Mutex::new(Log::default()));
        let t = BulkTransport::new(FakeOut::new(1000, log.clone()), FakeIn::new(1000, log, vec![]), "x");
        assert_eq!(t.chunk, 1_048_000);
        assert_eq!(t.in_len, 16_000);
        assert_eq!(round_to_packets(10, 64), 64);
    }
}
