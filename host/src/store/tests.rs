//! The store on a real sled database in a temporary directory.

use super::queue::{Quota, UNSET_PRIORITY, WhenFull, key_priority};
use super::*;
use crate::message::new_message;
use std::sync::Arc;

fn config(max_bytes: u64, when_full: WhenFull) -> StoreConfig {
    StoreConfig {
        quota: Quota {
            max_bytes,
            when_full,
        },
        default_ttl: Duration::from_secs(7200),
        flush: super::flush::FlushPolicy::default(),
    }
}

fn up(body: &str, priority: Option<u8>, ttl: Option<Duration>) -> UpstreamMessage {
    UpstreamMessage {
        route: Arc::from("r"),
        priority,
        time_to_live: ttl,
        message: new_message(body.as_bytes().to_vec()),
        receipt: None,
    }
}

fn bodies(store: &mut Store) -> Vec<String> {
    let (batch, _) = store.next_batch(usize::MAX, |_| false).unwrap();
    batch
        .iter()
        .map(|(_, r)| String::from_utf8_lossy(&r.message.body).into_owned())
        .collect()
}

#[test]
fn messages_survive_reopening_in_priority_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path(), config(1 << 20, WhenFull::Reject)).unwrap();
        let batch = [
            up("low-1", None, None),
            up("p5-1", Some(5), None),
            up("p0-1", Some(0), None),
            up("low-2", None, None),
            up("p0-2", Some(0), None),
        ];
        let report = store.accept(&batch).unwrap();
        assert!(
            report
                .offers
                .iter()
                .all(|o| matches!(o, Offer::Accepted(_)))
        );
        assert_eq!(store.depth(), 5);
    }
    let mut store = Store::open(dir.path(), config(1 << 20, WhenFull::Reject)).unwrap();
    assert_eq!(store.depth(), 5);
    assert_eq!(
        bodies(&mut store),
        ["p0-1", "p0-2", "p5-1", "low-1", "low-2"]
    );
    let (batch, _) = store.next_batch(2, |_| false).unwrap();
    assert_eq!(key_priority(&batch[0].0), 0);
    assert!(store.remove(&batch[0].0).unwrap());
    assert!(!store.remove(&batch[0].0).unwrap());
    let (rest, _) = store.next_batch(10, |k| *k == batch[1].0).unwrap();
    assert_eq!(rest.len(), 3, "in-flight keys are skipped");
}

#[test]
fn the_oldest_message_is_the_first_queued_whatever_its_priority() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(1 << 20, WhenFull::Reject)).unwrap();
    assert_eq!(store.oldest_created_ms(), None);
    let made_at = |body, priority, ms| {
        let mut m = up(body, priority, None);
        m.message.system.creation_time_ms = Some(ms);
        m
    };
    store
        .accept(&[made_at("low", None, 100), made_at("p0", Some(0), 300)])
        .unwrap();
    store.accept(&[made_at("p5", Some(5), 200)]).unwrap();
    // Sent first is p0, but the one waiting longest is the low-priority one.
    assert_eq!(store.oldest_created_ms(), Some(100));
    let (batch, _) = store.next_batch(3, |_| false).unwrap();
    let low = batch
        .iter()
        .find(|(k, _)| key_priority(k) == UNSET_PRIORITY);
    assert!(store.remove(&low.unwrap().0).unwrap());
    assert_eq!(
        store.oldest_created_ms(),
        Some(300),
        "p0 was queued before p5"
    );
}

#[test]
fn expired_messages_are_removed_and_counted_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(1 << 20, WhenFull::Reject)).unwrap();
    store
        .accept(&[
            up("short", Some(0), Some(Duration::from_millis(0))),
            up("long", Some(0), None),
        ])
        .unwrap();
    let (batch, expired) = store.next_batch(10, |_| false).unwrap();
    assert_eq!(expired, 1);
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].1.message.body, b"long");
    assert_eq!(store.depth(), 1);
    store
        .accept(&[up("gone", None, Some(Duration::from_millis(0)))])
        .unwrap();
    assert_eq!(store.expire().unwrap(), 1);
    assert_eq!(store.depth(), 1);
}

