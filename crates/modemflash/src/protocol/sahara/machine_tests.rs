//! Step tests and properties of [`UploadMachine`].

use proptest::prelude::*;

use super::codec::{HELLO_LEN, HELLO_V1_LEN, Hello, HelloResp, Packet};
use super::codes::{cmd, status};
use super::error::SaharaError;
use super::machine::{
    Action, DoneStatus, MAX_HELLOS, PendingPolicy, ReadRequest, UploadConfig, UploadMachine,
};

fn hello(version: u32, mode: u32) -> Packet {
    Packet::Hello(Hello {
        version,
        version_supported: 1,
        max_cmd_len: 0x400,
        mode,
        reserved: [0; 6],
        len: HELLO_LEN,
    })
}

fn read(offset: u32, length: u32) -> Vec<u8> {
    Packet::ReadData { image_id: 13, offset, length }.encode()
}

fn sent(a: &Action) -> Packet {
    match a {
        Action::Send(b) => Packet::parse(b).unwrap(),
        other => panic!("expected a send, got {other:?}"),
    }
}

fn machine(size: u64) -> UploadMachine {
    UploadMachine::new(UploadConfig::default(), size, Some(13))
}

/// Drive through HELLO so the machine is in the transfer state.
fn started(size: u64) -> UploadMachine {
    let mut m = machine(size);
    assert_eq!(m.feed(&hello(2, 0).encode()).len(), 1);
    m
}

