#![no_main]
//! Streaming DLOAD decoders (replies, requests, HELLO response) must never panic.
use libfuzzer_sys::fuzz_target;
use modemflash::protocol::streaming::codec::partition_name;
use modemflash::protocol::streaming::{HelloResponse, Reply, Request};

fuzz_target!(|data: &[u8]| {
    let _ = Reply::parse(data);
    let _ = Request::parse(data);
    let _ = HelloResponse::parse(data);
    let _ = partition_name(data);
    // Also as a HELLO response body behind a valid header.
    let mut hello = vec![0x02];
    hello.extend_from_slice(b"QCOM fast download protocol targ");
    hello.extend_from_slice(data);
    let _ = HelloResponse::parse(&hello);
});
