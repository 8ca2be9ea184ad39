#![no_main]
//! Package-file parsers (Intel HEX, partition tables, MBN/ELF/boot/yaffs2 headers,
//! md5.txt, revision strings) must never panic. The first byte picks the parser.
use libfuzzer_sys::fuzz_target;
use modemflash::catalog::Revision;
use modemflash::package::{headers, ihex, md5, ptable};

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = data.split_first() else { return };
    match sel % 5 {
        0 => {
            let _ = ihex::parse(rest);
        }
        1 => {
            let _ = ptable::parse(rest);
        }
        2 => {
            let size = rest.len() as u64 * 37;
            let _ = headers::parse_mbn(rest).map(|h| h.check_size(size));
            let _ = headers::parse_elf(rest);
            let _ = headers::parse_boot(rest).map(|b| b.declared_len());
            let _ = headers::parse_yaffs2(rest, size);
        }
        3 => {
            let _ = md5::parse(&String::from_utf8_lossy(rest));
        }
        _ => {
            let s = String::from_utf8_lossy(rest);
            let r = Revision::parse(&s);
            let _ = r.fit(&Revision::parse("EC25EFAR06A08M4G"));
            let _ = Revision::find_in(&s);
        }
    }
});
