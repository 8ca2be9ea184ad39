//! One bulk interface of an imported device: the URBs the host queued on it, and the pump
//! thread that moves them between the USB/IP connection and the module's endpoint.
//!
//! Bulk IN URBs are held until the module has data, as a real device NAKs an IN token until
//! it has something to send; a zero-length message from the module completes one URB with
//! no data (a real ZLP). A reply is written while the pipe's lock is held, and an unlink
//! takes the same lock, so a `RET_SUBMIT` never follows the `RET_UNLINK` of the same URB:
//! Linux's vhci-hcd takes such a late `RET_SUBMIT` as a broken connection and detaches the
//! device.

use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use modemflash::transport::{Transport, TransportError};

use super::proto::{self, ECONNRESET, ESHUTDOWN};

/// Longest wait on the module before looking at queued OUT URBs again.
const MAX_IN_WAIT: Duration = Duration::from_millis(8);
const MIN_IN_WAIT: Duration = Duration::from_millis(1);
/// Wait for new URBs while none is queued (the stop flag is seen at least this often).
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// The writing half of the connection, shared by every pipe and the control endpoint.
pub(super) type Writer = Arc<Mutex<TcpStream>>;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn write(w: &Writer, bytes: &[u8]) {
    // A failed write means the host is gone; the reader sees that and ends the connection.
    let _ = lock(w).write_all(bytes);
}

#[derive(Debug, Default)]
struct State {
    /// Queued IN URBs: seqnum, length.
    ins: VecDeque<(u32, u32)>,
    /// Queued OUT URBs: seqnum, data.
    outs: VecDeque<(u32, Vec<u8>)>,
    /// The OUT URB being handed to the module.
    out_inflight: Option<u32>,
    /// Unlinks of the in-flight OUT URB, answered after its `RET_SUBMIT`.
    deferred: Vec<u32>,
    stop: bool,
}

/// The URB queues of one interface.
#[derive(Debug, Default)]
pub(super) struct Pipe {
    st: Mutex<State>,
    cv: Condvar,
}

impl Pipe {
    pub(super) fn submit_in(&self, seqnum: u32, len: u32) {
        lock(&self.st).ins.push_back((seqnum, len));
        self.cv.notify_all();
    }

    pub(super) fn submit_out(&self, seqnum: u32, data: Vec<u8>) {
        lock(&self.st).outs.push_back((seqnum, data));
        self.cv.notify_all();
    }

    /// Cancel URB `target` when it is still queued here (`RET_UNLINK` -ECONNRESET, and no
    /// `RET_SUBMIT` ever). Returns false when this pipe does not hold it.
    pub(super) fn unlink(&self, w: &Writer, seqnum: u32, target: u32) -> bool {
        let mut st = lock(&self.st);
        if let Some(i) = st.ins.iter().position(|&(s, _)| s == target) {
            st.ins.remove(i);
            write(w, &proto::encode_ret_unlink(seqnum, -ECONNRESET));
            return true;
        }
        if let Some(i) = st.outs.iter().position(|(s, _)| *s == target) {
            st.outs.remove(i);
            write(w, &proto::encode_ret_unlink(seqnum, -ECONNRESET));
            return true;
        }
        if st.out_inflight == Some(target) {
            st.deferred.push(seqnum);
            return true;
        }
        false
    }

    pub(super) fn stop(&self) {
        lock(&self.st).stop = true;
        self.cv.notify_all();
    }

    /// Move URBs between the connection and the module until stopped.
    pub(super) fn pump(&self, transport: &mut dyn Transport, w: &Writer) {
        let mut chunks: VecDeque<Vec<u8>> = VecDeque::new();
        let mut wait = MIN_IN_WAIT;
        loop {
            let (out, head) = {
                let mut st = lock(&self.st);
                if st.stop {
                    return;
                }
                if st.outs.is_empty() && st.ins.is_empty() {
                    let (g, _) = self
                        .cv
                        .wait_timeout(st, IDLE_WAIT)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    st = g;
                    if st.stop {
                        return;
                    }
                }
                let out = st.outs.pop_front();
                if let Some((s, _)) = &out {
                    st.out_inflight = Some(*s);
                }
                (out, st.ins.front().map(|&(_, len)| len))
            };
            if let Some((seqnum, data)) = out {
                let sent = transport.send(&data);
                let mut st = lock(&self.st);
                st.out_inflight = None;
                let (status, actual) = match sent {
                    Ok(()) => (0, data.len() as u32),
                    Err(_) => (-ESHUTDOWN, 0),
                };
                write(w, &proto::encode_ret_submit(seqnum, status, actual, &[]));
                for u in st.deferred.drain(..) {
                    // Already completed: the unlink found nothing to cancel.
                    write(w, &proto::encode_ret_unlink(u, 0));
                }
                wait = MIN_IN_WAIT;
                continue;
            }
            let Some(len) = head else { continue };
            if chunks.is_empty() {
                let mut buf = vec![0u8; (len as usize).clamp(1, proto::MAX_TRANSFER as usize)];
                match transport.recv(&mut buf, wait) {
                    Ok(n) => {
                        buf.truncate(n);
                        chunks.push_back(buf);
                        wait = MIN_IN_WAIT;
                    }
                    Err(TransportError::Timeout(_)) => {
                        wait = (wait * 2).min(MAX_IN_WAIT);
                        continue;
                    }
                    Err(_) => {
                        // The module left the bus: the connection is about to close.
                        std::thread::sleep(IDLE_WAIT);
                        continue;
                    }
                }
            }
            let mut st = lock(&self.st);
            let Some((seqnum, len)) = st.ins.pop_front() else { continue };
            let Some(front) = chunks.front_mut() else { continue };
            let data = if front.len() <= len as usize {
                chunks.pop_front().unwrap_or_default()
            } else {
                let rest = front.split_off(len as usize);
                std::mem::replace(front, rest)
            };
            write(w, &proto::encode_ret_submit(seqnum, 0, data.len() as u32, &data));
        }
    }
}
