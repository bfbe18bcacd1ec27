//! Waiting for a condition in a test: poll it until it holds or a deadline
//! passes, then fail saying what was awaited and what was last seen.

// Test support: a failed expectation is a panic, with what was seen.
#![allow(clippy::panic)]

use std::fmt::Debug;
use std::time::Duration;
use tokio::time::Instant;

/// How often [`eventually`] polls.
pub const POLL: Duration = Duration::from_millis(10);

/// Polls `check` every [`POLL`] until it returns `Ok`, and returns that
/// value. After `within` it panics with `what` and the last `Err` it gave.
pub async fn eventually<T, E: Debug>(
    within: Duration,
    what: &str,
    check: impl FnMut() -> Result<T, E>,
) -> T {
    eventually_every(POLL, within, what, check).await
}

/// [`eventually`], polling every `poll` (a test that times what it waits
/// for polls more often).
pub async fn eventually_every<T, E: Debug>(
    poll: Duration,
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match check() {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {within:?} waiting for {what}; last seen: {seen:?}")
            }
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
}

/// [`eventually_every`] for a check that must await (a request to the
/// gateway, a publish): `attempt` is tried every `poll` until it returns
/// `Ok`; after `within` the test fails with `what` and the last `Err`.
pub async fn retry<T, E: Debug, F: Future<Output = Result<T, E>>>(
    poll: Duration,
    within: Duration,
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {within:?} waiting for {what}; last seen: {seen:?}")
            }
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
}
