#![no_main]
//! DMSS decoders (device replies, host requests, the mode-probe classifier) must never panic.
use libfuzzer_sys::fuzz_target;
use modemflash::protocol::dmss::{classify_probe, parse_reply, parse_request};

fuzz_target!(|data: &[u8]| {
    let _ = parse_reply(data);
    let _ = parse_request(data);
    let _ = classify_probe(data);
});
