//! The window engine: event-time tumbling and hopping windows per key, a
//! watermark, and the late-event policy. Pure and host-independent: it sees
//! event times, keys and numbers, never a message, so it is tested natively.
//!
//! - Windows are aligned to the epoch: window `k` is `[k·hop, k·hop + size)`.
//!   Tumbling windows have `hop == size`; with `hop < size` an event belongs
//!   to every window that contains it. The end is exclusive: an event exactly
//!   at a window's end belongs to the next window.
//! - The watermark is the largest event time seen minus the late tolerance,
//!   and never goes back. A window closes once the watermark reaches its end.
//! - An event older than the largest event time seen is late. It is accepted
//!   (and counted as late) into each of its windows still open; when all of
//!   them are closed it is dropped and counted.
//! - [`Engine::tick`] advances the watermark by processing time while the
//!   stream is idle, so windows close even when events stop.

use crate::stats::Stats;
use std::collections::BTreeMap;

/// How windows are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The window length, in ms (at least 1).
    pub size_ms: u64,
    /// The distance between window starts, in ms (1 to `size_ms`).
    pub hop_ms: u64,
    /// How far behind the largest event time an event may be and still be
    /// waited for, in ms.
    pub tolerance_ms: u64,
    /// How many fields each window aggregates.
    pub fields: usize,
    /// The most (window, key) aggregates open at once.
    pub max_open: usize,
}

/// One window's aggregate for one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// How many events the window holds.
    pub events: u64,
    /// The statistics of each field, in the configured order.
    pub fields: Vec<Stats>,
}

/// A window taken out of the engine, to be emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// The window's start, in ms since the epoch (inclusive).
    pub start: u64,
    /// Its end (exclusive).
    pub end: u64,
    /// The key.
    pub key: String,
    /// What it holds.
    pub aggregate: Aggregate,
    /// True when the watermark passed its end; false when it was flushed
    /// early by a configuration change.
    pub complete: bool,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Added to `windows` windows; `late` when older than an event seen
    /// before it.
    Accepted {
        /// Whether it was late.
        late: bool,
        /// How many windows took it.
        windows: usize,
    },
    /// Every window it belongs to had closed: dropped.
    TooLate,
    /// It would have opened windows beyond the cap: dropped.
    Refused,
}

/// What the engine counted since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Events accepted, late or not.
    pub accepted: u64,
    /// Late events accepted (within the tolerance).
    pub late_accepted: u64,
    /// Late events dropped because all their windows had closed.
    pub late_dropped: u64,
    /// Window memberships refused because the cap on open windows was met.
    pub refused_windows: u64,
}

/// The engine: open windows by (start, key), and the watermark.
#[derive(Debug, Clone)]
pub struct Engine {
    spec: Spec,
    open: BTreeMap<(u64, String), Aggregate>,
    /// Windows an event's watermark closed before it was added, so that they
    /// no longer count against the cap; [`Engine::close_ready`] returns them.
    ready: Vec<Closed>,
    max_event: Option<u64>,
    watermark: Option<u64>,
    /// Timer ticks since the largest event time last grew.
    idle_ticks: u64,
    counters: Counters,
}

