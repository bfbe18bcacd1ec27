//! Tests of the twin module: merge patches, limits, the twin's operations,
//! the keeper and the sled store.

mod doc;
mod keeper;
mod limits;
mod patch;
mod store;

use proptest::prelude::*;
use serde_json::{Map, Value};

/// The object in `value`; panics (in tests only) if it is not one.
fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// A short key, from a small alphabet so that generated documents share keys.
fn key() -> impl Strategy<Value = String> {
    "[a-d]{1,2}"
}

/// A JSON value. With `null_members`, `null` may appear anywhere (as in a
/// patch); without, only inside arrays (as in a twin's document).
fn value(null_members: bool) -> BoxedStrategy<Value> {
    let scalar = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,3}".prop_map(Value::from),
    ];
    let leaf = if null_members {
        prop_oneof![1 => Just(Value::Null), 3 => scalar].boxed()
    } else {
        scalar.boxed()
    };
    leaf.prop_recursive(4, 48, 4, move |inner| {
        let item = prop_oneof![1 => Just(Value::Null), 4 => inner.clone()];
        prop_oneof![
            prop::collection::vec(item, 0..3).prop_map(Value::Array),
            object_of(inner).prop_map(Value::Object),
        ]
    })
    .boxed()
}

/// An object whose member values come from `values`.
fn object_of(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), values, 0..4).prop_map(|m| m.into_iter().collect())
}

/// A twin section: an object with no `null` member at any depth.
fn document() -> impl Strategy<Value = Map<String, Value>> {
    object_of(value(false))
}

/// A merge patch: an object that may delete with `null`.
fn patch_map() -> impl Strategy<Value = Map<String, Value>> {
    object_of(value(true))
}

/// Applies `patch` to the object `target`, returning the result.
fn merged(target: &Map<String, Value>, patch: &Map<String, Value>) -> Map<String, Value> {
    let mut value = Value::Object(target.clone());
    super::merge(&mut value, &Value::Object(patch.clone()));
    obj(value)
}
