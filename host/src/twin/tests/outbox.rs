//! The reported outbox: folding patches, and the net change it sends.

use super::super::ReportedOutbox;
use super::{document, merged, obj, patch_map};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Pushes each patch, in order, into a new outbox.
fn outbox_of(patches: &[Value]) -> ReportedOutbox {
    let mut outbox = ReportedOutbox::new();
    for patch in patches {
        outbox.push(&obj(patch.clone()));
    }
    outbox
}

/// Takes every waiting patch, in order.
fn drain(outbox: &mut ReportedOutbox) -> Vec<Value> {
    std::iter::from_fn(|| outbox.take().map(Value::Object)).collect()
}

#[test]
fn an_empty_outbox_has_nothing_to_take() {
    let mut outbox = ReportedOutbox::new();
    assert!(outbox.is_empty());
    assert_eq!(outbox.take(), None);
    outbox.push(&Map::new());
    assert_eq!(outbox.take(), None);
}

#[test]
fn take_returns_the_patch_and_clears_it() {
    let mut outbox = outbox_of(&[json!({"a": 1})]);
    assert_eq!(outbox.take(), Some(obj(json!({"a": 1}))));
    assert!(outbox.is_empty());
    assert_eq!(outbox.take(), None);
}

#[test]
fn a_later_value_wins() {
    let mut outbox = outbox_of(&[json!({"a": 1, "b": 2}), json!({"a": 3})]);
    assert_eq!(drain(&mut outbox), vec![json!({"a": 3, "b": 2})]);
}

#[test]
fn a_set_then_a_delete_gives_a_delete() {
    let mut outbox = outbox_of(&[json!({"a": 1}), json!({"a": null})]);
    assert_eq!(drain(&mut outbox), vec![json!({"a": null})]);
}

#[test]
fn a_delete_then_a_set_gives_the_set() {
    let mut outbox = outbox_of(&[json!({"a": null}), json!({"a": 1})]);
    assert_eq!(drain(&mut outbox), vec![json!({"a": 1})]);
}

#[test]
fn nested_objects_fold_key_by_key() {
    let mut outbox = outbox_of(&[
        json!({"a": {"b": 1, "c": {"d": 1}}}),
        json!({"a": {"c": {"e": 2}, "f": 3}}),
    ]);
    assert_eq!(
        drain(&mut outbox),
        vec![json!({"a": {"b": 1, "c": {"d": 1, "e": 2}, "f": 3}})]
    );
}

#[test]
fn a_nested_delete_survives_as_null() {
    let mut outbox = outbox_of(&[json!({"a": {"b": 1, "c": 2}}), json!({"a": {"b": null}})]);
    assert_eq!(drain(&mut outbox), vec![json!({"a": {"b": null, "c": 2}})]);
}

#[test]
fn a_delete_then_an_object_is_sent_as_two_patches() {
    // Upstream holds {"a": {"old": 1}}; it must end with exactly {"a": {"new": 2}}.
    let mut outbox = outbox_of(&[json!({"a": null}), json!({"a": {"new": 2, "x": null}})]);
    let sent = drain(&mut outbox);
    assert_eq!(sent, vec![json!({"a": null}), json!({"a": {"new": 2}})]);
    let mut upstream = obj(json!({"a": {"old": 1}, "b": 1}));
    for patch in &sent {
        upstream = merged(&upstream, &obj(patch.clone()));
    }
    assert_eq!(Value::Object(upstream), json!({"a": {"new": 2}, "b": 1}));
}

#[test]
fn a_later_scalar_cancels_a_queued_delete() {
    let mut outbox = outbox_of(&[json!({"a": null}), json!({"a": {"b": 1}}), json!({"a": 5})]);
    assert_eq!(drain(&mut outbox), vec![json!({"a": 5})]);
}

#[test]
fn a_patch_that_failed_to_send_goes_back_first() {
    let mut outbox = outbox_of(&[json!({"a": 1, "b": 1})]);
    let Some(taken) = outbox.take() else {
        panic!("nothing to take");
    };
    outbox.push(&obj(json!({"b": null, "c": 3})));
    outbox.restore(taken);
    assert_eq!(drain(&mut outbox), vec![json!({"a": 1, "b": null, "c": 3})]);
}

/// Applies each patch in turn to `target`.
fn apply_all(target: &Map<String, Value>, patches: &[Map<String, Value>]) -> Map<String, Value> {
    patches.iter().fold(target.clone(), |t, p| merged(&t, p))
}

proptest! {
    #[test]
    fn the_folded_patches_do_what_the_pushed_ones_did(
        upstream in document(),
        patches in prop::collection::vec(patch_map(), 0..6),
    ) {
        let mut outbox = ReportedOutbox::new();
        for patch in &patches {
            outbox.push(patch);
        }
        let sent: Vec<_> = std::iter::from_fn(|| outbox.take()).collect();
        prop_assert!(sent.len() <= 2);
        prop_assert_eq!(apply_all(&upstream, &sent), apply_all(&upstream, &patches));
    }

    #[test]
    fn restoring_a_failed_send_keeps_the_net_change(
        upstream in document(),
        before in prop::collection::vec(patch_map(), 1..4),
        after in prop::collection::vec(patch_map(), 0..4),
    ) {
        let mut outbox = ReportedOutbox::new();
        for patch in &before {
            outbox.push(patch);
        }
        let taken = outbox.take();
        for patch in &after {
            outbox.push(patch);
        }
        if let Some(taken) = taken {
            outbox.restore(taken);
        }
        let sent: Vec<_> = std::iter::from_fn(|| outbox.take()).collect();
        let pushed: Vec<_> = before.iter().chain(&after).cloned().collect();
        prop_assert_eq!(apply_all(&upstream, &sent), apply_all(&upstream, &pushed));
    }
}
