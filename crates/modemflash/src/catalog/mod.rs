//! Device catalogue (placeholder replaced below).
