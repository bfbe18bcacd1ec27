//! Merge patches: RFC 7396's own examples, `diff`, and their properties.

use super::super::{diff, merge};
use super::{document, merged, obj, patch_map, value};
use proptest::prelude::*;
use serde_json::{Value, json};

/// RFC 7396, appendix A: (target, patch, result).
fn rfc_examples() -> Vec<(Value, Value, Value)> {
    vec![
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
        (json!({"a": "foo"}), json!(null), json!(null)),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!([1, 2]),
            json!({"a": "b", "c": null}),
            json!({"a": "b"}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ]
}

#[test]
fn merge_follows_the_rfc_examples() {
    for (target, patch, expected) in rfc_examples() {
        let mut result = target.clone();
        merge(&mut result, &patch);
        assert_eq!(result, expected, "merging {patch} into {target}");
    }
}

#[test]
fn diff_lists_only_what_changed() {
    let old = obj(json!({
        "same": 1,
        "gone": true,
        "changed": "x",
        "nested": {"keep": 1, "drop": 2, "edit": [1]},
        "was_scalar": 3,
        "was_object": {"a": 1},
    }));
    let new = obj(json!({
        "same": 1,
        "changed": "y",
        "nested": {"keep": 1, "edit": [2], "add": {"deep": 1}},
        "was_scalar": {"now": "object"},
        "was_object": 4,
        "added": [null, 1],
    }));
    let patch = diff(&old, &new);
    assert_eq!(
        Value::Object(patch.clone()),
        json!({
            "gone": null,
            "changed": "y",
            "nested": {"drop": null, "edit": [2], "add": {"deep": 1}},
            "was_scalar": {"now": "object"},
            "was_object": 4,
            "added": [null, 1],
        })
    );
    assert_eq!(merged(&old, &patch), new);
}

#[test]
fn diff_of_equal_documents_is_empty() {
    let doc = obj(json!({"a": {"b": [1, 2]}, "c": "d"}));
    assert!(diff(&doc, &doc).is_empty());
}

#[test]
fn diff_to_an_emptied_object_deletes_each_member() {
    let old = obj(json!({"a": {"b": 1, "c": 2}}));
    let new = obj(json!({"a": {}}));
    let patch = diff(&old, &new);
    assert_eq!(
        Value::Object(patch.clone()),
        json!({"a": {"b": null, "c": null}})
    );
    assert_eq!(merged(&old, &patch), new);
}

proptest! {
    #[test]
    fn merging_the_diff_gives_the_new_document(old in document(), new in document()) {
        let patch = diff(&old, &new);
        prop_assert_eq!(merged(&old, &patch), new);
    }

    #[test]
    fn diff_of_a_document_with_itself_is_empty(doc in document()) {
        prop_assert!(diff(&doc, &doc).is_empty());
    }

    #[test]
    fn merging_a_patch_twice_is_merging_it_once(target in document(), patch in patch_map()) {
        let once = merged(&target, &patch);
        let twice = merged(&once, &patch);
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn merge_is_idempotent_on_any_json(target in value(true), patch in value(true)) {
        let mut once = target;
        merge(&mut once, &patch);
        let mut twice = once.clone();
        merge(&mut twice, &patch);
        prop_assert_eq!(twice, once);
    }
}
