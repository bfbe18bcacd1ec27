//! Waiting on what may not be there, for the tasks' `select!` loops: an
//! optional deadline, an optional channel, an optional task. Each resolves
//! never when there is nothing to wait on.

use std::future::Future;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Resolves at `at`, or never without one.
pub async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next message of `rx` (`None` once it is closed), or never without a
/// channel.
pub async fn recv<T>(rx: Option<&mut mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The output of `task`, or never without one.
pub async fn output<F: Future + Unpin>(task: Option<&mut F>) -> F::Output {
    match task {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}
