//! Helpers shared by the library's unit tests.

/// Bytes from space-separated hex, as the references write them (`"7e 06 4e 95 7e"`).
pub(crate) fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}
