//! The twin keeper, with a real sled database in a temporary directory.

use super::super::keeper::{DesiredChange, REPORTED_CHANGES};
use super::super::{DesiredOutcome, TwinDoc, TwinStore, Twins};
use crate::protocol::twin::VersionedDoc;
use serde_json::json;
use tokio::sync::{mpsc, watch};

fn doc(value: serde_json::Value) -> VersionedDoc {
    VersionedDoc::parse(value.to_string().as_bytes()).unwrap()
}

#[tokio::test]
async fn a_report_is_applied_published_stored_and_told_to_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = TwinStore::open(&db).unwrap();
    let (changes_tx, mut changes) = mpsc::channel(REPORTED_CHANGES);
    let (twins, task) = Twins::start(Some(store.clone()), Some(changes_tx), None);
    let twin = twins.open("filter").await.unwrap();

    twin.report(r#"{"count": 3}"#).await.unwrap();
    assert_eq!(twin.reported().version, 1);
    assert_eq!(twin.reported().properties["count"], 3);
    let change = changes.recv().await.unwrap();
    assert_eq!(&*change.twin, "filter");
    assert_eq!(change.patch["count"], 3);

    // Stored once the batch is done: a desired change, answered after its
    // store, proves the report before it is on disk too.
    twin.change_desired(DesiredChange::Patch(json!({"limit": 5})))
        .await
        .unwrap();
    let stored = store.load("filter").unwrap();
    assert_eq!(stored.reported["count"], 3);
    assert_eq!(stored.desired["limit"], 5);
    drop((twin, twins));
    task.await.unwrap();
}

#[tokio::test]
async fn a_refused_report_changes_nothing_and_says_why() {
    let (changes_tx, mut changes) = mpsc::channel(REPORTED_CHANGES);
    let (twins, _task) = Twins::start(None, Some(changes_tx), None);
    let twin = twins.open("filter").await.unwrap();
    let not_json = twin.report("{count").await.unwrap_err();
    assert!(not_json.contains("not JSON"), "{not_json}");
    let not_object = twin.report("[1]").await.unwrap_err();
    assert!(not_object.contains("JSON object"), "{not_object}");
    let dollar = twin.report(r#"{"$x": 1}"#).await.unwrap_err();
    assert!(dollar.contains("$x"), "{dollar}");
    assert_eq!(twin.reported().version, 0);
    assert!(changes.try_recv().is_err());
}

#[tokio::test]
async fn reports_faster_than_the_agent_takes_them_are_refused() {
    let (changes_tx, _changes) = mpsc::channel(1);
    let (twins, _task) = Twins::start(None, Some(changes_tx), None);
    let twin = twins.open("filter").await.unwrap();
    twin.report(r#"{"a": 1}"#).await.unwrap();
    let full = twin.report(r#"{"a": 2}"#).await.unwrap_err();
    assert!(full.contains("faster"), "{full}");
    assert_eq!(twin.reported().properties["a"], 1);
}

#[tokio::test]
async fn a_desired_document_replaces_the_section_once_and_every_handle_sees_it() {
    let (twins, _task) = Twins::start(None, None, None);
    let first = twins.open("filter").await.unwrap();
    let second = twins.open("filter").await.unwrap();
    let outcome = first
        .change_desired(DesiredChange::Replace(doc(json!({"$version": 3, "a": 1}))))
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        DesiredOutcome::Applied { version: 3, .. }
    ));
    assert_eq!(second.desired().version, 3);
    assert_eq!(second.desired().properties["a"], 1);
    let stale = second
        .change_desired(DesiredChange::Replace(doc(json!({"$version": 3, "a": 2}))))
        .await
        .unwrap();
    assert_eq!(stale, DesiredOutcome::Stale);
    let refused = second
        .change_desired(DesiredChange::Patch(json!({"$version": "x"})))
        .await
        .unwrap_err();
    assert!(refused.contains("$version"), "{refused}");
    assert_eq!(first.desired().properties["a"], 1);
}

#[tokio::test]
async fn a_stored_twin_is_loaded_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = TwinStore::open(&db).unwrap();
    let mut saved = TwinDoc::default();
    saved.apply_reported_patch(&json!({"fw": "1.2"})).unwrap();
    store.save("filter", &saved).unwrap();
    let (twins, _task) = Twins::start(Some(store), None, None);
    let twin = twins.open("filter").await.unwrap();
    assert_eq!(twin.reported().properties["fw"], "1.2");
    assert_eq!(twin.reported().version, 1);
}

#[tokio::test]
async fn after_shutdown_the_keeper_says_so() {
    let (stop, stopped) = watch::channel(false);
    let (twins, task) = Twins::start(None, None, Some(stopped));
    let twin = twins.open("filter").await.unwrap();
    stop.send(true).unwrap();
    task.await.unwrap();
    let why = twin.report(r#"{"a": 1}"#).await.unwrap_err();
    assert!(why.contains("stopping"), "{why}");
    assert!(twins.open("other").await.is_err());
}
