//! Exit codes, documented in README.md and `--help`.

/// Success.
pub const OK: u8 = 0;
/// The operation failed (an update leaves the module resumable).
#[allow(dead_code)]
pub const FAILED: u8 = 1;
/// The firmware package is invalid or unreadable.
pub const INVALID_PACKAGE: u8 = 2;
/// No module found.
#[allow(dead_code)]
pub const NO_MODULE: u8 = 3;
/// Bad command line (EX_USAGE).
pub const USAGE: u8 = 64;
