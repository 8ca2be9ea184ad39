//! Firmware packages (placeholder replaced below).
