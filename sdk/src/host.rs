//! What a module can ask of the host: [`send`] a message, [`log`] a line, and
//! [`timer`]s.

use crate::Message;
use crate::bindings::module::{host, timers};
use std::fmt;

/// Why the host refused a [`send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The output name is empty, too long, or has characters other than letters,
    /// digits, `-`, `_` and `.`.
    InvalidOutput(String),
    /// The message is larger than the host's limit, in bytes.
    TooLarge(u32),
    /// The current call already sent as many messages as one call may.
    TooMany(u32),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::InvalidOutput(why) => write!(f, "invalid output name: {why}"),
            SendError::TooLarge(limit) => write!(f, "message larger than {limit} bytes"),
            SendError::TooMany(limit) => write!(f, "more than {limit} messages in one call"),
        }
    }
}

impl std::error::Error for SendError {}

impl From<host::SendError> for SendError {
    fn from(e: host::SendError) -> Self {
        match e {
            host::SendError::InvalidOutput(why) => SendError::InvalidOutput(why),
            host::SendError::TooLarge(limit) => SendError::TooLarge(limit),
            host::SendError::TooMany(limit) => SendError::TooMany(limit),
        }
    }
}

/// Sends `msg` out of the module's output `output`; the deployment's routes decide
/// where it goes. The host takes it when the current handler returns.
/// While a batch is handled ([`Module::on_messages`](crate::Module::on_messages))
/// it is sent for the batch's current message (see [`Batch`](crate::Batch)).
pub fn send(output: &str, msg: &Message) -> Result<(), SendError> {
    host::send(output, msg.as_wit()).map_err(SendError::from)
}

/// Log lines, written to the gateway's log with the module's name.
pub mod log {
    use crate::bindings::module::host;
    use crate::bindings::module::types::LogLevel;

    /// Logs at trace level.
    pub fn trace(text: &str) {
        host::log(LogLevel::Trace, text);
    }
    /// Logs at debug level.
    pub fn debug(text: &str) {
        host::log(LogLevel::Debug, text);
    }
    /// Logs at info level.
    pub fn info(text: &str) {
        host::log(LogLevel::Info, text);
    }
    /// Logs at warn level.
    pub fn warn(text: &str) {
        host::log(LogLevel::Warn, text);
    }
    /// Logs at error level.
    pub fn error(text: &str) {
        host::log(LogLevel::Error, text);
    }
}

/// Timers that call [`Module::on_timer`](crate::Module::on_timer).
pub mod timer {
    use super::timers;
    use std::fmt;
    use std::time::Duration;

    /// Why the host refused a timer.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum TimerError {
        /// The interval is below the host's minimum, in milliseconds.
        IntervalTooShort(u64),
        /// The module already has as many timers as it may.
        TooMany(u32),
    }

    impl fmt::Display for TimerError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TimerError::IntervalTooShort(min) => {
                    write!(f, "timer interval below the minimum of {min} ms")
                }
                TimerError::TooMany(max) => write!(f, "more than {max} timers"),
            }
        }
    }

    impl std::error::Error for TimerError {}

    /// Starts (or restarts) timer `id`: `on_timer(id)` runs after `interval`, and
    /// again every `interval` when `repeat` is true.
    pub fn set(id: u32, interval: Duration, repeat: bool) -> Result<(), TimerError> {
        let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        timers::set_timer(id, ms, repeat).map_err(|e| match e {
            timers::TimerError::IntervalTooShort(min) => TimerError::IntervalTooShort(min),
            timers::TimerError::TooMany(max) => TimerError::TooMany(max),
        })
    }

    /// Stops timer `id`; returns whether it was running.
    pub fn cancel(id: u32) -> bool {
        timers::cancel_timer(id)
    }
}
