//! What more than one simulator test does.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use modemflash::protocol::firehose::{ProgramSpec, build_program};
use modemflash::transport::Transport;

/// A host that dies in the data phase of a `<program>` (docs/facts/firehose.md, "A host
/// that dies in the data phase"): a `<program>` of 64 sectors of 4 KiB for `modem`, its
/// `ACK rawmode="true"` awaited, then `sent` bytes of data, and the link dropped. The
/// programmer is left waiting for the rest.
pub fn die_in_a_program(mut link: Box<dyn Transport>, sent: usize, wait: Duration) {
    let program = ProgramSpec {
        sector_size: 4096,
        start_sector: "832".into(),
        physical_partition_number: 0,
        label: "modem".into(),
        filename: "NON-HLOS.ubi".into(),
        extra: vec![("PAGES_PER_BLOCK".into(), "64".into())],
    };
    link.send(&build_program(&program, 64).unwrap()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("rawmode=\"true\"") {
        let n = link.recv(&mut buf, wait).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    link.send(&vec![0u8; sent]).unwrap();
}
