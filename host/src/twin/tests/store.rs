//! The twin store on a real sled database in a temporary directory.

use super::super::store::TREE;
use super::super::{DEVICE_TWIN_ID, TwinDoc, TwinError, TwinStore};
use serde_json::json;

fn sample() -> TwinDoc {
    let mut doc = TwinDoc::default();
    doc.apply_desired_patch(
        &json!({"$version": 4, "interval": 30, "cfg": {"on": true}}),
        None,
    )
    .unwrap();
    doc.apply_reported_patch(&json!({"fw": "1.2", "list": [1, null, {"a": 2}]}))
        .unwrap();
    doc
}

#[test]
fn an_absent_twin_loads_empty_at_version_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = TwinStore::open(&db).unwrap();
    assert_eq!(store.load(DEVICE_TWIN_ID).unwrap(), TwinDoc::default());
    assert_eq!(store.load("filter").unwrap(), TwinDoc::default());
}

#[test]
fn a_saved_twin_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = TwinStore::open(&db).unwrap();
    let doc = sample();
    store.save("filter", &doc).unwrap();
    assert_eq!(store.load("filter").unwrap(), doc);
    assert_eq!(store.load(DEVICE_TWIN_ID).unwrap(), TwinDoc::default());
}

#[test]
fn twins_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let doc = sample();
    {
        let db = sled::open(dir.path()).unwrap();
        let store = TwinStore::open(&db).unwrap();
        store.save(DEVICE_TWIN_ID, &doc).unwrap();
        store.save("filter", &TwinDoc::default()).unwrap();
        let mut changed = doc.clone();
        changed.apply_reported_patch(&json!({"fw": "1.3"})).unwrap();
        store.save("filter", &changed).unwrap();
    }
    let db = sled::open(dir.path()).unwrap();
    let store = TwinStore::open(&db).unwrap();
    assert_eq!(store.load(DEVICE_TWIN_ID).unwrap(), doc);
    let filter = store.load("filter").unwrap();
    assert_eq!(filter.reported.get("fw"), Some(&json!("1.3")));
    assert_eq!(filter.reported_version, doc.reported_version + 1);
}

#[test]
fn a_removed_twin_loads_empty_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let store = TwinStore::open(&db).unwrap();
        store.save("filter", &sample()).unwrap();
        store.remove("filter").unwrap();
        store.remove("never-there").unwrap();
    }
    let db = sled::open(dir.path()).unwrap();
    let store = TwinStore::open(&db).unwrap();
    assert_eq!(store.load("filter").unwrap(), TwinDoc::default());
}

#[test]
fn records_are_readable_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = TwinStore::open(&db).unwrap();
    store.save("filter", &sample()).unwrap();
    let raw = db.open_tree(TREE).unwrap().get("filter").unwrap().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(value["desired_version"], json!(4));
    assert_eq!(value["desired"]["interval"], json!(30));
    assert_eq!(value["reported_version"], json!(1));
}

#[test]
fn a_damaged_record_is_an_error_naming_the_twin_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let store = TwinStore::open(&db).unwrap();
    let tree = db.open_tree(TREE).unwrap();
    tree.insert("filter", &b"{\"desired\": {}, \"desired_ver"[..])
        .unwrap();
    let err = store.load("filter").unwrap_err();
    assert!(matches!(&err, TwinError::Corrupt { twin_id, .. } if twin_id == "filter"));
    let message = err.to_string();
    assert!(
        message.starts_with("twin filter: the stored document does not decode ("),
        "{message}"
    );
    assert!(
        message.ends_with("it was left as it is, not reset"),
        "{message}"
    );
    assert!(tree.get("filter").unwrap().is_some());
    // A record of the wrong shape is refused too, not read as an empty twin.
    tree.insert("other", &b"{\"desired\": []}"[..]).unwrap();
    assert!(matches!(
        store.load("other"),
        Err(TwinError::Corrupt { .. })
    ));
}
