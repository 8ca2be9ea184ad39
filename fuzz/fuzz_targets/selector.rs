#![no_main]
//! Device selector parsing (`--device`) must never panic, and what parses must print back
//! to a selector that parses to the same value.
use libfuzzer_sys::fuzz_target;
use modemflash::discovery::selector::Selector;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(sel) = Selector::parse(text) {
        let again = Selector::parse(&sel.to_string());
        assert_eq!(again.as_ref().ok(), Some(&sel), "{text:?}");
    }
});
