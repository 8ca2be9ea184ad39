//! Every host client measures its timeouts on the clock it is given: against a silent
//! device on a virtual clock, a long timeout passes on that clock (and costs no real
//! time), and the error is the client's own timeout.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::testutil::hold_until_hangup;
use crate::time::{SharedClock, VirtualClock};
use crate::transport::memory::{MemoryTransport, stream_pair};

const LONG: Duration = Duration::from_secs(60);

/// A host end on a virtual clock, and a device that never answers.
fn silent(name: &str) -> (MemoryTransport, SharedClock, thread::JoinHandle<()>) {
    let clock: SharedClock = Arc::new(VirtualClock::default());
    let (host, mut dev) = stream_pair(name);
    let device = thread::spawn(move || hold_until_hangup(&mut dev));
    (host.with_clock(clock.clone()), clock, device)
}

#[test]
fn diag_times_out_on_its_clock() {
    use crate::protocol::diag::DiagError;
    use crate::protocol::diag::client::DiagClient;
    use crate::protocol::hdlc::HdlcLink;
    let (host, clock, device) = silent("dm");
    let mut c = DiagClient::from_link(HdlcLink::new(host).with_clock(clock.clone()));
    c.set_reply_timeout(LONG);
    let e = c.request(&[0x00], "VERNO").unwrap_err();
    assert!(matches!(e, DiagError::NoReply { timeout, .. } if timeout == LONG), "{e}");
    assert!(clock.now() >= LONG, "the timeout passed on the virtual clock: {:?}", clock.now());
    drop(c);
    device.join().unwrap();
}

#[test]
fn dmss_retries_time_out_on_its_clock() {
    use crate::protocol::dmss::DmssError;
    use crate::protocol::dmss::client::DmssClient;
    use crate::protocol::hdlc::HdlcLink;
    let (host, clock, device) = silent("dm");
    let mut c = DmssClient::from_link(HdlcLink::new(host).with_clock(clock.clone()));
    c.set_reply_timeout(LONG, 3);
    let e = c.nop().unwrap_err();
    assert!(matches!(e, DmssError::NoReply { attempts: 3, .. }), "{e:?}");
    assert!(clock.now() >= LONG * 3, "three attempts of 60 s each: {:?}", clock.now());
    drop(c);
    device.join().unwrap();
}

#[test]
fn at_times_out_on_its_clock() {
    use crate::protocol::at::AtError;
    use crate::protocol::at::client::AtClient;
    let (host, clock, device) = silent("at");
    let mut c = AtClient::new(host).with_clock(clock.clone());
    let e = c.command("AT+CGMR", LONG).unwrap_err();
    assert!(matches!(e, AtError::NoResponse { .. }), "{e}");
    assert!(clock.now() >= LONG, "{:?}", clock.now());
    drop(c);
    device.join().unwrap();
}

#[test]
fn streaming_times_out_on_its_clock() {
    use crate::protocol::hdlc::HdlcLink;
    use crate::protocol::streaming::StreamingError;
    use crate::protocol::streaming::client::{StreamingClient, StreamingTimeouts};
    let (host, clock, device) = silent("dm");
    let timeouts = StreamingTimeouts { reply: LONG, ..StreamingTimeouts::default() };
    let mut c =
        StreamingClient::from_link(HdlcLink::new(host).with_clock(clock.clone())).with_timeouts(timeouts);
    let e = c.nop(b"ping").unwrap_err();
    assert!(matches!(e, StreamingError::NoReply { timeout, .. } if timeout == LONG), "{e}");
    assert!(clock.now() >= LONG, "{:?}", clock.now());
    drop(c);
    device.join().unwrap();
}

#[test]
fn firehose_times_out_on_its_clock() {
    use crate::protocol::firehose::{FirehoseClient, FirehoseError, FirehoseTimeouts};
    let (host, clock, device) = silent("edl");
    let timeouts = FirehoseTimeouts { nop: LONG, log_keepalive_max: LONG, ..FirehoseTimeouts::default() };
    let mut c = FirehoseClient::new(host).with_timeouts(timeouts).with_clock(clock.clone());
    let e = c.nop().unwrap_err();
    assert!(matches!(e, FirehoseError::NoResponse { timeout, .. } if timeout == LONG), "{e}");
    assert!(clock.now() >= LONG, "{:?}", clock.now());
    drop(c);
    device.join().unwrap();
}
