#![no_main]
//! Fastboot reply/command parsers and the sparse parser must never panic, and the
//! sparse parser must not allocate by a declared size.
use libfuzzer_sys::fuzz_target;
use modemflash::protocol::fastboot::{SparseReader, parse_command, parse_max_download_size, parse_reply, sparse};

fuzz_target!(|data: &[u8]| {
    let _ = parse_reply(data);
    let _ = parse_command(data);
    let _ = parse_max_download_size(&String::from_utf8_lossy(data));
    if let Ok(mut r) = SparseReader::new(data) {
        let mut buf = [0u8; 64];
        while let Ok(Some(_)) = r.next_chunk() {
            let _ = r.read_raw(&mut buf);
        }
    }
    let mut out = vec![0u8; 4096];
    let _ = sparse::apply(data, &mut out);
});
