//! Fastboot (placeholder while firehose builds).
