#![no_main]
//! DIAG reply and request parsers must never panic.
use libfuzzer_sys::fuzz_target;
use modemflash::protocol::diag::{parse_ext_build_id, parse_reply, parse_request};

fuzz_target!(|data: &[u8]| {
    let _ = parse_reply(data);
    let _ = parse_ext_build_id(data);
    let _ = parse_request(data);
});
