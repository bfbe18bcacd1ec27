//! Azure's limits: keys, depth and size, in patches and in the result, and
//! the twin left unchanged when one is broken.

use super::super::limits::{MAX_DEPTH, MAX_KEY_BYTES, MAX_SECTION_BYTES, json_len};
use super::super::{TwinDoc, TwinError, Violation};
use super::obj;
use serde_json::{Value, json};

/// A twin with something in both sections, to check that refusals change
/// nothing.
fn busy_twin() -> TwinDoc {
    let mut doc = TwinDoc::default();
    doc.apply_desired_patch(&json!({"a": {"x": 1}}), Some(3))
        .unwrap();
    doc.apply_reported_patch(&json!({"r": 1})).unwrap();
    doc
}

/// Applies `patch` as a desired and as a reported patch, and as a full
/// desired document; each must be refused with `message` (with `desired` or
/// `reported` first) and leave the twin unchanged.
fn refused_everywhere(patch: Value, message: &str) {
    let mut doc = busy_twin();
    let before = doc.clone();
    let err = doc.apply_desired_patch(&patch, Some(10)).unwrap_err();
    assert_eq!(err.to_string(), format!("desired.{message}"));
    let err = doc.replace_desired(&patch, 10).unwrap_err();
    assert_eq!(err.to_string(), format!("desired.{message}"));
    let err = doc.apply_reported_patch(&patch).unwrap_err();
    assert_eq!(err.to_string(), format!("reported.{message}"));
    assert_eq!(doc, before);
}

/// An object that, as the value of a top-level key, is `depth` deep.
fn nested(depth: usize) -> Value {
    (1..depth).fold(json!({"leaf": 1}), |inner, _| json!({"n": inner}))
}

/// A string value that makes `{"k": value}` exactly `bytes` long.
fn padded(bytes: usize) -> Value {
    let overhead = json_len(&obj(json!({"k": ""})));
    Value::String("x".repeat(bytes - overhead))
}

#[test]
fn keys_with_forbidden_characters_are_refused() {
    refused_everywhere(json!({"a": {"b$": 1}}), "a.b$: key contains '$'");
    refused_everywhere(json!({"a.b": 1}), "a.b: key contains '.'");
    refused_everywhere(
        json!({"a": {"has space": 1}}),
        "a.has space: key contains a space",
    );
    refused_everywhere(
        json!({"bell\u{7}": 1}),
        "bell\\u{7}: key contains the control character U+0007",
    );
    refused_everywhere(
        json!({"c1\u{85}": 1}),
        "c1\\u{85}: key contains the control character U+0085",
    );
    refused_everywhere(json!({"a": {"": 1}}), "a.: key is empty");
}

#[test]
fn keys_inside_arrays_are_checked_too() {
    refused_everywhere(
        json!({"list": [1, {"ok": 1, "bad$": 2}]}),
        "list[1].bad$: key contains '$'",
    );
}

#[test]
fn keys_may_use_other_unicode() {
    let mut doc = TwinDoc::default();
    doc.apply_reported_patch(&json!({"température-°C_#1": 21.5, "名前": "x"}))
        .unwrap();
}

#[test]
fn a_key_of_one_kib_is_allowed_and_one_byte_more_is_not() {
    let mut doc = TwinDoc::default();
    let longest = "k".repeat(MAX_KEY_BYTES);
    doc.apply_reported_patch(&json!({ longest: 1 })).unwrap();
    let too_long = "k".repeat(MAX_KEY_BYTES + 1);
    let err = doc
        .apply_desired_patch(&json!({ too_long: 1 }), None)
        .unwrap_err();
    let shown = format!("{}…", "k".repeat(64));
    assert_eq!(
        err.to_string(),
        format!("desired.{shown}: key is 1025 bytes long; at most 1024 are allowed")
    );
}

#[test]
fn nesting_ten_deep_is_allowed_and_eleven_is_not() {
    let mut doc = TwinDoc::default();
    doc.apply_desired_patch(&json!({"top": nested(MAX_DEPTH)}), None)
        .unwrap();
    doc.apply_reported_patch(&json!({"top": nested(MAX_DEPTH)}))
        .unwrap();
    let path = format!("top{}", ".n".repeat(MAX_DEPTH));
    refused_everywhere(
        json!({"top": nested(MAX_DEPTH + 1)}),
        &format!(
            "{path}: objects and arrays are nested 11 deep here; at most 10 levels are allowed"
        ),
    );
}

#[test]
fn arrays_count_as_a_level() {
    let mut doc = TwinDoc::default();
    // Ten levels: nine objects, then an array holding a scalar.
    let ten = (1..MAX_DEPTH - 1).fold(json!({"a": [1]}), |inner, _| json!({"n": inner}));
    doc.apply_reported_patch(&json!({ "top": ten })).unwrap();
    // Eleven: the same, with an array inside the last array.
    let eleven = (1..MAX_DEPTH - 1).fold(json!({"a": [[1]]}), |inner, _| json!({"n": inner}));
    let err = doc
        .apply_reported_patch(&json!({ "top": eleven }))
        .unwrap_err();
    assert!(
        matches!(&err, TwinError::Limit { violation: Violation::TooDeep { depth: 11 }, path }
            if path.ends_with(".a[0]")),
        "{err}"
    );
}

#[test]
fn a_section_of_exactly_32_kib_is_allowed() {
    let mut doc = TwinDoc::default();
    doc.apply_reported_patch(&json!({"k": padded(MAX_SECTION_BYTES)}))
        .unwrap();
    assert_eq!(json_len(&doc.reported), MAX_SECTION_BYTES);
}

#[test]
fn a_patch_over_32_kib_is_refused() {
    let patch = json!({"k": padded(MAX_SECTION_BYTES + 1)});
    let mut doc = busy_twin();
    let before = doc.clone();
    let err = doc.apply_reported_patch(&patch).unwrap_err();
    assert_eq!(
        err.to_string(),
        "reported: the patch is 32769 bytes of JSON; at most 32768 are allowed"
    );
    let err = doc.apply_desired_patch(&patch, None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("desired: the patch is 32769 bytes"),
        "{err}"
    );
    let err = doc.replace_desired(&patch, 9).unwrap_err();
    assert!(
        err.to_string().starts_with("desired: the result would be"),
        "{err}"
    );
    assert_eq!(doc, before);
}

#[test]
fn small_patches_that_grow_the_section_past_32_kib_are_refused() {
    let mut doc = TwinDoc::default();
    let chunk = "x".repeat(10 * 1024);
    for key in ["a", "b", "c"] {
        doc.apply_desired_patch(&json!({ key: chunk }), None)
            .unwrap();
    }
    let before = doc.clone();
    let err = doc
        .apply_desired_patch(&json!({ "d": chunk }), None)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            TwinError::Limit { path, violation: Violation::DocumentTooLarge { bytes } }
                if path == "desired" && *bytes > MAX_SECTION_BYTES
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("desired: the result would be "),
        "{err}"
    );
    assert_eq!(doc, before);
    // Replacing a value keeps the size, so it is still allowed.
    doc.apply_desired_patch(&json!({ "a": chunk.replace('x', "y") }), None)
        .unwrap();
}
