//! A capped exponential backoff, `min(base · 2^n, cap)`: the restart policy's
//! delays (`supervisor::policy`) and the MQTT sessions' reconnects (`uplink`,
//! `ingest`), which also take a jitter factor so that a fleet does not
//! reconnect in step.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The reconnect backoff of the MQTT sessions: 500 ms doubling up to 30 s.
pub const RECONNECT: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

/// A capped exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl Backoff {
    /// `base` doubling up to `cap`.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap }
    }

    /// The delay after `n` failures in a row.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.min(31));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// [`Backoff::delay`] scaled by `jitter` (clamped to [0.5, 1]).
    pub fn jittered(&self, n: u32, jitter: f64) -> Duration {
        self.delay(n).mul_f64(jitter.clamp(0.5, 1.0))
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
        let b = RECONNECT;
        assert_eq!(b.delay(0), Duration::from_millis(500));
        assert_eq!(b.delay(3), Duration::from_secs(4));
        assert_eq!(b.delay(10), Duration::from_secs(30));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(30));
        assert_eq!(b.jittered(3, 1.0), Duration::from_secs(4));
        assert_eq!(b.jittered(3, 0.5), Duration::from_secs(2));
        assert_eq!(
            b.jittered(3, 0.0),
            Duration::from_secs(2),
            "jitter is clamped"
        );
        let tiny = Backoff::new(Duration::from_millis(10), Duration::from_millis(25));
        assert_eq!(tiny.delay(1), Duration::from_millis(20));
        assert_eq!(tiny.delay(2), Duration::from_millis(25));
        let j = jitter();
        assert!((0.5..=1.0).contains(&j));
    }
}
