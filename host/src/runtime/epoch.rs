//! CPU deadlines by epoch interruption: a thread of its own advances the
//! engine's epoch every [`EPOCH_TICK`] (a task could be starved by guests that
//! spin on every worker), and each call gets a budget of ticks.

use super::{Runtime, RuntimeError};
use std::time::Duration;
use wasmtime::Engine;

/// How often the engine's epoch advances: the granularity of CPU deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Runtime {
    /// Starts the thread that advances the epoch. Dropping the returned
    /// handle stops it.
    pub fn start_epoch_ticker(&self) -> Result<EpochTicker, RuntimeError> {
        let engine = self.engine.clone();
        // A rendezvous channel that nothing is sent on: dropping the sender
        // wakes the thread and ends it.
        let (stop, stopped) = std::sync::mpsc::sync_channel::<()>(0);
        let thread = std::thread::Builder::new()
            .name("ganglion-epoch".to_string())
            .spawn(move || tick(&engine, &stopped))
            .map_err(|e| RuntimeError(format!("cannot start the epoch ticker: {e}")))?;
        Ok(EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`], on a fixed schedule that
/// skips the ticks it missed, until `stopped` disconnects.
fn tick(engine: &Engine, stopped: &std::sync::mpsc::Receiver<()>) {
    let mut next = std::time::Instant::now() + EPOCH_TICK;
    loop {
        let now = std::time::Instant::now();
        match stopped.recv_timeout(next.saturating_duration_since(now)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
        engine.increment_epoch();
        next += EPOCH_TICK;
        let now = std::time::Instant::now();
        if next <= now {
            next = now + EPOCH_TICK;
        }
    }
}

/// The number of epoch ticks in `deadline`, at least one.
pub fn deadline_ticks(deadline: Duration) -> u64 {
    let ticks = deadline.as_millis() / EPOCH_TICK.as_millis().max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// Advances the engine's epoch, on a thread of its own, while it lives.
pub struct EpochTicker {
    stop: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the epoch ticker thread panicked");
        }
    }
}
