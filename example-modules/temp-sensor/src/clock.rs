//! The wall clock (WASI `wasi:clocks/wall-clock` through std), as a seed.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, truncated to 64 bits.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
