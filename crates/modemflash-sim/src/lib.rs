//! Virtual Quectel modules for modemflash, and a builder of synthetic but structurally
//! faithful firmware packages.
//!
//! The package builder writes no real vendor code: every image is a correct header (MBN,
//! ELF, `ANDROID!`, yaffs2, Intel HEX, partition table, rawprogram XML) over deterministic
//! pseudo-random bytes, so tests and the demo need no binary blobs.

pub mod builder;
