//! Telemetry series the operator charts on the local web page: a number
//! picked out of the messages that take a route (a `$body` path, as route
//! conditions write it), kept for the last hour in a bounded ring.
//!
//! The router records (it is the one writer, and only for routes that have
//! a series); the web endpoint reads. Values that fall into the same second
//! are averaged into one point, so a series holds at most
//! [`SERIES_POINTS`] points whatever the message rate: 3600 points of 24
//! bytes, about 86 KB at most per series.

use crate::route::BodyPath;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How long a series keeps its points.
pub const SERIES_SPAN_MS: u64 = 3_600_000;

/// How long one point covers: values within it are averaged.
pub const POINT_MS: u64 = 1_000;

/// The most points a series holds (an hour of one-second points).
pub const SERIES_POINTS: usize = (SERIES_SPAN_MS / POINT_MS) as usize;

/// A series as the manifest asks for it (`[[metrics.chart]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    /// The route whose messages are read.
    pub route: String,
    /// Where the number is in their JSON body.
    pub path: BodyPath,
    /// The chart's title (by default `route: path`).
    pub title: String,
}

/// One point: the mean of the values recorded within one [`POINT_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// The start of its second, in milliseconds since the Unix epoch.
    pub t: u64,
    /// The mean of its values.
    pub v: f64,
    #[serde(skip)]
    n: u32,
}

/// One charted series and its last hour of points.
#[derive(Debug)]
pub struct Series {
    /// What the manifest asked for.
    pub spec: ChartSpec,
    points: Mutex<VecDeque<Point>>,
}

impl Series {
    /// An empty series for `spec`.
    pub fn new(spec: ChartSpec) -> Series {
        Series {
            spec,
            points: Mutex::new(VecDeque::new()),
        }
    }

    /// Records `value` read at `now_ms`. Values that are not finite are
    /// not recorded.
    pub fn record(&self, now_ms: u64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let t = now_ms - now_ms % POINT_MS;
        let mut points = self.points.lock().unwrap_or_else(|p| p.into_inner());
        match points.back_mut() {
            Some(last) if last.t == t => {
                last.n += 1;
                last.v += (value - last.v) / f64::from(last.n);
            }
            _ => {
                if points.len() == SERIES_POINTS {
                    points.pop_front();
                }
                points.push_back(Point { t, v: value, n: 1 });
            }
        }
        trim(&mut points, now_ms);
    }

    /// The points of the last hour (before `now_ms`) whose second starts at
    /// or after `since_ms`, oldest first. The newest may still change: a
    /// reader that asks again from its `t` gets it again.
    pub fn points_since(&self, since_ms: u64, now_ms: u64) -> Vec<Point> {
        let mut points = self.points.lock().unwrap_or_else(|p| p.into_inner());
        trim(&mut points, now_ms);
        let first = points.partition_point(|p| p.t < since_ms);
        points.range(first..).copied().collect()
    }
}

/// Drops the points older than an hour.
fn trim(points: &mut VecDeque<Point>, now_ms: u64) {
    let oldest = now_ms.saturating_sub(SERIES_SPAN_MS);
    while points.front().is_some_and(|p| p.t < oldest) {
        points.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> Series {
        Series::new(ChartSpec {
            route: "alerts".into(),
            path: BodyPath::compile("machine.temperature").unwrap(),
            title: "t".into(),
        })
    }

    #[test]
    fn values_in_one_second_are_averaged_into_one_point() {
        let s = series();
        s.record(10_000, 1.0);
        s.record(10_500, 2.0);
        s.record(10_999, 6.0);
        s.record(11_000, 5.0);
        let points = s.points_since(0, 11_000);
        assert_eq!(points.len(), 2);
        assert_eq!((points[0].t, points[0].v), (10_000, 3.0));
        assert_eq!((points[1].t, points[1].v), (11_000, 5.0));
        assert_eq!(s.points_since(11_000, 11_000).len(), 1);
    }

    #[test]
    fn an_hour_is_kept_and_no_more() {
        let s = series();
        let start = 1_000_000;
        for i in 0..(SERIES_POINTS as u64 + 500) {
            s.record(start + i * POINT_MS, i as f64);
        }
        let now = start + (SERIES_POINTS as u64 + 499) * POINT_MS;
        let points = s.points_since(0, now);
        assert_eq!(points.len(), SERIES_POINTS);
        assert_eq!(
            points.last().map(|p| p.v),
            Some((SERIES_POINTS + 499) as f64)
        );
        // Ten minutes later with nothing recorded: only the points of the
        // last hour are left.
        let later = now + 600 * POINT_MS;
        let left = s.points_since(0, later);
        assert!(left.iter().all(|p| p.t >= later - SERIES_SPAN_MS));
        assert_eq!(left.len(), SERIES_POINTS - 599);
    }

    #[test]
    fn values_that_are_not_numbers_are_not_recorded() {
        let s = series();
        s.record(1_000, f64::NAN);
        s.record(1_000, f64::INFINITY);
        assert!(s.points_since(0, 1_000).is_empty());
    }
}
