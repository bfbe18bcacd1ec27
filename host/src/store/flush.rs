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
//!   receipt wait for the flush. The messages themselves do not: they are
//!   appended at once and may be published to the cloud before their flush
//!   is done. Its `window` is a group commit: a flush starts once a page's
//!   worth of records waits, or once the oldest has waited `window`, and the
//!   next one as soon as it is done, so that under load flushes follow each
//!   other and the window only bounds the wait of a quiet gateway. The
//!   default, [`DEFAULT_WINDOW`], shares one page write between the messages
//!   of 10 ms: at 1,000 messages a second a tenth of a page each, where one
//!   flush per message writes a whole page for each; a window of zero
//!   flushes as soon as the previous flush is done.
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
/// The group-commit window of the durable policy when the manifest names
/// none: the longest a leaf's PUBACK waits for other messages to share its
/// flush. Only acknowledgements wait, not delivery upstream.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(10);
/// How often what no acceptance flushed is flushed, under the durable
/// policy: the removals of delivered messages (one lost in a crash only means
/// the message is sent again), and sled's own writes.
pub const BACKGROUND_FLUSH: Duration = Duration::from_millis(500);

/// How the `$upstream` queue flushes (`[store-and-forward]` `flush`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Accepted only once flushed; a message waits up to `window` for more
    /// to share its flush (`flush = "durable"`, `commit-window-ms`, default
    /// [`DEFAULT_WINDOW`]).
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
            window: DEFAULT_WINDOW,
        }
    }
}

impl FlushPolicy {
    /// Whether a message counts as accepted only after the flush.
    pub fn acknowledges_after_flush(&self) -> bool {
        matches!(self, FlushPolicy::Durable { .. })
    }

    /// How long an appended message waits for more to share its flush.
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
                write!(f, "durable, each flush as soon as the last is done")
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
