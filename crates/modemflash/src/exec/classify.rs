//! What kind of failure a protocol error is, so the remedy fits: the module went away
//! (disconnect), stopped answering (timeout), or said no (refused). Anything else is an
//! answer that does not fit the protocol.

use std::any::Any;

use super::FailureKind;
use crate::protocol::at::AtError;
use crate::protocol::diag::DiagError;
use crate::protocol::dmss::DmssError;
use crate::protocol::fastboot::FastbootError;
use crate::protocol::firehose::FirehoseError;
use crate::protocol::hdlc::LinkError;
use crate::protocol::sahara::SaharaError;
use crate::protocol::streaming::StreamingError;
use crate::transport::TransportError;

fn transport(e: &TransportError) -> FailureKind {
    match e {
        TransportError::Timeout(_) => FailureKind::Timeout,
        TransportError::Disconnected | TransportError::Io(_) => FailureKind::Disconnected,
    }
}

fn link(e: &LinkError) -> FailureKind {
    match e {
        LinkError::Transport(t) => transport(t),
        LinkError::Hdlc(_) => FailureKind::Protocol,
    }
}

/// The failure kind of a protocol client's error (any of them); `Protocol` for other types.
pub(crate) fn kind_of<E: Any>(e: &E) -> FailureKind {
    let e = e as &dyn Any;
    if let Some(e) = e.downcast_ref::<TransportError>() {
        return transport(e);
    }
    if let Some(e) = e.downcast_ref::<FirehoseError>() {
        return match e {
            FirehoseError::Transport(t) => transport(t),
            FirehoseError::Nak { .. } => FailureKind::Refused,
            FirehoseError::NoResponse { .. } => FailureKind::Timeout,
            _ => FailureKind::Protocol,
        };
    }
    if let Some(e) = e.downcast_ref::<FastbootError>() {
        return match e {
            FastbootError::Transport(t) => transport(t),
            FastbootError::Fail { .. } => FailureKind::Refused,
            FastbootError::NoReply { .. } => FailureKind::Timeout,
            _ => FailureKind::Protocol,
        };
    }
    if let Some(e) = e.downcast_ref::<StreamingError>() {
        return match e {
            StreamingError::Transport(t) => transport(t),
            StreamingError::Device { .. }
            | StreamingError::PartitionTable { .. }
            | StreamingError::OpenMulti { .. }
            | StreamingError::DownloadFlag { .. } => FailureKind::Refused,
            StreamingError::NoReply { .. } => FailureKind::Timeout,
            _ => FailureKind::Protocol,
        };
    }
    if let Some(e) = e.downcast_ref::<DmssError>() {
        return match e {
            DmssError::Link(l) => link(l),
            DmssError::Nak { .. } => FailureKind::Refused,
            DmssError::NoReply { .. } => FailureKind::Timeout,
            _ => FailureKind::Protocol,
        };
    }
    if let Some(e) = e.downcast_ref::<DiagError>() {
        return match e {
            DiagError::Link(l) => link(l),
            DiagError::Rejected { .. } => FailureKind::Refused,
            DiagError::NoReply { .. } => FailureKind::Timeout,
            _ => FailureKind::Protocol,
        };
    }
    if let Some(e) = e.downcast_ref::<SaharaError>() {
        return match e {
            SaharaError::Transport(t) => transport(t),
            SaharaError::ImageTransfer { .. } | SaharaError::ExecuteFailed { .. } => FailureKind::Refused,
            SaharaError::NoHello { .. } | SaharaError::Timeout { .. } => FailureKind::Timeout,
            _ => FailureKind::Protocol,
        };
    }
    if let Some(e) = e.downcast_ref::<AtError>() {
        return match e {
            AtError::Transport(t) => transport(t),
            AtError::Rejected { .. } => FailureKind::Refused,
            AtError::NoResponse { .. } => FailureKind::Timeout,
            _ => FailureKind::Protocol,
        };
    }
    FailureKind::Protocol
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn disconnect_timeout_and_nak_are_named() {
        assert_eq!(
            kind_of(&FirehoseError::Transport(TransportError::Disconnected)),
            FailureKind::Disconnected
        );
        let nak = FirehoseError::Nak { cmd: "<erase/>".into(), device_log: vec![] };
        assert_eq!(kind_of(&nak), FailureKind::Refused);
        let silent = FastbootError::NoReply { cmd: "flash:system".into(), timeout: Duration::from_secs(1) };
        assert_eq!(kind_of(&silent), FailureKind::Timeout);
        let fail = FastbootError::Fail { cmd: "flash:system".into(), message: "too large".into() };
        assert_eq!(kind_of(&fail), FailureKind::Refused);
        assert_eq!(kind_of(&TransportError::Timeout(Duration::from_secs(1))), FailureKind::Timeout);
        assert_eq!(kind_of(&"a string"), FailureKind::Protocol);
    }
}
