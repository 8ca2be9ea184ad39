//! [`StreamingClient`] against a scripted programmer on a memory pair.

use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::client::{DownloadFlag, PartitionTableOptions, StreamingClient, StreamingTimeouts};
use super::codec::{Reply, Request, partition_name};
use super::codes::{ImageType, OpenMultiStatus, PartitionStatus};
use super::error::StreamingError;
use super::hello::{HelloOptions, HelloResponse};
use crate::protocol::hdlc::HdlcLink;
use crate::transport::Transport;
use crate::transport::memory::{MemoryTransport, stream_pair};

type Dev = HdlcLink<MemoryTransport>;
const T: Duration = Duration::from_secs(3);

fn fast() -> StreamingTimeouts {
    StreamingTimeouts {
        reply: Duration::from_millis(300),
        write_attempts: 3,
        retry_delay: Duration::ZERO,
        unsupported_grace: Duration::from_millis(100),
    }
}

fn spawn<R: Send + 'static>(
    script: impl FnOnce(&mut Dev) -> R + Send + 'static,
) -> (StreamingClient<MemoryTransport>, JoinHandle<R>) {
    let (host, dev) = stream_pair("streaming");
    let handle = thread::spawn(move || {
        let mut dev = HdlcLink::new(dev);
        script(&mut dev)
    });
    (StreamingClient::new(host).with_timeouts(fast()), handle)
}

fn expect(dev: &mut Dev) -> Request {
    Request::parse(&dev.recv(T).unwrap()).unwrap()
}

#[allow(clippy::needless_pass_by_value)]
fn reply(dev: &mut Dev, r: Reply) {
    dev.send(&r.encode(), true).unwrap();
}

fn hello_rsp(block: u32) -> HelloResponse {
    HelloResponse {
        version: 3,
        min_version: 2,
        max_block_size: block,
        flash_base: 0,
        flash_id: b"MT29F2G08".to_vec(),
        window_size: Some(2),
        sector_count: Some(0),
        sector_sizes: vec![],
        features: Some(0x09),
    }
}

