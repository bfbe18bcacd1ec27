//! The module's twin: the desired properties the cloud sets (delivered to
//! [`Module::on_twin_desired`](crate::Module::on_twin_desired) as they change)
//! and the reported properties the module sets with [`report`].

use crate::bindings::module::twin as wit;
use serde_json::Value;

/// The module's current desired properties, a JSON object with `$version`.
pub fn desired() -> Value {
    serde_json::from_str(&wit::desired()).unwrap_or(Value::Object(Default::default()))
}

/// Merges `patch` (a JSON object; `null` deletes a key) into the module's
/// reported properties, which the gateway stores and sends to the cloud.
/// Refused, changing nothing, when `patch` is not an object or the result
/// breaks a twin limit (32 KB, nesting 10 deep, keys of at most 1 KB without
/// `.`, `$` or spaces).
pub fn report(patch: &Value) -> Result<(), String> {
    wit::report(&patch.to_string())
}