#[test]
fn a_full_quota_rejects_or_drops_the_oldest_lowest_priority() {
    let dir = tempfile::tempdir().unwrap();
    let body = "x".repeat(1000);
    let mut store = Store::open(dir.path(), config(4096, WhenFull::Reject)).unwrap();
    let batch: Vec<_> = (0..6).map(|_| up(&body, None, None)).collect();
    let report = store.accept(&batch).unwrap();
    let accepted = report
        .offers
        .iter()
        .filter(|o| matches!(o, Offer::Accepted(_)))
        .count();
    assert!((2..6).contains(&accepted), "{report:?}");
    assert_eq!(store.depth(), accepted as u64);
    assert!(store.used_bytes() <= 4096);
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(4096, WhenFull::DropOldest)).unwrap();
    store
        .accept(&[up(&format!("urgent{body}"), Some(0), None)])
        .unwrap();
    let batch: Vec<_> = (0..6)
        .map(|i| up(&format!("{i}{body}"), None, None))
        .collect();
    let report = store.accept(&batch).unwrap();
    assert!(
        report
            .offers
            .iter()
            .all(|o| matches!(o, Offer::Accepted(_)))
    );
    assert!(report.dropped_oldest >= 3, "{report:?}");
    let kept = bodies(&mut store);
    assert!(
        kept[0].starts_with("urgent"),
        "the higher priority stays: {kept:?}"
    );
    assert!(
        kept.last().unwrap().starts_with('5'),
        "the newest stays: {kept:?}"
    );
    assert!(
        !kept.iter().any(|b| b.starts_with('0')),
        "the oldest went: {kept:?}"
    );
}

#[test]
fn a_directory_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Store::open(dir.path(), config(1 << 20, WhenFull::Reject))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("not a ganglion store"), "{err}");
    assert!(
        dir.path().join("notes.txt").is_file(),
        "nothing was touched"
    );

    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("someone-elses")
            .unwrap()
            .insert("k", "v")
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), config(1 << 20, WhenFull::Reject))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree(META)
            .unwrap()
            .insert(FORMAT_KEY, "ganglion-store-99")
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), config(1 << 20, WhenFull::Reject))
        .err()
        .unwrap();
    assert!(err.to_string().contains("ganglion-store-99"), "{err}");
}

#[test]
fn a_corrupt_database_is_an_error_not_an_empty_queue() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path(), config(1 << 20, WhenFull::Reject)).unwrap();
        store.accept(&[up("keep", None, None)]).unwrap();
    }
    let db_file = dir.path().join("db");
    let len = std::fs::metadata(&db_file).unwrap().len() as usize;
    std::fs::write(&db_file, vec![0xA5u8; len.max(4096)]).unwrap();
    // sled reopens an overwritten file as an empty database; the store must
    // not take that for a fresh start.
    let err = Store::open(dir.path(), config(1 << 20, WhenFull::Reject))
        .err()
        .expect("a damaged store is refused");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("damaged"), "{err}");
    // Opening it again does not "repair" it into an empty store either.
    assert!(Store::open(dir.path(), config(1 << 20, WhenFull::Reject)).is_err());
}

#[test]
fn a_store_of_the_previous_format_has_its_queue_moved_into_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let record = |body: &str| QueuedMessage {
        accepted_ms: now_ms(),
        expires_ms: u64::MAX,
        route: "r".to_string(),
        message: new_message(body.as_bytes().to_vec()),
    };
    {
        // What ganglion-store-1 wrote: the queue as a sled tree.
        let db = sled::open(dir.path()).unwrap();
        db.open_tree(META)
            .unwrap()
            .insert(FORMAT_KEY, FORMAT_1)
            .unwrap();
        let tree = db.open_tree(UPSTREAM).unwrap();
        for (key, body) in [
            (queue::queue_key(None, 7), "low"),
            (queue::queue_key(Some(0), 9), "urgent"),
        ] {
            tree.insert(key, postcard::to_stdvec(&record(body)).unwrap())
                .unwrap();
        }
        db.flush().unwrap();
    }
    {
        let mut store = Store::open(dir.path(), config(1 << 20, WhenFull::Reject)).unwrap();
        assert_eq!(bodies(&mut store), ["urgent", "low"]);
        let report = store.accept(&[up("new", None, None)]).unwrap();
        let Offer::Accepted(key) = report.offers[0] else {
            panic!("{report:?}")
        };
        assert!(
            key > queue::queue_key(None, 7),
            "numbers go on after the moved ones"
        );
    }
    let mut store = Store::open(dir.path(), config(1 << 20, WhenFull::Reject)).unwrap();
    assert_eq!(bodies(&mut store), ["urgent", "low", "new"]);
    let format = store.db().open_tree(META).unwrap().get(FORMAT_KEY).unwrap();
    assert_eq!(format.as_deref(), Some(FORMAT));
    assert!(
        !store
            .db()
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == UPSTREAM.as_bytes())
    );
}
