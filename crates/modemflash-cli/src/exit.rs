//! Exit codes, documented in README.md and `--help`.

/// Success.
pub const OK: u8 = 0;
/// The operation failed (the message says whether a rerun continues an update).
pub const FAILED: u8 = 1;
/// The firmware package is invalid or unreadable.
pub const INVALID_PACKAGE: u8 = 2;
/// No module found.
pub const NO_MODULE: u8 = 3;
/// The user answered "no" at the confirmation prompt; nothing was written.
pub const DECLINED: u8 = 4;
/// Bad command line (EX_USAGE).
pub const USAGE: u8 = 64;
/// Stopped by Ctrl-C or SIGTERM (128 + SIGINT): the update stopped between steps and is
/// resumable.
pub const INTERRUPTED: u8 = 130;
