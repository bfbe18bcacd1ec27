//! Reconnect backoff: `min(base · 2^n, cap)`, scaled by a jitter factor in
//! [0.5, 1] so that a fleet does not reconnect in step.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A capped exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    /// 500 ms doubling up to 30 s.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay after `failures` failures in a row, scaled by `jitter` (clamped
    /// to [0.5, 1]).
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(31));
        let full = self.base.saturating_mul(factor).min(self.cap);
        full.mul_f64(jitter.clamp(0.5, 1.0))
    }
}

/// A jitter factor in [0.5, 1], from the clock's low bits.
pub fn jitter() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    0.5 + f64::from(nanos % 1000) / 2000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(500));
        assert_eq!(b.delay(3, 1.0), Duration::from_secs(4));
        assert_eq!(b.delay(10, 1.0), Duration::from_secs(30));
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(30));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(2));
        assert_eq!(b.delay(3, 0.0), Duration::from_secs(2), "jitter is clamped");
        let j = jitter();
        assert!((0.5..=1.0).contains(&j));
    }
}
