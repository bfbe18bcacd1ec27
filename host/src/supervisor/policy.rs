//! The restart policy and its backoff as a sans-IO state machine: it is told
//! when an instance started and when it ended (and whether that was a failure),
//! at which [`Instant`]s, and says what to do next. The supervisor task does the
//! waiting and the restarting.
//!
//! The delay before restart `n` (counting from 0) is `min(base · 2^n, cap)`.
//! `n` counts the endings in a row; it goes back to 0 when an instance ends
//! after it had run for at least the stable period.

pub use crate::backoff::Backoff;
use std::time::Duration;
use tokio::time::Instant;

/// The default first delay before a restart (`restart-backoff-base-ms`).
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The default longest delay before a restart (`restart-backoff-cap-ms`).
pub const DEFAULT_BACKOFF_CAP: Duration = Duration::from_secs(60);
/// The default time an instance must run for its failures to be forgiven
/// (`restart-stable-secs`).
pub const DEFAULT_STABLE_PERIOD: Duration = Duration::from_secs(60);

/// When an instance that ended is made again (`restart-policy`, as in Azure IoT
/// Edge and Docker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Never: a module that fails stays `failed`, one that exits stays
    /// `stopped`.
    Never,
    /// After a failure (a trap, a CPU-deadline timeout, memory exhaustion, a
    /// failed `init`, or an exit with a nonzero code), with backoff. A module
    /// that exits with code 0 stays `stopped`. The default.
    #[default]
    OnFailure,
    /// After a failure and also after an exit with code 0, with backoff.
    Always,
}

/// The default restart backoff (`restart-backoff-base-ms`,
/// `restart-backoff-cap-ms`): 1 s doubling up to 60 s.
pub const DEFAULT_BACKOFF: Backoff = Backoff::new(DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP);

/// A module's restart settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// When to restart.
    pub policy: RestartPolicy,
    /// How long to wait first.
    pub backoff: Backoff,
    /// How long an instance must run for the next delay to start again from
    /// the backoff's base (`restart-stable-secs`, default 60 s).
    pub stable: Duration,
}

impl Default for Restart {
    /// On failure, 1 s doubling up to 60 s, forgiven after 60 s of running.
    fn default() -> Self {
        Restart {
            policy: RestartPolicy::default(),
            backoff: DEFAULT_BACKOFF,
            stable: DEFAULT_STABLE_PERIOD,
        }
    }
}

/// What to do after an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Make a new instance at `at`, `delay` after the ending.
    Restart {
        /// When.
        at: Instant,
        /// How long after the ending.
        delay: Duration,
    },
    /// Leave the module failed.
    Fail,
    /// Leave the module stopped: it exited cleanly and its policy does not
    /// restart it.
    Stop,
}

/// The supervision state of one module.
#[derive(Debug, Clone)]
pub struct Supervision {
    restart: Restart,
    /// Endings in a row, without a stable run between them.
    endings: u32,
    /// When the running instance started, if one is running.
    running_since: Option<Instant>,
}

impl Supervision {
    /// A module that has not started yet.
    pub fn new(restart: Restart) -> Self {
        Supervision {
            restart,
            endings: 0,
            running_since: None,
        }
    }

    /// An instance started (its `init` succeeded) at `now`.
    pub fn started(&mut self, now: Instant) {
        self.running_since = Some(now);
    }

    /// The instance ended at `now`, or failed to start: `failed` says whether
    /// that was a failure. Says what to do next.
    pub fn ended(&mut self, now: Instant, failed: bool) -> Next {
        if let Some(since) = self.running_since.take()
            && now.saturating_duration_since(since) >= self.restart.stable
        {
            self.endings = 0;
        }
        let restart = match self.restart.policy {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::Always => true,
        };
        if !restart {
            return if failed { Next::Fail } else { Next::Stop };
        }
        let delay = self.restart.backoff.delay(self.endings);
        self.endings = self.endings.saturating_add(1);
        Next::Restart {
            at: now + delay,
            delay,
        }
    }

    /// Endings in a row that count towards the next delay.
    pub fn endings_in_a_row(&self) -> u32 {
        self.endings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn restart(policy: RestartPolicy) -> Restart {
        Restart {
            policy,
            backoff: DEFAULT_BACKOFF,
            stable: DEFAULT_STABLE_PERIOD,
        }
    }

    fn delay_of(next: Next) -> Duration {
        match next {
            Next::Restart { delay, .. } => delay,
            other => panic!("expected a restart, got {other:?}"),
        }
    }

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let b = DEFAULT_BACKOFF;
        let delays: Vec<u64> = (0..9).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(b.delay(u32::MAX), b.cap);
        let tiny = Backoff::new(Duration::from_millis(10), Duration::from_millis(25));
        assert_eq!(tiny.delay(1), Duration::from_millis(20));
        assert_eq!(tiny.delay(2), Duration::from_millis(25));
    }

    #[test]
    fn failing_at_once_backs_off_and_restarts_at_the_delay() {
        let mut s = Supervision::new(restart(RestartPolicy::OnFailure));
        let mut now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..8 {
            s.started(now);
            now += Duration::from_millis(5);
            let next = s.ended(now, true);
            let delay = delay_of(next);
            assert_eq!(
                next,
                Next::Restart {
                    at: now + delay,
                    delay
                }
            );
            delays.push(delay.as_secs());
            now += delay;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(s.endings_in_a_row(), 8);
    }

    #[test]
    fn a_failed_start_counts_without_a_stable_run() {
        let mut s = Supervision::new(restart(RestartPolicy::OnFailure));
        let mut now = Instant::now();
        for expected in [1, 2, 4] {
            let delay = delay_of(s.ended(now, true));
            assert_eq!(delay.as_secs(), expected);
            now += 100 * S;
        }
    }

    #[test]
    fn a_stable_run_resets_the_delay() {
        let mut s = Supervision::new(restart(RestartPolicy::OnFailure));
        let t0 = Instant::now();
        for _ in 0..4 {
            s.started(t0);
            s.ended(t0, true);
        }
        s.started(t0);
        assert_eq!(
            delay_of(s.ended(t0 + 59 * S, true)).as_secs(),
            16,
            "not yet stable"
        );
        s.started(t0 + 100 * S);
        assert_eq!(
            delay_of(s.ended(t0 + 160 * S, true)).as_secs(),
            1,
            "a run of exactly the stable period resets"
        );
        assert_eq!(s.endings_in_a_row(), 1);
    }

    #[test]
    fn never_leaves_a_failure_failed_and_an_exit_stopped() {
        let now = Instant::now();
        let mut s = Supervision::new(restart(RestartPolicy::Never));
        s.started(now);
        assert_eq!(s.ended(now, true), Next::Fail);
        assert_eq!(s.ended(now, false), Next::Stop);
    }

    #[test]
    fn on_failure_stops_after_a_clean_exit_and_always_restarts() {
        let now = Instant::now();
        let mut s = Supervision::new(restart(RestartPolicy::OnFailure));
        s.started(now);
        assert_eq!(s.ended(now + S, false), Next::Stop);
        let mut s = Supervision::new(restart(RestartPolicy::Always));
        s.started(now);
        assert_eq!(delay_of(s.ended(now + S, false)), S);
        s.started(now + 2 * S);
        assert_eq!(
            delay_of(s.ended(now + 3 * S, false)),
            2 * S,
            "clean exits in a row back off too"
        );
        assert_eq!(delay_of(s.ended(now + 3 * S, true)), 4 * S);
    }
}