fn assert_reset_then<F: Fn(&SaharaError) -> bool>(actions: &[Action], check: F) {
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(sent(&actions[0]), Packet::Reset);
    match &actions[1] {
        Action::Failed(e) => assert!(check(e), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn happy_path_step_by_step() {
    let mut m = machine(0x2000);
    assert!(m.waiting_for_hello());
    let a = m.feed(&hello(2, 0).encode());
    assert_eq!(
        sent(&a[0]),
        Packet::HelloResp(HelloResp {
            version: 2,
            version_supported: 1,
            status: 0,
            mode: 0,
            reserved: [1, 2, 3, 4, 5, 6],
            len: HELLO_LEN
        })
    );
    assert_eq!(m.target_hello().map(|h| h.version), Some(2));
    let a = m.feed(&read(0, 0x34));
    assert!(matches!(a[..], [Action::Serve(ReadRequest { image_id: 13, offset: 0, length: 0x34 })]));
    let a = m.feed(&Packet::ReadData64 { image_id: 13, offset: 0x1000, length: 0x1000 }.encode());
    assert!(matches!(a[..], [Action::Serve(ReadRequest { offset: 0x1000, length: 0x1000, .. })]));
    let a = m.feed(&Packet::EndImageTx { image_id: 13, status: 0 }.encode());
    assert_eq!(sent(&a[0]), Packet::Done);
    assert_eq!(m.waiting_for(), "DONE_RESP");
    let a = m.feed(&Packet::DoneResp { status: 1 }.encode());
    assert!(matches!(a[..], [Action::Done(DoneStatus::Complete)]));
    assert!(m.is_finished());
    assert_eq!((m.image_id(), m.reads()), (Some(13), 2));
    assert!(m.feed(&read(0, 4)).is_empty(), "input after the end is ignored");
}

#[test]
fn packets_split_and_coalesced() {
    let mut stream = hello(2, 0).encode();
    stream.extend(read(0, 0x34));
    stream.extend(read(0x34, 0x60));
    stream.extend(Packet::EndImageTx { image_id: 13, status: 0 }.encode());
    stream.extend(Packet::DoneResp { status: 1 }.encode());
    for split in [1, 2, 5, 13, 64, stream.len()] {
        let mut m = machine(0x1000);
        let actions: Vec<Action> = stream.chunks(split).flat_map(|c| m.feed(c)).collect();
        let kinds: Vec<&str> = actions
            .iter()
            .map(|a| match a {
                Action::Send(_) => "send",
                Action::Serve(_) => "serve",
                Action::Done(_) => "done",
                Action::Failed(_) => "failed",
            })
            .collect();
        assert_eq!(kinds, ["send", "serve", "serve", "send", "done"], "split {split}");
    }
}

#[test]
fn hello_resp_configuration() {
    let cfg = UploadConfig {
        echo_target_version: true,
        echo_target_mode: true,
        reserved: [0; 6],
        ..UploadConfig::default()
    };
    let mut m = UploadMachine::new(cfg, 10, None);
    let a = m.feed(&hello(3, 2).encode());
    let Packet::HelloResp(r) = sent(&a[0]) else { panic!() };
    assert_eq!((r.version, r.version_supported, r.mode, r.reserved), (3, 1, 2, [0; 6]));

    // A v1 target's short HELLO gets a short HELLO_RESP.
    let mut m = machine(10);
    let v1 = Packet::Hello(Hello { version: 1, len: HELLO_V1_LEN, ..Hello { ..hello_fields() } });
    let a = m.feed(&v1.encode());
    let Action::Send(bytes) = &a[0] else { panic!() };
    assert_eq!(bytes.len(), 0x14);
    assert_eq!(bytes[..12], [2, 0, 0, 0, 0x14, 0, 0, 0, 2, 0, 0, 0]);
}

fn hello_fields() -> Hello {
    let Packet::Hello(h) = hello(2, 0) else { unreachable!() };
    h
}

#[test]
fn repeated_hello_restarts_the_transfer_up_to_the_limit() {
    let mut m = machine(100);
    assert_eq!(m.feed(&hello(2, 0).encode()).len(), 1);
    // Repeated before the first read: the one HELLO_RESP sent stands.
    assert!(m.feed(&hello(2, 0).encode()).is_empty());
    m.feed(&read(0, 4));
    assert_eq!(m.reads(), 1);
    // A target that starts over after a read (it saw its own HELLO echoed) is answered.
    let a = m.feed(&hello(2, 0).encode());
    assert!(matches!(sent(&a[0]), Packet::HelloResp(_)));
    assert_eq!(m.reads(), 0, "the restarted transfer counts its reads afresh");
    // The repeat before the first read did not count: 2 answered so far.
    for _ in 2..MAX_HELLOS {
        m.feed(&read(0, 4));
        assert!(matches!(sent(&m.feed(&hello(2, 0).encode())[0]), Packet::HelloResp(_)));
    }
    // One more start-over after a read is one too many.
    m.feed(&read(0, 4));
    assert_reset_then(&m.feed(&hello(2, 0).encode()), |e| {
        matches!(e, SaharaError::Unexpected { got: "HELLO", cmd: cmd::HELLO, .. })
    });
}

/// A burst of HELLOs before the first read (one per echoed fragment of the target's HELLO,
/// 13 seen over qcserial) is ignored however long, up to its own bound: the transfer goes on.
#[test]
fn a_burst_of_hellos_before_the_first_read_is_ignored() {
    use crate::protocol::sahara::machine::MAX_REPEATED_HELLOS;
    let mut m = machine(100);
    assert_eq!(m.feed(&hello(2, 0).encode()).len(), 1);
    for _ in 0..MAX_REPEATED_HELLOS {
        assert!(m.feed(&hello(2, 0).encode()).is_empty());
    }
    let a = m.feed(&read(0, 4));
    assert!(matches!(&a[..], [Action::Serve(_)]), "{a:?}");
    assert_eq!(m.reads(), 1);
}

#[test]
fn end_image_tx_failure_is_named() {
    let mut m = started(100);
    let a = m.feed(&Packet::EndImageTx { image_id: 13, status: status::IMAGE_AUTH_FAILURE }.encode());
    assert!(matches!(
        &a[..],
        [Action::Failed(SaharaError::ImageTransfer {
            image_id: 13,
            status: 0x25,
            name: "image authentication failure"
        })]
    ));
    assert!(m.is_finished());
}

#[test]
fn cmd_ready_after_switch_mode_is_tolerated_until_the_hello() {
    // A target left in command mode answers SWITCH_MODE with CMD_READY; a real 9x07 sends
    // a fresh HELLO (bkerler/edl #714). Either way the upload goes on at the HELLO.
    let mut m = machine(100);
    assert!(m.feed(&Packet::CmdReady.encode()).is_empty());
    assert!(m.waiting_for_hello());
    let a = m.feed(&hello(2, 3).encode());
    assert!(matches!(sent(&a[0]), Packet::HelloResp(r) if r.mode == 0), "image transfer is asked for");
}

#[test]
fn unexpected_packets_get_a_reset() {
    let mut m = machine(100);
    assert_reset_then(&m.feed(&Packet::DoneResp { status: 1 }.encode()), |e| {
        matches!(e, SaharaError::Unexpected { expected: "HELLO", got: "DONE_RESP", .. })
    });
    let mut m = started(100);
    assert_reset_then(&m.feed(&Packet::DoneResp { status: 1 }.encode()), |e| {
        matches!(e, SaharaError::Unexpected { got: "DONE_RESP", .. })
    });
    let mut m = started(100);
    assert_reset_then(&m.feed(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F]), |e| {
        matches!(e, SaharaError::BadFrameLength { length: 0x7FFF_FFFF, .. })
    });
    let mut m = started(100);
    assert_reset_then(&m.feed(&[0x03, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), |e| {
        matches!(e, SaharaError::BadLength { cmd: 3, expected: 0x14, got: 0x10, .. })
    });
}

#[test]
fn bad_reads_are_refused() {
    let mut m = started(100);
    assert_reset_then(&m.feed(&read(90, 11)), |e| {
        matches!(e, SaharaError::ReadOutOfRange { offset: 90, length: 11, image_size: 100, .. })
    });
    let mut m = started(100);
    assert!(matches!(m.feed(&read(90, 10))[..], [Action::Serve(_)]));
    let mut m = started(100);
    assert_reset_then(&m.feed(&read(0, 0)), |e| matches!(e, SaharaError::BadReadLength { length: 0, .. }));
    let mut m = started(u64::MAX);
    let a = m.feed(&Packet::ReadData64 { image_id: 13, offset: 0, length: 1 << 40 }.encode());
    assert_reset_then(&a, |e| matches!(e, SaharaError::BadReadLength { .. }));
    let mut m = started(u64::MAX);
    let a = m.feed(&Packet::ReadData64 { image_id: 13, offset: u64::MAX - 1, length: 4 }.encode());
    assert_reset_then(&a, |e| matches!(e, SaharaError::ReadOutOfRange { .. }));
    let mut m = started(100);
    let a = m.feed(&Packet::ReadData { image_id: 7, offset: 0, length: 4 }.encode());
    assert_reset_then(&a, |e| matches!(e, SaharaError::UnexpectedImageId { expected: 13, got: 7 }));
}

fn finish_with(pending: PendingPolicy, image_id: u32, done: u32) -> Vec<Action> {
    let cfg = UploadConfig { pending, ..UploadConfig::default() };
    let mut m = UploadMachine::new(cfg, 100, None);
    m.feed(&hello(2, 0).encode());
    m.feed(&Packet::ReadData { image_id, offset: 0, length: 4 }.encode());
    m.feed(&Packet::EndImageTx { image_id, status: 0 }.encode());
    m.feed(&Packet::DoneResp { status: done }.encode())
}

#[test]
fn done_resp_pending_policies() {
    assert!(matches!(finish_with(PendingPolicy::Accept, 7, 0)[..], [Action::Done(DoneStatus::Pending)]));
    let only = PendingPolicy::AcceptImages(vec![7, 13, 21]);
    assert!(matches!(finish_with(only.clone(), 13, 0)[..], [Action::Done(DoneStatus::Pending)]));
    assert!(matches!(
        finish_with(only, 5, 0)[..],
        [Action::Failed(SaharaError::PendingRejected { image_id: Some(5) })]
    ));
    assert!(matches!(finish_with(PendingPolicy::Reject, 13, 0)[..], [Action::Failed(_)]));
    assert!(matches!(finish_with(PendingPolicy::Reject, 13, 1)[..], [Action::Done(DoneStatus::Complete)]));
    assert!(matches!(
        finish_with(PendingPolicy::Accept, 13, 9)[..],
        [Action::Failed(SaharaError::BadDoneStatus { status: 9 })]
    ));
}

fn any_packet() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0u32..4, 0u32..4).prop_map(|(v, m)| hello(v, m).encode()),
        (0u32..16, 0u32..300, 0u32..300).prop_map(|(i, o, l)| Packet::ReadData {
            image_id: i + 10,
            offset: o,
            length: l
        }
        .encode()),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(i, o, l)| Packet::ReadData64 {
            image_id: i,
            offset: o,
            length: l
        }
        .encode()),
        (0u32..16, 0u32..0x30).prop_map(|(i, s)| Packet::EndImageTx { image_id: i, status: s }.encode()),
        (0u32..3).prop_map(|s| Packet::DoneResp { status: s }.encode()),
        Just(Packet::CmdReady.encode()),
        Just(Packet::ResetResp.encode()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), split in 1usize..64) {
        let mut m = UploadMachine::new(UploadConfig::default(), 256, None);
        for chunk in bytes.chunks(split) {
            let _ = m.feed(chunk);
        }
    }

    #[test]
    fn random_packet_streams_never_panic(packets in proptest::collection::vec(any_packet(), 0..20), split in 1usize..50) {
        let stream: Vec<u8> = packets.concat();
        let mut m = UploadMachine::new(UploadConfig::default(), 256, Some(13));
        let mut finished = 0;
        for chunk in stream.chunks(split) {
            for a in m.feed(chunk) {
                if let Action::Serve(r) = a {
                    prop_assert!(r.length > 0 && r.offset + r.length <= 256);
                }
                if matches!(a, Action::Done(_) | Action::Failed(_)) {
                    finished += 1;
                }
            }
        }
        prop_assert!(finished <= 1);
        prop_assert_eq!(finished == 1, m.is_finished());
    }
}
