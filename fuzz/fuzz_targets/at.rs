#![no_main]
//! The AT line codec must never panic, whatever the bytes and however they split.
use libfuzzer_sys::fuzz_target;
use modemflash::protocol::at::{LineSplitter, ResponseAssembler, parse_ati_revision, parse_cgmr, parse_qgmr};

fuzz_target!(|data: &[u8]| {
    let (split, rest) = match data.split_first() {
        Some((s, r)) => (*s as usize, r),
        None => return,
    };
    let cut = split.min(rest.len());
    let (a, b) = rest.split_at(cut);
    let mut splitter = LineSplitter::new();
    let mut asm = ResponseAssembler::new("AT+QGMR");
    let mut lines = splitter.feed_collect(a);
    lines.extend(splitter.feed_collect(b));
    for line in &lines {
        let _ = asm.push_line(line.clone());
    }
    let _ = parse_ati_revision(&lines);
    let _ = parse_cgmr(&lines);
    let _ = parse_qgmr(&lines);
});
