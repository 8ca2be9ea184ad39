#![no_main]
//! The Firehose scanner (any split, raw takes mixed in) and the device-side command
//! parser must never panic, whatever the bytes.
use libfuzzer_sys::fuzz_target;
use modemflash::protocol::firehose::{Scanner, parse_command};

fuzz_target!(|data: &[u8]| {
    let _ = parse_command(data);
    let Some((&ctl, rest)) = data.split_first() else { return };
    let mut s = Scanner::new(1024);
    let mut sink = [0u8; 32];
    for (i, piece) in rest.chunks(usize::from(ctl % 61) + 1).enumerate() {
        if s.feed(piece).is_err() {
            s.clear();
        }
        loop {
            match s.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    s.take_raw(&mut sink);
                    break;
                }
            }
        }
        if (i + usize::from(ctl)) % 7 == 0 {
            s.take_raw(&mut sink);
        }
    }
});
