//! The twin's operations: desired patches and versions, full desired
//! documents, reported patches.

use super::super::{DesiredOutcome, TwinDoc, TwinError};
use super::obj;
use serde_json::{Value, json};

/// A twin whose desired section is `desired`, at `version`.
fn twin(desired: Value, version: u64) -> TwinDoc {
    TwinDoc {
        desired: obj(desired),
        desired_version: version,
        ..TwinDoc::default()
    }
}

fn applied(version: u64, patch: Value) -> DesiredOutcome {
    DesiredOutcome::Applied {
        version,
        patch: obj(patch),
    }
}

#[test]
fn a_new_twin_is_empty_at_version_zero() {
    let doc = TwinDoc::default();
    assert!(doc.desired.is_empty() && doc.reported.is_empty());
    assert_eq!((doc.desired_version, doc.reported_version), (0, 0));
}

#[test]
fn a_desired_patch_takes_its_version_from_dollar_version() {
    let mut doc = twin(json!({"a": 1, "b": {"c": 1, "d": 2}}), 2);
    let outcome = doc
        .apply_desired_patch(&json!({"$version": 3, "a": null, "b": {"c": 5}}), None)
        .unwrap();
    assert_eq!(outcome, applied(3, json!({"a": null, "b": {"c": 5}})));
    assert_eq!(Value::Object(doc.desired), json!({"b": {"c": 5, "d": 2}}));
    assert_eq!(doc.desired_version, 3);
}

#[test]
fn an_explicit_version_wins_over_dollar_version() {
    let mut doc = TwinDoc::default();
    let outcome = doc
        .apply_desired_patch(&json!({"$version": "ignored", "a": 1}), Some(7))
        .unwrap();
    assert_eq!(outcome, applied(7, json!({"a": 1})));
    assert_eq!(doc.desired_version, 7);
    assert!(!doc.desired.contains_key("$version"));
}

#[test]
fn a_patch_without_any_version_gets_the_next_one() {
    let mut doc = twin(json!({}), 4);
    let outcome = doc.apply_desired_patch(&json!({"a": 1}), None).unwrap();
    assert_eq!(outcome, applied(5, json!({"a": 1})));
    assert_eq!(doc.desired_version, 5);
}

#[test]
fn a_patch_at_or_below_the_current_version_is_stale() {
    let mut doc = twin(json!({"a": 1}), 5);
    let before = doc.clone();
    for version in [0, 4, 5] {
        let outcome = doc
            .apply_desired_patch(&json!({"$version": version, "a": 2}), None)
            .unwrap();
        assert_eq!(outcome, DesiredOutcome::Stale);
        let outcome = doc
            .apply_desired_patch(&json!({"a": 3}), Some(version))
            .unwrap();
        assert_eq!(outcome, DesiredOutcome::Stale);
    }
    assert_eq!(doc, before);
}

#[test]
fn a_gap_in_versions_is_still_applied() {
    let mut doc = twin(json!({}), 1);
    let outcome = doc.apply_desired_patch(&json!({"a": 1}), Some(9)).unwrap();
    assert_eq!(outcome, applied(9, json!({"a": 1})));
}

#[test]
fn a_malformed_dollar_version_is_refused() {
    let mut doc = TwinDoc::default();
    for bad in [json!("3"), json!(-1), json!(1.5), json!(null)] {
        let err = doc
            .apply_desired_patch(&json!({"$version": bad, "a": 1}), None)
            .unwrap_err();
        assert!(matches!(err, TwinError::BadVersion { .. }), "{err}");
    }
    let err = doc
        .apply_desired_patch(&json!({"$version": "x"}), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the desired patch's $version must be a non-negative integer, but it is \"x\""
    );
    assert_eq!(doc, TwinDoc::default());
}

