//! The timers a module sets through the `timers` import. The table lives in the
//! module's store; the instance task sleeps until the earliest one is due.

use tokio::time::{Duration, Instant};

/// The shortest timer interval a module may ask for.
pub const MIN_TIMER_INTERVAL_MS: u64 = 10;
/// The most timers one module may have at once.
pub const MAX_TIMERS: u32 = 64;

#[derive(Debug, Clone)]
struct Timer {
    id: u32,
    interval: Duration,
    repeat: bool,
    due: Instant,
}

/// Why a timer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerRefusal {
    /// Below [`MIN_TIMER_INTERVAL_MS`].
    IntervalTooShort,
    /// Already [`MAX_TIMERS`] timers.
    TooMany,
}

/// A module's timers.
#[derive(Debug, Default)]
pub struct Timers {
    timers: Vec<Timer>,
}

impl Timers {
    /// Starts or restarts timer `id`, first due `interval_ms` from `now`.
    pub fn set(
        &mut self,
        id: u32,
        interval_ms: u64,
        repeat: bool,
        now: Instant,
    ) -> Result<(), TimerRefusal> {
        if interval_ms < MIN_TIMER_INTERVAL_MS {
            return Err(TimerRefusal::IntervalTooShort);
        }
        let interval = Duration::from_millis(interval_ms);
        let timer = Timer {
            id,
            interval,
            repeat,
            due: now + interval,
        };
        let full = self.timers.len() >= MAX_TIMERS as usize;
        match self.timers.iter_mut().find(|t| t.id == id) {
            Some(slot) => *slot = timer,
            None if full => return Err(TimerRefusal::TooMany),
            None => self.timers.push(timer),
        }
        Ok(())
    }

    /// Stops timer `id`; returns whether it was set.
    pub fn cancel(&mut self, id: u32) -> bool {
        let before = self.timers.len();
        self.timers.retain(|t| t.id != id);
        self.timers.len() != before
    }

    /// When the earliest timer is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.timers.iter().map(|t| t.due).min()
    }

    /// Takes the ids of the timers due at `now`, in due order. A repeating timer
    /// is rescheduled one interval on; one that fell more than an interval behind
    /// (the module was busy) skips the missed ticks rather than bursting.
    pub fn take_due(&mut self, now: Instant) -> Vec<u32> {
        let mut due: Vec<(Instant, u32)> = self
            .timers
            .iter()
            .filter(|t| t.due <= now)
            .map(|t| (t.due, t.id))
            .collect();
        due.sort_unstable();
        for timer in self.timers.iter_mut().filter(|t| t.due <= now) {
            if timer.repeat {
                timer.due += timer.interval;
                if timer.due <= now {
                    timer.due = now + timer.interval;
                }
            }
        }
        self.timers.retain(|t| t.repeat || t.due > now);
        due.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeating_and_one_shot_timers() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.set(1, 100, true, t0).unwrap();
        timers.set(2, 150, false, t0).unwrap();
        assert_eq!(timers.next_due(), Some(t0 + Duration::from_millis(100)));
        assert!(timers.take_due(t0 + Duration::from_millis(99)).is_empty());
        assert_eq!(timers.take_due(t0 + Duration::from_millis(100)), vec![1]);
        assert_eq!(timers.take_due(t0 + Duration::from_millis(200)), vec![2, 1]);
        assert_eq!(timers.next_due(), Some(t0 + Duration::from_millis(300)));
        // A timer far behind skips the missed ticks.
        assert_eq!(timers.take_due(t0 + Duration::from_millis(1000)), vec![1]);
        assert_eq!(timers.next_due(), Some(t0 + Duration::from_millis(1100)));
        assert!(timers.cancel(1));
        assert!(!timers.cancel(1));
        assert_eq!(timers.next_due(), None);
    }

    #[test]
    fn limits_are_enforced() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        assert_eq!(
            timers.set(1, MIN_TIMER_INTERVAL_MS - 1, true, t0),
            Err(TimerRefusal::IntervalTooShort)
        );
        for id in 0..MAX_TIMERS {
            timers.set(id, 1000, true, t0).unwrap();
        }
        assert_eq!(
            timers.set(MAX_TIMERS, 1000, true, t0),
            Err(TimerRefusal::TooMany)
        );
        // Restarting an existing timer is not a new one.
        timers.set(0, 500, false, t0).unwrap();
    }
}