impl Engine {
    /// An engine with no windows and no watermark yet.
    pub fn new(spec: Spec) -> Self {
        Engine {
            spec,
            open: BTreeMap::new(),
            ready: Vec::new(),
            max_event: None,
            watermark: None,
            idle_ticks: 0,
            counters: Counters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// How many (window, key) aggregates are open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// The watermark, once an event was seen.
    pub fn watermark(&self) -> Option<u64> {
        self.watermark
    }

    /// The starts of the windows that contain `time`, oldest first.
    pub fn window_starts(&self, time: u64) -> impl Iterator<Item = u64> + use<> {
        let Spec {
            size_ms, hop_ms, ..
        } = self.spec;
        let hop = hop_ms.max(1);
        let first = if time >= size_ms {
            (time - size_ms) / hop + 1
        } else {
            0
        };
        (first..=time / hop).map(move |k| k * hop)
    }

    fn is_closed(&self, end: u64) -> bool {
        self.watermark.is_some_and(|w| end <= w)
    }

    /// Adds an event at `time` for `key`, with one value per field (`None`
    /// where the event lacks the field). An event that raises the watermark
    /// first takes out the windows it closes (never its own), so they do not
    /// count against the cap. Call [`Engine::close_ready`] after.
    pub fn observe(&mut self, time: u64, key: &str, values: &[Option<f64>]) -> Verdict {
        let late = self.max_event.is_some_and(|m| time < m);
        if !late {
            self.max_event = Some(time);
            self.idle_ticks = 0;
            self.raise_watermark(time.saturating_sub(self.spec.tolerance_ms));
            let closed = self.take_ready();
            self.ready.extend(closed);
        }
        let (mut entered, mut closed, mut refused) = (0usize, 0usize, 0usize);
        for start in self.window_starts(time) {
            if self.is_closed(start.saturating_add(self.spec.size_ms)) {
                closed += 1;
                continue;
            }
            let slot = (start, key.to_string());
            if !self.open.contains_key(&slot) && self.open.len() >= self.spec.max_open {
                refused += 1;
                continue;
            }
            let fields = self.spec.fields;
            let agg = self.open.entry(slot).or_insert_with(|| Aggregate {
                events: 0,
                fields: vec![Stats::default(); fields],
            });
            agg.events += 1;
            for (stats, value) in agg.fields.iter_mut().zip(values) {
                if let Some(v) = value.filter(|v| v.is_finite()) {
                    stats.add(v);
                }
            }
            entered += 1;
        }
        self.counters.refused_windows += refused as u64;
        if entered == 0 && closed > 0 && refused == 0 {
            self.counters.late_dropped += 1;
            return Verdict::TooLate;
        }
        if entered == 0 {
            return Verdict::Refused;
        }
        self.counters.accepted += 1;
        if late {
            self.counters.late_accepted += 1;
        }
        Verdict::Accepted {
            late,
            windows: entered,
        }
    }

    fn raise_watermark(&mut self, to: u64) {
        self.watermark = Some(self.watermark.map_or(to, |w| w.max(to)));
    }

    /// Counts one tick of the processing-time timer, `interval_ms` long. While
    /// no event raises the largest event time, event time is taken to advance
    /// with processing time: the watermark moves to the largest event time
    /// plus the idle time, minus the tolerance. Idle time counts whole
    /// intervals after the first tick (the first may come just after the
    /// last event), so it is never overestimated.
    pub fn tick(&mut self, interval_ms: u64) {
        self.idle_ticks = self.idle_ticks.saturating_add(1);
        let Some(max) = self.max_event else { return };
        let idle = (self.idle_ticks - 1).saturating_mul(interval_ms);
        let estimate = max.saturating_add(idle);
        self.raise_watermark(estimate.saturating_sub(self.spec.tolerance_ms));
    }

    /// Takes out every window whose end the watermark has reached, oldest
    /// first (by start, then key).
    pub fn close_ready(&mut self) -> Vec<Closed> {
        let mut ready = std::mem::take(&mut self.ready);
        ready.extend(self.take_ready());
        ready
    }

    fn take_ready(&mut self) -> Vec<Closed> {
        let mut ready = Vec::new();
        let Some(watermark) = self.watermark else {
            return ready;
        };
        while let Some(entry) = self.open.first_entry() {
            let end = entry.key().0.saturating_add(self.spec.size_ms);
            if end > watermark {
                break;
            }
            let ((start, key), aggregate) = entry.remove_entry();
            ready.push(Closed {
                start,
                end,
                key,
                aggregate,
                complete: true,
            });
        }
        ready
    }

    /// Takes out every open window (those the watermark has not closed are
    /// marked incomplete) and cuts windows by `spec` from now on. The
    /// watermark, the largest event time and the counters carry over; idle
    /// time counts afresh.
    pub fn reconfigure(&mut self, spec: Spec) -> Vec<Closed> {
        let mut flushed = self.close_ready();
        let size = self.spec.size_ms;
        flushed.extend(std::mem::take(&mut self.open).into_iter().map(
            |((start, key), aggregate)| Closed {
                start,
                end: start.saturating_add(size),
                key,
                aggregate,
                complete: false,
            },
        ));
        self.spec = spec;
        self.idle_ticks = 0;
        flushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size_ms: u64, hop_ms: u64, tolerance_ms: u64) -> Spec {
        Spec {
            size_ms,
            hop_ms,
            tolerance_ms,
            fields: 1,
            max_open: 16,
        }
    }

    fn summary(closed: &[Closed]) -> Vec<(u64, &str, u64)> {
        closed
            .iter()
            .map(|c| (c.start, c.key.as_str(), c.aggregate.events))
            .collect()
    }

    #[test]
    fn an_event_at_a_window_end_opens_the_next_window() {
        let mut e = Engine::new(spec(10, 10, 0));
        e.observe(3, "a", &[Some(1.0)]);
        e.observe(9, "a", &[Some(2.0)]);
        assert!(e.close_ready().is_empty());
        e.observe(10, "a", &[Some(3.0)]);
        let closed = e.close_ready();
        assert_eq!(summary(&closed), vec![(0, "a", 2)]);
        assert_eq!((closed[0].end, closed[0].complete), (10, true));
        assert_eq!(closed[0].aggregate.fields[0].avg(), Some(1.5));
        assert_eq!(e.open_count(), 1);
    }

    #[test]
    fn hopping_windows_hold_each_event_in_every_window_that_contains_it() {
        let e = Engine::new(spec(10, 5, 0));
        assert_eq!(e.window_starts(7).collect::<Vec<_>>(), vec![0, 5]);
        assert_eq!(e.window_starts(10).collect::<Vec<_>>(), vec![5, 10]);
        assert_eq!(e.window_starts(3).collect::<Vec<_>>(), vec![0]);
        let e = Engine::new(spec(10, 3, 0));
        assert_eq!(e.window_starts(10).collect::<Vec<_>>(), vec![3, 6, 9]);
    }

    #[test]
    fn late_events_within_tolerance_count_and_later_ones_drop() {
        let mut e = Engine::new(spec(10, 10, 5));
        e.observe(12, "a", &[Some(1.0)]);
        // Watermark 7: window [0, 10) is open, so 8 is late but accepted.
        let v = e.observe(8, "a", &[Some(2.0)]);
        assert_eq!(
            v,
            Verdict::Accepted {
                late: true,
                windows: 1
            }
        );
        e.observe(16, "a", &[Some(3.0)]);
        // Watermark 11: [0, 10) closes with the late event (12 is in [10, 20)).
        assert_eq!(summary(&e.close_ready()), vec![(0, "a", 1)]);
        assert_eq!(e.observe(9, "a", &[Some(4.0)]), Verdict::TooLate);
        let c = e.counters();
        assert_eq!((c.accepted, c.late_accepted, c.late_dropped), (3, 1, 1));
    }

    #[test]
    fn the_tick_closes_windows_of_an_idle_stream() {
        let mut e = Engine::new(spec(10, 10, 2));
        e.observe(5, "a", &[Some(1.0)]);
        e.tick(4); // the first tick counts no idle time: watermark 3
        assert_eq!(e.watermark(), Some(3));
        e.tick(4); // 4 ms idle: estimate 9, watermark 7
        assert!(e.close_ready().is_empty());
        e.tick(4); // 8 ms idle: estimate 13, watermark 11
        assert_eq!(summary(&e.close_ready()), vec![(0, "a", 1)]);
        e.observe(12, "a", &[None]);
        assert_eq!(e.watermark(), Some(11), "the watermark never goes back");
    }

    #[test]
    fn the_cap_refuses_new_windows_but_feeds_open_ones() {
        let mut e = Engine::new(Spec {
            max_open: 2,
            ..spec(10, 10, 100)
        });
        e.observe(1, "a", &[Some(1.0)]);
        e.observe(1, "b", &[Some(1.0)]);
        assert_eq!(e.observe(1, "c", &[Some(1.0)]), Verdict::Refused);
        assert!(matches!(
            e.observe(2, "a", &[Some(2.0)]),
            Verdict::Accepted { .. }
        ));
        assert_eq!((e.open_count(), e.counters().refused_windows), (2, 1));
        // An event whose watermark closes windows frees their places first.
        let mut e = Engine::new(Spec {
            max_open: 1,
            ..spec(10, 10, 0)
        });
        e.observe(1, "a", &[Some(1.0)]);
        let v = e.observe(10, "b", &[Some(2.0)]);
        assert_eq!(
            v,
            Verdict::Accepted {
                late: false,
                windows: 1
            }
        );
        assert_eq!(summary(&e.close_ready()), vec![(0, "a", 1)]);
        assert_eq!(e.open_count(), 1);
    }

    #[test]
    fn reconfigure_flushes_open_windows_as_incomplete() {
        let mut e = Engine::new(spec(10, 10, 0));
        e.observe(4, "a", &[Some(1.0)]);
        e.observe(4, "b", &[Some(f64::NAN)]);
        let flushed = e.reconfigure(spec(20, 20, 0));
        assert_eq!(summary(&flushed), vec![(0, "a", 1), (0, "b", 1)]);
        assert!(flushed.iter().all(|c| !c.complete && c.end == 10));
        assert_eq!(flushed[1].aggregate.fields[0].count(), 0, "NaN is skipped");
        e.observe(15, "a", &[Some(2.0)]);
        assert_eq!(e.window_starts(15).collect::<Vec<_>>(), vec![0]);
        assert_eq!(e.watermark(), Some(15));
    }
}
