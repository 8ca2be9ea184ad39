#![no_main]
//! The Sahara packet decoder, framer and upload state machine must never panic, whatever
//! the bytes and however they are split into reads.
use libfuzzer_sys::fuzz_target;
use modemflash::protocol::sahara::decode;
use modemflash::protocol::sahara::{Action, Framer, Packet, UploadConfig, UploadMachine};

fuzz_target!(|data: &[u8]| {
    let _ = Packet::parse(data);
    let _ = decode(data);
    let mut framer = Framer::default();
    framer.push(data);
    while framer.next_packet().is_some() {}

    let Some((&split, rest)) = data.split_first() else { return };
    let chunk = usize::from(split % 64) + 1;
    let mut machine = UploadMachine::new(UploadConfig::default(), 0x1_0000, None);
    for piece in rest.chunks(chunk) {
        for action in machine.feed(piece) {
            if let Action::Serve(r) = action {
                assert!(r.length > 0 && r.offset + r.length <= 0x1_0000);
            }
        }
    }
});
