//! JSON merge patches ([RFC 7396]): applying one with [`merge`], and computing
//! the one that turns a document into another with [`diff`].
//!
//! In a merge patch an object is merged key by key, a `null` member deletes
//! that key, and anything else (a string, a number, a boolean, an array)
//! replaces the target's value whole. Arrays are never merged element by
//! element.
//!
//! [RFC 7396]: https://www.rfc-editor.org/rfc/rfc7396

use serde_json::{Map, Value};

/// Applies the merge patch `patch` to `target`, as RFC 7396 defines it.
///
/// If `patch` is an object, `target` becomes an object (whatever it was
/// before), each `null` member of the patch removes that key, and each other
/// member is merged into the target's value for that key, recursively. If
/// `patch` is not an object, it replaces `target` whole.
///
/// Applying the same patch twice gives the same result as applying it once.
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(target) = target {
                merge_map(target, patch);
            }
        }
        other => *target = other.clone(),
    }
}

/// Applies the merge patch `patch`, an object, to the object `target`.
pub(crate) fn merge_map(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else if let Some(existing) = target.get_mut(key) {
            merge(existing, value);
        } else {
            let mut fresh = Value::Null;
            merge(&mut fresh, value);
            target.insert(key.clone(), fresh);
        }
    }
}

/// Returns the merge patch that turns `old` into `new`.
///
/// A key of `old` that `new` lacks becomes `null`, a key whose value changed
/// gets its new value (objects on both sides are compared key by key, so
/// only what changed inside them is listed), and an unchanged key is left
/// out. Equal documents give an empty patch.
///
/// `merge(old, diff(old, new)) == new` holds whenever `new` holds no `null`
/// as the value of an object member, which is always true of a twin's
/// properties (a `null` there means "absent"). A `null` inside an array is
/// fine: arrays are replaced whole.
pub fn diff(old: &Map<String, Value>, new: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for key in old.keys() {
        if !new.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    for (key, new_value) in new {
        match (old.get(key), new_value) {
            (Some(old_value), _) if old_value == new_value => {}
            (Some(Value::Object(old_inner)), Value::Object(new_inner)) => {
                patch.insert(key.clone(), Value::Object(diff(old_inner, new_inner)));
            }
            _ => {
                patch.insert(key.clone(), new_value.clone());
            }
        }
    }
    patch
}

/// Removes, recursively, every object member whose value is `null`, as
/// merging `map` into an empty object would. Nulls inside arrays stay.
pub(crate) fn strip_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, value| !value.is_null());
    for value in map.values_mut() {
        if let Value::Object(inner) = value {
            strip_nulls(inner);
        }
    }
}