#[test]
fn full_qfirehose_style_sequence() {
    let image: Vec<u8> = (0..2600u32).map(|i| (i * 7) as u8).collect();
    let (mut client, dev) = spawn(|dev| {
        assert_eq!(expect(dev), Request::Hello(HelloOptions::QFLASH_9615));
        reply(dev, Reply::Hello(hello_rsp(1024)));
        assert_eq!(expect(dev), Request::SecurityMode(1));
        reply(dev, Reply::SecurityMode);
        assert!(matches!(expect(dev), Request::PartitionTable { override_table: 0, .. }));
        reply(dev, Reply::PartitionTable(PartitionStatus::Differs));
        assert!(matches!(expect(dev), Request::PartitionTable { override_table: 1, .. }));
        reply(dev, Reply::PartitionTable(PartitionStatus::Accepted));
        assert_eq!(expect(dev), Request::DownloadFlag(1));
        reply(dev, Reply::DownloadFlag(0));
        let Request::OpenMulti { image_type: ImageType::Custom, payload } = expect(dev) else { panic!() };
        assert_eq!(partition_name(&payload), Some("0:SBL"));
        reply(dev, Reply::OpenMulti(OpenMultiStatus::Ok));
        let mut got = Vec::new();
        loop {
            match expect(dev) {
                Request::StreamWrite { addr, data } => {
                    assert_eq!(addr as usize, got.len());
                    got.extend_from_slice(&data);
                    // LOGs may come at any time; the client keeps them and goes on waiting.
                    reply(dev, Reply::Log(format!("wrote {addr:#x}\n")));
                    reply(dev, Reply::StreamWrite { addr });
                }
                Request::Close => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        reply(dev, Reply::Close);
        assert_eq!(expect(dev), Request::Reset);
        reply(dev, Reply::Reset);
        got
    });
    let h = client.hello(&HelloOptions::default()).unwrap();
    assert_eq!(h.flash_id_str(), "MT29F2G08");
    client.security_mode(true).unwrap();
    let out = client.send_partition_table(b"partition.mbn bytes", &PartitionTableOptions::QFIREHOSE).unwrap();
    assert_eq!(out.first, PartitionStatus::Differs);
    assert_eq!(out.last, PartitionStatus::Accepted);
    assert!(out.overridden);
    assert_eq!(out.download_flag, Some(DownloadFlag::Done));
    client.open_multi("0:SBL").unwrap();
    let mut calls = Vec::new();
    let n = client.write_image(&image[..], image.len() as u64, None, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(n, 2600);
    assert_eq!(calls, vec![(0, 2600), (1024, 2600), (2048, 2600), (2600, 2600)]);
    client.close().unwrap();
    client.reset().unwrap();
    assert_eq!(dev.join().unwrap(), image);
    let logs: Vec<_> = client.logs().map(str::to_string).collect();
    assert_eq!(logs, ["wrote 0x0", "wrote 0x400", "wrote 0x800"]);
    assert_eq!(client.take_logs().len(), 3);
    assert_eq!(client.logs().count(), 0);
}

#[test]
fn hello_block_size_limits_writes() {
    let (mut client, dev) = spawn(|dev| {
        expect(dev);
        reply(dev, Reply::Hello(hello_rsp(512)));
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let Request::StreamWrite { addr, data } = expect(dev) else { panic!() };
            sizes.push(data.len());
            reply(dev, Reply::StreamWrite { addr });
        }
        sizes
    });
    client.hello(&HelloOptions::QFIREHOSE).unwrap();
    assert_eq!(client.block_size(None), 512);
    assert_eq!(client.block_size(Some(100)), 100);
    client.write_image(&[0u8; 1100][..], 1100, Some(4096), &mut |_, _| {}).unwrap();
    assert_eq!(dev.join().unwrap(), vec![512, 512, 76]);
}

#[test]
fn device_error_after_log_is_typed() {
    let (mut client, dev) = spawn(|dev| {
        expect(dev);
        reply(dev, Reply::Log("No security mode set".into()));
        reply(dev, Reply::Error { code: 0x0F, text: "No security mode set".into() });
    });
    let err = client.open_multi("0:SBL1").unwrap_err();
    match err {
        StreamingError::Device { code: 0x0F, name, text } => {
            assert_eq!(name, "command out of sequence");
            assert_eq!(text, "No security mode set");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.logs().collect::<Vec<_>>(), ["No security mode set"]);
    dev.join().unwrap();
}

#[test]
fn write_retries_on_missing_and_corrupt_reply() {
    let (mut client, dev) = spawn(|dev| {
        // Block 0: first try unanswered, second answered with a corrupt frame, third OK.
        let first = expect(dev);
        assert_eq!(expect(dev), first);
        dev.transport_mut().send(&[0x7E, 0x08, 0, 0, 0, 0, 0x12, 0x34, 0x7E]).unwrap();
        assert_eq!(expect(dev), first);
        reply(dev, Reply::StreamWrite { addr: 0 });
        // Block 1: a stale echo of block 0 is skipped, then the right one.
        let Request::StreamWrite { addr, .. } = expect(dev) else { panic!() };
        reply(dev, Reply::StreamWrite { addr: 0 });
        reply(dev, Reply::StreamWrite { addr });
    });
    client.write_image(&[1u8; 1500][..], 1500, None, &mut |_, _| {}).unwrap();
    dev.join().unwrap();
}

#[test]
fn write_gives_up_after_three_tries() {
    let (mut client, dev) = spawn(|dev| {
        for _ in 0..3 {
            expect(dev);
        }
        // Stay connected until the host's last wait has run out.
        crate::testutil::hold_until_hangup(dev.transport_mut());
    });
    let err = client.write_image(&[1u8; 10][..], 10, None, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, StreamingError::NoReply { tries: 3, .. }), "{err}");
    drop(client);
    dev.join().unwrap();

    let (mut client, dev) = spawn(|dev| {
        for _ in 0..3 {
            expect(dev);
            reply(dev, Reply::StreamWrite { addr: 0x999 });
        }
    });
    let err = client.write_image(&[1u8; 10][..], 10, None, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, StreamingError::EchoMismatch { sent: 0, got: 0x999, .. }), "{err}");
    dev.join().unwrap();
}

#[test]
fn short_image_reader_is_an_error() {
    let (mut client, dev) = spawn(|dev| {
        let Request::StreamWrite { addr, .. } = expect(dev) else { panic!() };
        reply(dev, Reply::StreamWrite { addr });
    });
    let err = client.write_image(&[1u8; 1500][..], 4000, None, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, StreamingError::ImageRead { offset: 1024, .. }), "{err}");
    dev.join().unwrap();
}

