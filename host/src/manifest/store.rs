//! The `[store-and-forward]` table: the `$upstream` queue's time to live, disk
//! quota and flush policy.
//!
//! ```toml
//! [store-and-forward]
//! time-to-live-secs = 7200     # unless a route sets its own
//! max-bytes = 268435456        # the queue's disk quota
//! when-full = "reject"         # or "drop-oldest"
//! flush = "durable"            # or "periodic": see crate::store::flush
//! commit-window-ms = 10        # durable only: the group-commit window (≤ 1000)
//! # flush-interval-ms = 1000   # periodic only: how often it flushes (≤ 60000)
//! ```

use super::Collector;
use crate::store::flush::{self, FlushPolicy};
use crate::store::queue::{Quota, WhenFull};
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct StoreAndForwardDto {
    time_to_live_secs: Option<i64>,
    max_bytes: Option<i64>,
    when_full: Option<String>,
    flush: Option<String>,
    commit_window_ms: Option<i64>,
    flush_interval_ms: Option<i64>,
}

/// The default time a message may wait for the cloud (Azure IoT Edge's 7200 s).
pub const DEFAULT_TIME_TO_LIVE: Duration = Duration::from_secs(7200);

/// The default disk quota of the `$upstream` queue.
pub const DEFAULT_QUEUE_BYTES: u64 = 256 * 1024 * 1024;

/// The `[store-and-forward]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreAndForward {
    /// How long a message may wait for the cloud before it expires, unless its
    /// route says otherwise (`time-to-live-secs`, default 7200).
    pub time_to_live: Duration,
    /// The disk quota of the queue (`max-bytes`, default 256 MiB) and what to
    /// do when it is full (`when-full`: `reject`, the default, or
    /// `drop-oldest`).
    pub quota: Quota,
    /// When the queue's writes reach the disk (`flush`, `commit-window-ms`,
    /// `flush-interval-ms`; by default each batch is flushed before it counts
    /// as accepted).
    pub flush: FlushPolicy,
}

impl Default for StoreAndForward {
    fn default() -> Self {
        StoreAndForward {
            time_to_live: DEFAULT_TIME_TO_LIVE,
            quota: Quota {
                max_bytes: DEFAULT_QUEUE_BYTES,
                when_full: WhenFull::Reject,
            },
            flush: FlushPolicy::default(),
        }
    }
}

/// Validates the table; each problem is added to `c`, and the defaults stand
/// in for what is wrong.
pub(super) fn validate(
    dto: Option<&Spanned<StoreAndForwardDto>>,
    c: &mut Collector<'_>,
) -> StoreAndForward {
    let mut settings = StoreAndForward::default();
    let Some(dto) = dto else {
        return settings;
    };
    let span = dto.span();
    let d = dto.get_ref();
    if let Some(secs) = d.time_to_live_secs {
        match u64::try_from(secs) {
            Ok(secs) if secs > 0 => settings.time_to_live = Duration::from_secs(secs),
            _ => c.add(
                span.clone(),
                "store-and-forward.time-to-live-secs",
                format!("must be a positive number of seconds, not {secs}"),
            ),
        }
    }
    if let Some(bytes) = d.max_bytes {
        match u64::try_from(bytes) {
            Ok(bytes) if bytes >= 4096 => settings.quota.max_bytes = bytes,
            _ => c.add(
                span.clone(),
                "store-and-forward.max-bytes",
                format!("must be at least 4096 bytes, not {bytes}"),
            ),
        }
    }
    match d.when_full.as_deref() {
        None | Some("reject") => {}
        Some("drop-oldest") => settings.quota.when_full = WhenFull::DropOldest,
        Some(other) => c.add(
            span.clone(),
            "store-and-forward.when-full",
            format!("must be `reject` or `drop-oldest`, not `{other}`"),
        ),
    }
    settings.flush = flush_policy(d, span, c);
    settings
}

/// A number of milliseconds from `min` to `max`, or a problem in `c`.
fn millis(
    value: i64,
    (min, max): (Duration, Duration),
    field: &str,
    span: &std::ops::Range<usize>,
    c: &mut Collector<'_>,
) -> Option<Duration> {
    match u64::try_from(value).map(Duration::from_millis) {
        Ok(d) if d >= min && d <= max => Some(d),
        _ => {
            c.add(
                span.clone(),
                format!("store-and-forward.{field}"),
                format!(
                    "must be from {} to {} ms, not {value}",
                    min.as_millis(),
                    max.as_millis()
                ),
            );
            None
        }
    }
}

fn flush_policy(
    d: &StoreAndForwardDto,
    span: std::ops::Range<usize>,
    c: &mut Collector<'_>,
) -> FlushPolicy {
    match d.flush.as_deref() {
        None | Some("durable") => {
            if d.flush_interval_ms.is_some() {
                c.add(
                    span.clone(),
                    "store-and-forward.flush-interval-ms",
                    "applies only to `flush = \"periodic\"`; the durable policy flushes \
                     each batch (see commit-window-ms)",
                );
            }
            let window = d
                .commit_window_ms
                .and_then(|ms| {
                    millis(
                        ms,
                        (Duration::ZERO, flush::MAX_WINDOW),
                        "commit-window-ms",
                        &span,
                        c,
                    )
                })
                .unwrap_or(flush::DEFAULT_WINDOW);
            FlushPolicy::Durable { window }
        }
        Some("periodic") => {
            if d.commit_window_ms.is_some() {
                c.add(
                    span.clone(),
                    "store-and-forward.commit-window-ms",
                    "applies only to `flush = \"durable\"`; the periodic policy accepts \
                     messages before they are flushed (see flush-interval-ms)",
                );
            }
            let interval = d
                .flush_interval_ms
                .and_then(|ms| {
                    millis(
                        ms,
                        (Duration::from_millis(1), flush::MAX_INTERVAL),
                        "flush-interval-ms",
                        &span,
                        c,
                    )
                })
                .unwrap_or(flush::DEFAULT_INTERVAL);
            FlushPolicy::Periodic { interval }
        }
        Some(other) => {
            c.add(
                span,
                "store-and-forward.flush",
                format!("must be `durable` or `periodic`, not `{other}`"),
            );
            FlushPolicy::default()
        }
    }
}
