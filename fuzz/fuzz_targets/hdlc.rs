#![no_main]
//! The HDLC streaming decoder must never panic, whatever the bytes and however they split.
use libfuzzer_sys::fuzz_target;
use modemflash::protocol::hdlc::Decoder;

fuzz_target!(|data: &[u8]| {
    let (split, rest) = match data.split_first() {
        Some((s, r)) => (*s as usize, r),
        None => return,
    };
    let mut d = Decoder::new(256);
    let cut = split.min(rest.len());
    let (a, b) = rest.split_at(cut);
    let _ = d.feed_collect(a);
    let _ = d.feed_collect(b);
});
