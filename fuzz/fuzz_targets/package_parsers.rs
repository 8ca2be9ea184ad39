#![no_main]
//! Package-file parsers (Intel HEX, partition tables, MBN/ELF/boot/yaffs2 headers, ELF
//! program headers, md5.txt, revision strings and the streaming revision scanner) must
//! never panic. The first byte picks the parser.
use libfuzzer_sys::fuzz_target;
use modemflash::catalog::{Revision, RevisionScanner};
use modemflash::package::{elf, headers, ihex, md5, ptable};

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = data.split_first() else { return };
    match sel % 7 {
        0 => {
            let _ = ihex::parse(rest);
        }
        1 => {
            let _ = ptable::parse(rest);
            let kib = ptable::TableUnits { default: ptable::SizeUnit::Kib, ..ptable::TableUnits::default() };
            let _ = ptable::parse_with(rest, &kib);
        }
        2 => {
            let size = rest.len() as u64 * 37;
            let _ = headers::parse_mbn(rest).map(|h| h.check_size(size));
            let _ = headers::parse_elf(rest);
            let _ = headers::parse_boot(rest).map(|b| b.declared_len());
            let _ = headers::parse_yaffs2(rest, size);
        }
        3 => {
            let (entries, _) = md5::parse(&String::from_utf8_lossy(rest));
            for e in &entries {
                let _ = md5::candidates(&e.path, &["EC25EFAR06A11M4G", "fw"]);
            }
        }
        4 => {
            let size = rest.len() as u64;
            let _ = elf::check(rest, size, &mut |at, n| {
                let at = usize::try_from(at).unwrap_or(usize::MAX);
                Ok(rest.get(at..).map(|r| r.iter().take(n).copied().collect()).unwrap_or_default())
            });
            let _ = elf::load_plan(&elf::parse_phdrs(rest), 0x1000);
        }
        5 => {
            // Split at a fuzzer-chosen point, as a stream arrives in pieces.
            let Some((cut, body)) = rest.split_first() else { return };
            let (a, b) = body.split_at(usize::from(*cut).min(body.len()));
            let mut scanner = RevisionScanner::new();
            scanner.feed(a);
            scanner.feed(b);
            let _ = scanner.finish();
        }
        _ => {
            let s = String::from_utf8_lossy(rest);
            let r = Revision::parse(&s);
            let _ = r.fit(&Revision::parse("EC25EFAR06A08M4G"));
            let _ = Revision::find_in(&s);
        }
    }
});
