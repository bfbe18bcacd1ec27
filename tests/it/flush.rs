//! The `$upstream` queue's flush policies, on a real store: a group commit
//! holds a batch for its window (or until a page's worth waits) and then
//! accepts it whole, durable; the periodic policy accepts at once, and a
//! clean stop leaves everything on disk. Time is tokio's paused clock, so the windows are exact.

use ganglion::envelope::UpstreamMessage;
use ganglion::message::new_message;
use ganglion::metrics::Metrics;
use ganglion::receipt::{Outcome, Receipt};
use ganglion::store::flush::FlushPolicy;
use ganglion::store::queue::{Quota, WhenFull};
use ganglion::store::{Store, StoreConfig};
use ganglion::upstream::{self, UpstreamIo};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::timeout;

fn config(flush: FlushPolicy) -> StoreConfig {
    StoreConfig {
        quota: Quota {
            max_bytes: 1 << 20,
            when_full: WhenFull::Reject,
        },
        default_ttl: Duration::from_secs(7200),
        flush,
    }
}

/// A message for the queue, and where its acceptance is heard.
fn message(body: &str) -> (UpstreamMessage, oneshot::Receiver<Outcome>) {
    let (receipt, accepted) = Receipt::new();
    let up = UpstreamMessage {
        route: Arc::from("to-cloud"),
        priority: None,
        time_to_live: None,
        message: new_message(body.as_bytes().to_vec()),
        receipt: Some(receipt),
    };
    (up, accepted)
}

/// The sink on a store in `dir`, with no cloud connection.
fn sink(
    dir: &Path,
    flush: FlushPolicy,
) -> (
    mpsc::Sender<UpstreamMessage>,
    broadcast::Receiver<UpstreamMessage>,
    tokio::task::JoinHandle<()>,
) {
    let store = Store::open(dir, config(flush)).unwrap();
    let (tx, rx) = mpsc::channel(16);
    let (observers, observed) = broadcast::channel(16);
    let task = tokio::spawn(upstream::run(
        store,
        UpstreamIo {
            rx,
            link: None,
            metrics: Arc::new(Metrics::new([], [])),
            link_state: tokio::sync::watch::channel(Default::default()).0,
            observers,
            flush,
            questions: mpsc::channel(1).1,
        },
    ));
    (tx, observed, task)
}

fn bodies(store: &mut Store) -> Vec<String> {
    let (queued, _) = store.next_batch(100, |_| false).unwrap();
    queued
        .into_iter()
        .map(|(_, q)| String::from_utf8(q.message.body).unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_group_commit_holds_a_batch_for_its_window_then_accepts_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let window = Duration::from_millis(50);
    let (tx, mut observed, task) = sink(dir.path(), FlushPolicy::Durable { window });
    let (a, mut a_accepted) = message("a");
    let (b, mut b_accepted) = message("b");
    tx.send(a).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    tx.send(b).await.unwrap();
    // 40 ms in: the window is still open, so neither counts as accepted.
    assert!(
        timeout(Duration::from_millis(30), observed.recv())
            .await
            .is_err(),
        "a message was accepted before the window closed"
    );
    assert!(a_accepted.try_recv().is_err() && b_accepted.try_recv().is_err());
    // The window closes at 50 ms: both are flushed together and accepted.
    for expected in ["a", "b"] {
        let got = timeout(Duration::from_secs(5), observed.recv())
            .await
            .expect("accepted once the window closed")
            .unwrap();
        assert_eq!(got.message.body, expected.as_bytes());
    }
    assert_eq!(
        (a_accepted.await, b_accepted.await),
        (Ok(Outcome::Safe), Ok(Outcome::Safe))
    );
    drop(tx);
    task.await.unwrap();
    let mut store = Store::open(dir.path(), config(FlushPolicy::default())).unwrap();
    assert_eq!(bodies(&mut store), ["a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn without_a_window_each_batch_is_accepted_as_soon_as_it_is_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FlushPolicy::Durable {
        window: Duration::ZERO,
    };
    let (tx, mut observed, task) = sink(dir.path(), policy);
    let (a, a_accepted) = message("a");
    tx.send(a).await.unwrap();
    let started = tokio::time::Instant::now();
    let got = timeout(Duration::from_secs(5), observed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.message.body, b"a");
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no timer stood between the message and its acceptance"
    );
    assert_eq!(a_accepted.await, Ok(Outcome::Safe));
    drop(tx);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_page_of_waiting_records_is_flushed_before_the_window_closes() {
    let dir = tempfile::tempdir().unwrap();
    let window = Duration::from_secs(10);
    let (tx, mut observed, task) = sink(dir.path(), FlushPolicy::Durable { window });
    let started = tokio::time::Instant::now();
    let body = "x".repeat(upstream::SYNC_BYTES as usize);
    let (big, accepted) = message(&body);
    tx.send(big).await.unwrap();
    let got = timeout(Duration::from_secs(5), observed.recv())
        .await
        .expect("accepted without waiting for the window")
        .unwrap();
    assert_eq!(got.message.body.len(), body.len());
    assert!(started.elapsed() < window);
    assert_eq!(accepted.await, Ok(Outcome::Safe));
    drop(tx);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_periodic_policy_accepts_at_once_and_a_clean_stop_flushes_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FlushPolicy::Periodic {
        interval: Duration::from_secs(60),
    };
    let (tx, mut observed, task) = sink(dir.path(), policy);
    let mut receipts = Vec::new();
    for body in ["a", "b", "c"] {
        let (m, accepted) = message(body);
        tx.send(m).await.unwrap();
        receipts.push(accepted);
    }
    for expected in ["a", "b", "c"] {
        let got = timeout(Duration::from_secs(5), observed.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.message.body, expected.as_bytes());
    }
    for accepted in receipts {
        assert_eq!(accepted.await, Ok(Outcome::Safe));
    }
    // Long before the interval's flush: a clean stop flushes what was
    // accepted, so a new process finds all of it.
    drop(tx);
    task.await.unwrap();
    let mut store = Store::open(dir.path(), config(FlushPolicy::default())).unwrap();
    assert_eq!(bodies(&mut store), ["a", "b", "c"]);
}