#[test]
fn download_flag_unsupported_is_a_result() {
    let (mut client, dev) = spawn(|dev| {
        // hostdl style: LOG then ERROR 5.
        assert_eq!(expect(dev), Request::DownloadFlag(1));
        reply(dev, Reply::Log("Invalid command\n".into()));
        reply(dev, Reply::Error { code: 5, text: "Invalid command".into() });
        // QFlash style: only the LOG.
        assert_eq!(expect(dev), Request::DownloadFlag(0));
        reply(dev, Reply::Log("Invalid command".into()));
        assert_eq!(expect(dev), Request::Close);
        reply(dev, Reply::Close);
        assert_eq!(expect(dev), Request::DownloadFlag(1));
        reply(dev, Reply::DownloadFlag(3));
    });
    assert!(matches!(client.set_download_flag(true).unwrap(), DownloadFlag::Unsupported { .. }));
    assert!(matches!(client.set_download_flag(false).unwrap(), DownloadFlag::Unsupported { .. }));
    client.close().unwrap();
    assert!(matches!(client.set_download_flag(true), Err(StreamingError::DownloadFlag { status: 3 })));
    dev.join().unwrap();
}

#[test]
fn partition_table_policies() {
    let (mut client, dev) = spawn(|dev| {
        expect(dev);
        reply(dev, Reply::PartitionTable(PartitionStatus::Differs));
        expect(dev);
        reply(dev, Reply::PartitionTable(PartitionStatus::FormatNotRecognized));
        expect(dev);
        reply(dev, Reply::PartitionTable(PartitionStatus::Differs));
        expect(dev);
        reply(dev, Reply::PartitionTable(PartitionStatus::Differs));
        expect(dev);
        reply(dev, Reply::PartitionTable(PartitionStatus::EraseFailed));
    });
    let out = client.send_partition_table(&[1, 2, 3], &PartitionTableOptions::QFLASH_9615).unwrap();
    assert_eq!(
        (out.first, out.last, out.overridden, out.download_flag),
        (PartitionStatus::Differs, PartitionStatus::Differs, false, None)
    );
    let err = client.send_partition_table(&[1], &PartitionTableOptions::QFLASH_9615).unwrap_err();
    assert!(matches!(err, StreamingError::PartitionTable { status: 2, .. }), "{err}");
    let err = client.send_partition_table(&[1], &PartitionTableOptions::QFIREHOSE).unwrap_err();
    assert!(matches!(err, StreamingError::PartitionTable { status: 1, .. }), "{err}");
    let err = client.send_partition_table(&[1], &PartitionTableOptions::QFIREHOSE).unwrap_err();
    assert!(matches!(err, StreamingError::PartitionTable { status: 3, name: "erase failed" }), "{err}");
    assert!(client.send_partition_table(&[0; 513], &PartitionTableOptions::QFIREHOSE).is_err());
    dev.join().unwrap();
}

#[test]
fn timeout_unexpected_and_open_status() {
    let (mut client, dev) = spawn(|dev| {
        expect(dev); // CLOSE: no answer
        expect(dev); // RESET: wrong reply
        reply(dev, Reply::Close);
        expect(dev);
        reply(dev, Reply::OpenMulti(OpenMultiStatus::UnknownPartition));
        expect(dev);
        reply(dev, Reply::Nop(vec![1, 2]));
    });
    assert!(matches!(client.close(), Err(StreamingError::NoReply { expected: "CLOSE response", .. })));
    assert!(matches!(client.reset(), Err(StreamingError::Unexpected { cmd: 0x16, .. })));
    let err = client.open_multi("0:NOPE").unwrap_err();
    assert!(
        matches!(&err, StreamingError::OpenMulti { partition, status: 5, .. } if partition == "0:NOPE"),
        "{err}"
    );
    client.nop(&[1, 2]).unwrap();
    dev.join().unwrap();
}

#[test]
fn corrupt_frames_are_skipped_while_waiting() {
    let (mut client, dev) = spawn(|dev| {
        expect(dev);
        dev.transport_mut().send(&[0x7E, 0x55, 0x66, 0x77, 0x7E]).unwrap();
        reply(dev, Reply::SecurityMode);
        expect(dev);
        dev.transport_mut().send(&[0x7E, 0x55, 0x66, 0x77, 0x7E]).unwrap();
        crate::testutil::hold_until_hangup(dev.transport_mut());
    });
    client.security_mode(true).unwrap();
    assert!(matches!(client.close(), Err(StreamingError::Hdlc(_))));
    drop(client);
    dev.join().unwrap();
}
