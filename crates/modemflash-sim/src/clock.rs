//! Time for the virtual module: real, or virtual so that a 60 s re-enumeration costs
//! nothing in tests (architecture guide, "Time"). The clock is the library's
//! ([`modemflash::time`]), so host clients and the module can share one.

pub use modemflash::time::{Clock, RealClock, SharedClock, VirtualClock};
