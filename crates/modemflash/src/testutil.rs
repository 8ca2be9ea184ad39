//! Helpers shared by the library's unit tests.

/// Bytes from space-separated hex, as the references write them (`"7e 06 4e 95 7e"`).
pub(crate) fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

/// The device end of a test link stays open, answering nothing, until the host hangs up
/// (drops its client): a test of the host's timeouts needs no sleep on the device side, and
/// the device never decides how long the host waits. Bytes the host still sends are read
/// and ignored; a minute of silence ends the hold too.
pub(crate) fn hold_until_hangup(t: &mut dyn crate::transport::Transport) {
    let mut buf = [0u8; 4096];
    while t.recv(&mut buf, std::time::Duration::from_secs(60)).is_ok() {}
}