#[test]
fn a_patch_that_is_not_an_object_is_refused() {
    let mut doc = TwinDoc::default();
    let err = doc.apply_desired_patch(&json!([1]), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the desired patch must be a JSON object, but it is an array"
    );
    let err = doc.apply_reported_patch(&json!("x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the reported patch must be a JSON object, but it is a string"
    );
    let err = doc.replace_desired(&Value::Null, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the desired document must be a JSON object, but it is null"
    );
}

#[test]
fn the_desired_version_cannot_wrap() {
    let mut doc = twin(json!({}), u64::MAX);
    let err = doc.apply_desired_patch(&json!({"a": 1}), None).unwrap_err();
    assert!(matches!(err, TwinError::VersionExhausted { .. }), "{err}");
    assert_eq!(doc.desired_version, u64::MAX);
}

#[test]
fn replacing_desired_returns_the_diff() {
    let mut doc = twin(json!({"keep": 1, "gone": 2, "n": {"x": 1, "y": 2}}), 3);
    let full = json!({"$version": 8, "keep": 1, "n": {"x": 1, "y": 3}, "new": [1]});
    let outcome = doc.replace_desired(&full, 8).unwrap();
    assert_eq!(
        outcome,
        applied(8, json!({"gone": null, "n": {"y": 3}, "new": [1]}))
    );
    assert_eq!(
        Value::Object(doc.desired),
        json!({"keep": 1, "n": {"x": 1, "y": 3}, "new": [1]})
    );
    assert_eq!(doc.desired_version, 8);
}

#[test]
fn replacing_desired_with_an_old_version_is_stale() {
    let mut doc = twin(json!({"a": 1}), 3);
    let before = doc.clone();
    assert_eq!(
        doc.replace_desired(&json!({}), 3).unwrap(),
        DesiredOutcome::Stale
    );
    assert_eq!(
        doc.replace_desired(&json!({}), 1).unwrap(),
        DesiredOutcome::Stale
    );
    assert_eq!(doc, before);
}

#[test]
fn replacing_desired_treats_null_members_as_absent() {
    let mut doc = twin(json!({"a": 1}), 0);
    let outcome = doc
        .replace_desired(&json!({"a": null, "b": {"c": null, "d": [null]}}), 1)
        .unwrap();
    assert_eq!(outcome, applied(1, json!({"a": null, "b": {"d": [null]}})));
    assert_eq!(Value::Object(doc.desired), json!({"b": {"d": [null]}}));
}

#[test]
fn replacing_desired_with_the_same_content_gives_an_empty_patch() {
    let mut doc = twin(json!({"a": 1}), 1);
    let outcome = doc.replace_desired(&json!({"a": 1}), 2).unwrap();
    assert_eq!(outcome, applied(2, json!({})));
    assert_eq!(doc.desired_version, 2);
}

#[test]
fn a_reported_patch_merges_and_bumps_the_version() {
    let mut doc = TwinDoc::default();
    assert_eq!(
        doc.apply_reported_patch(&json!({"t": 20, "s": {"ok": true}}))
            .unwrap(),
        1
    );
    assert_eq!(
        doc.apply_reported_patch(&json!({"t": null, "s": {"n": 1}}))
            .unwrap(),
        2
    );
    assert_eq!(
        Value::Object(doc.reported.clone()),
        json!({"s": {"ok": true, "n": 1}})
    );
    assert_eq!(doc.reported_version, 2);
    assert_eq!(doc.desired_version, 0);
}

#[test]
fn a_reported_patch_cannot_set_dollar_version() {
    let mut doc = TwinDoc::default();
    let err = doc
        .apply_reported_patch(&json!({"$version": 4}))
        .unwrap_err();
    assert_eq!(err.to_string(), "reported.$version: key contains '$'");
    assert_eq!(doc, TwinDoc::default());
}

#[test]
fn a_twin_round_trips_through_serde() {
    let mut doc = TwinDoc::default();
    doc.apply_desired_patch(&json!({"a": [1, {"b": 2}]}), Some(4))
        .unwrap();
    doc.apply_reported_patch(&json!({"c": "d"})).unwrap();
    let text = serde_json::to_string(&doc).unwrap();
    assert_eq!(serde_json::from_str::<TwinDoc>(&text).unwrap(), doc);
}
