//! What a module's instances cost, beside its message counters: the time its
//! calls take (a running total, and a histogram of each call's duration), its
//! linear memory and the limit on it, and how many messages wait in its
//! input queue. The module's supervisor is the one writer, except for the
//! queue, which is read from the channel itself when a snapshot is taken
//! (so that a module stuck in a long call shows the queue growing).

use std::fmt;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds of the call-duration histogram's buckets, in
/// microseconds (a call longer than the last is counted only in the total).
pub const CALL_BUCKETS_US: [u64; 12] = [
    10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000,
];

/// Reads how many messages wait in a module's input queue.
pub(crate) type QueueProbe = Box<dyn Fn() -> usize + Send + Sync>;

/// The live figures, written by the module's supervisor.
#[derive(Default)]
pub(crate) struct Usage {
    /// Calls per bucket (not cumulative).
    buckets: [AtomicU64; CALL_BUCKETS_US.len()],
    calls: AtomicU64,
    busy_nanos: AtomicU64,
    memory: AtomicU64,
    memory_limit: AtomicU64,
    /// What the supervisor took from the queue and has not handed over yet.
    held: AtomicU64,
    queue: RwLock<Option<QueueProbe>>,
}

impl fmt::Debug for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Usage")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

impl Usage {
    /// Counts a call that took `took`.
    pub(crate) fn call_took(&self, took: Duration) {
        let us = took.as_micros();
        if let Some(i) = CALL_BUCKETS_US.iter().position(|b| us <= u128::from(*b)) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The instance's linear memory now, and its limit.
    pub(crate) fn set_memory(&self, bytes: usize, limit: usize) {
        self.memory.store(bytes as u64, Ordering::Relaxed);
        self.memory_limit.store(limit as u64, Ordering::Relaxed);
    }

    /// How many messages the supervisor holds, taken from the queue and
    /// not yet handed to an instance.
    pub(crate) fn set_held(&self, n: usize) {
        self.held.store(n as u64, Ordering::Relaxed);
    }

    /// Reads the queue's depth through `probe` from now on (the deployer
    /// sets it whenever it gives the module a new queue).
    pub(crate) fn watch_queue(&self, probe: QueueProbe) {
        *self.queue.write().unwrap_or_else(|p| p.into_inner()) = Some(probe);
    }

    pub(crate) fn snapshot(&self) -> UsageSnapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        UsageSnapshot {
            calls: read(&self.calls),
            busy_nanos: read(&self.busy_nanos),
            buckets: std::array::from_fn(|i| read(&self.buckets[i])),
            memory_bytes: read(&self.memory),
            memory_limit_bytes: read(&self.memory_limit),
            queued: read(&self.held) + self.queued_now(),
        }
    }

    fn queued_now(&self) -> u64 {
        let probe = self.queue.read().unwrap_or_else(|p| p.into_inner());
        probe.as_ref().map_or(0, |p| p() as u64)
    }
}

/// A module's usage at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageSnapshot {
    /// Calls into the module (a batch of messages is one call).
    pub calls: u64,
    /// The time those calls took, in nanoseconds.
    pub busy_nanos: u64,
    /// Calls per bucket of [`CALL_BUCKETS_US`], each bucket on its own (not
    /// cumulative).
    pub buckets: [u64; CALL_BUCKETS_US.len()],
    /// The running instance's linear memory (0 before the first call).
    pub memory_bytes: u64,
    /// The limit on it.
    pub memory_limit_bytes: u64,
    /// Messages waiting in its input queue.
    pub queued: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_fall_into_their_buckets_and_add_up() {
        let u = Usage::default();
        u.call_took(Duration::from_micros(3));
        u.call_took(Duration::from_micros(10));
        u.call_took(Duration::from_micros(11));
        u.call_took(Duration::from_secs(9));
        let s = u.snapshot();
        assert_eq!(s.calls, 4);
        assert_eq!(s.buckets[0], 2, "3 µs and 10 µs are ≤ 10 µs");
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets.iter().sum::<u64>(), 3, "9 s is over every bound");
        assert_eq!(s.busy_nanos, 9_000_024_000);
    }

    #[test]
    fn the_queue_is_read_when_asked() {
        let u = Usage::default();
        let (tx, _rx) = tokio::sync::mpsc::channel::<u8>(8);
        let weak = tx.downgrade();
        u.watch_queue(Box::new(move || {
            weak.upgrade()
                .map_or(0, |s| s.max_capacity() - s.capacity())
        }));
        u.set_held(1);
        assert_eq!(u.snapshot().queued, 1);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(u.snapshot().queued, 3);
    }
}
