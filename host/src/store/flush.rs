//! When the `$upstream` queue's writes reach the disk: the trade-off between
//! durability, latency and the wear of an SD card.
//!
//! The queue is a segment log (see [`crate::store::log`]): a message is
//! appended once, and a flush (`fdatasync`) writes what was appended since the
//! last one, rounded up to the pages it touched. With one flush per message a
//! page is written again for each; sharing a flush between many messages
//! divides that.
//!
//! - [`FlushPolicy::Durable`] (the default) keeps the rule that nothing counts
//!   as accepted before it is on disk: a leaf's PUBACK and a module's send
//!   receipt wait for the flush. Its `window` is a group commit: the first
//!   message of a batch waits up to that long for others to share its flush.
//!   A window of zero (the default) flushes each batch as soon as it is
//!   written, which costs the most writes and adds no latency; a window of a
//!   few milliseconds costs that much latency and, under load, divides the
//!   writes by the number of messages that arrive in it.
//! - [`FlushPolicy::Periodic`] counts a message as accepted once it is
//!   written to the log (in the kernel's page cache) and flushes every
//!   `interval`. A crash or a power cut loses
//!   what was accepted since the last flush (up to `interval` of messages);
//!   a clean stop (SIGTERM) flushes first and loses nothing. Choose it only
//!   where the card's life matters more than the last second of telemetry.

use std::time::Duration;

/// The longest group-commit window: past it a message's acceptance would
/// wait longer than a leaf device's publish timeout is likely to allow.
pub const MAX_WINDOW: Duration = Duration::from_secs(1);
/// The longest interval between flushes of the periodic policy.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// The interval of the periodic policy when the manifest names none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// How often what no acceptance flushed is flushed, under the durable
/// policy: the removals of delivered messages (one lost in a crash only means
/// the message is sent again), and sled's own writes.
pub const BACKGROUND_FLUSH: Duration = Duration::from_millis(500);

/// How the `$upstream` queue flushes (`[store-and-forward]` `flush`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Accepted only once flushed; a batch waits up to `window` for more
    /// messages to share its flush (`flush = "durable"`,
    /// `commit-window-ms`, default 0).
    Durable {
        /// The group-commit window.
        window: Duration,
    },
    /// Accepted once written, flushed every `interval` (`flush = "periodic"`,
    /// `flush-interval-ms`, default 1000).
    Periodic {
        /// How often the queue is flushed.
        interval: Duration,
    },
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy::Durable {
            window: Duration::ZERO,
        }
    }
}

impl FlushPolicy {
    /// Whether a message counts as accepted only after the flush.
    pub fn acknowledges_after_flush(&self) -> bool {
        matches!(self, FlushPolicy::Durable { .. })
    }

    /// How long a batch waits for more messages before it is written.
    pub fn window(&self) -> Duration {
        match self {
            FlushPolicy::Durable { window } => *window,
            FlushPolicy::Periodic { .. } => Duration::ZERO,
        }
    }

    /// How often the queue and sled are flushed in the background.
    pub fn background_flush(&self) -> Duration {
        match self {
            FlushPolicy::Durable { .. } => BACKGROUND_FLUSH,
            FlushPolicy::Periodic { interval } => *interval,
        }
    }
}

impl std::fmt::Display for FlushPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlushPolicy::Durable { window } if window.is_zero() => {
                write!(f, "durable, each batch flushed at once")
            }
            FlushPolicy::Durable { window } => {
                write!(f, "durable, group commit within {window:?}")
            }
            FlushPolicy::Periodic { interval } => {
                write!(
                    f,
                    "periodic, every {interval:?} (a power cut loses up to that)"
                )
            }
        }
    }
}
