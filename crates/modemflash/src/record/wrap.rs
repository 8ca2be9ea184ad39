//! The recording wrappers: a transport and a bus that pass everything through unchanged
//! and write what passed to a [`Recorder`].

use std::sync::Arc;
use std::time::Duration;

use super::{BusErrorRec, Event, Failure, Payload, Recorder, duration_ms, link_kind, port_name};
use crate::discovery::module_id::ModuleIdentity;
use crate::discovery::{BusError, ModuleBus};
use crate::module::DeviceMode;
use crate::module::Port;
use crate::transport::{LinkInfo, Transport, TransportError};

/// A transport that records every transfer.
pub struct RecordingTransport {
    inner: Box<dyn Transport>,
    rec: Arc<Recorder>,
    ep: u64,
}

impl std::fmt::Debug for RecordingTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTransport")
            .field("ep", &self.ep)
            .field("info", self.inner.info())
            .finish_non_exhaustive()
    }
}

impl RecordingTransport {
    /// Wrap a transport opened outside a bus (`port` names it in the recording).
    pub fn open(inner: Box<dyn Transport>, rec: Arc<Recorder>, port: &str) -> Self {
        let ep = rec.next_ep();
        rec.event(open_event(port, ep, inner.info(), &ModuleIdentity::default()));
        RecordingTransport { inner, rec, ep }
    }

    fn with_ep(inner: Box<dyn Transport>, rec: Arc<Recorder>, ep: u64) -> Self {
        RecordingTransport { inner, rec, ep }
    }
}

fn open_event(port: &str, ep: u64, info: &LinkInfo, loc: &ModuleIdentity) -> Event {
    Event::Open {
        port: port.into(),
        ep: Some(ep),
        kind: Some(link_kind(&info.endpoint).into()),
        endpoint: Some(info.endpoint.clone()),
        max_packet_size: info.max_packet_size,
        zlp: info.zlp,
        port_path: loc.port_path.clone(),
        usb_serial: loc.usb_serial.clone(),
        failed: None,
    }
}

fn failure(e: &TransportError) -> (Failure, Option<String>) {
    match e {
        TransportError::Timeout(_) => (Failure::Timeout, None),
        TransportError::Disconnected => (Failure::Disconnected, None),
        TransportError::Io(io) => (Failure::Io, Some(io.to_string())),
    }
}

impl Transport for RecordingTransport {
    fn send(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let r = self.inner.send(data);
        let (failed, message) = match &r {
            Ok(()) => (None, None),
            Err(e) => {
                let (f, m) = failure(e);
                (Some(f), m)
            }
        };
        let zlp = self.inner.info().needs_zlp(data.len());
        self.rec.event(Event::Out {
            ep: self.ep,
            data: Payload::of(data, self.rec.whole_data()),
            zlp,
            failed,
            message,
        });
        r
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        let r = self.inner.recv(buf, timeout);
        let event = match &r {
            Ok(0) => Event::Zlp { ep: self.ep },
            // Reads are kept whole: a replay has to give them back.
            Ok(n) => Event::In { ep: self.ep, data: Payload::of(buf.get(..*n).unwrap_or(buf), true) },
            Err(e) => {
                let (failed, message) = failure(e);
                let ms = match e {
                    TransportError::Timeout(d) => duration_ms(*d),
                    _ => 0,
                };
                Event::ReadFailed { ep: self.ep, failed, ms, message }
            }
        };
        self.rec.event(event);
        r
    }

    fn info(&self) -> &LinkInfo {
        self.inner.info()
    }
}

impl Drop for RecordingTransport {
    fn drop(&mut self) {
        self.rec.event(Event::Close { ep: self.ep });
    }
}

/// A bus that records its answers and wraps every transport it opens.
pub struct RecordingBus<'a> {
    inner: Box<dyn ModuleBus + 'a>,
    rec: Arc<Recorder>,
}

impl std::fmt::Debug for RecordingBus<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingBus").finish_non_exhaustive()
    }
}

impl<'a> RecordingBus<'a> {
    pub fn new(inner: Box<dyn ModuleBus + 'a>, rec: Arc<Recorder>) -> Self {
        RecordingBus { inner, rec }
    }

    /// The shared recorder.
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.rec
    }
}

/// A bus error as recorded.
pub(crate) fn bus_error_rec(e: &BusError) -> BusErrorRec {
    match e {
        BusError::Timeout { wanted, waited, seen } => BusErrorRec::Timeout {
            wanted: wanted.clone(),
            waited_ms: duration_ms(*waited),
            seen: seen.clone(),
        },
        BusError::Open { port, endpoint, why } => {
            BusErrorRec::Open { port: (*port).into(), endpoint: endpoint.clone(), why: why.clone() }
        }
        other => BusErrorRec::Other { text: other.to_string() },
    }
}

impl ModuleBus for RecordingBus<'_> {
    fn detect(&mut self) -> Result<Option<DeviceMode>, BusError> {
        let r = self.inner.detect();
        let (mode, failed) = match &r {
            Ok(m) => (*m, None),
            Err(e) => (None, Some(bus_error_rec(e))),
        };
        self.rec.event(Event::Detect { mode, failed });
        r
    }

    fn wait_for(&mut self, modes: &[DeviceMode], timeout: Duration) -> Result<DeviceMode, BusError> {
        let r = self.inner.wait_for(modes, timeout);
        let (mode, failed) = match &r {
            Ok(m) => (Some(*m), None),
            Err(e) => (None, Some(bus_error_rec(e))),
        };
        self.rec.event(Event::WaitFor {
            modes: modes.to_vec(),
            timeout_ms: duration_ms(timeout),
            mode,
            failed,
        });
        r
    }

    fn open(&mut self, port: Port) -> Result<Box<dyn Transport>, BusError> {
        // The endpoint name first: a failed open reports it.
        self.rec.endpoint_seen(port_name(port), &self.inner.endpoint(port));
        match self.inner.open(port) {
            Ok(t) => {
                let ep = self.rec.next_ep();
                let loc = self.inner.location();
                self.rec.event(open_event(port_name(port), ep, t.info(), &loc));
                Ok(Box::new(RecordingTransport::with_ep(t, Arc::clone(&self.rec), ep)))
            }
            Err(e) => {
                self.rec.event(Event::failed_open(port_name(port), bus_error_rec(&e)));
                Err(e)
            }
        }
    }

    fn endpoint(&self, port: Port) -> String {
        let v = self.inner.endpoint(port);
        self.rec.endpoint_seen(port_name(port), &v);
        v
    }

    fn location(&self) -> ModuleIdentity {
        let id = self.inner.location();
        self.rec.location_seen(&id);
        id
    }
}
