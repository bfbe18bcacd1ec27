//! The input: a fan reading as JSON, the shapes fan-health takes (extra
//! fields are ignored):
//!
//! ```json
//! {"device": "fan-7", "temperature": 41.3, "vibration": 2.4, "pressure": 1.19, "hours": 5120}
//! {"device": "fan-7", "machine": {"temperature": 41.3, "vibration": 2.4, "pressure": 1.19, "hours": 5120}}
//! ```
//!
//! Only the monitored features must be present; each must be a finite number.

use serde_json::{Map, Value};

/// The values of `features` (names) in a message body, in that order.
pub fn values(body: &[u8], features: &[&str]) -> Result<Vec<f64>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("not a fan reading: not JSON: {e}"))?;
    let top = value
        .as_object()
        .ok_or("not a fan reading: expected a JSON object")?;
    let fields = match top.get("machine") {
        Some(Value::Object(machine)) => machine,
        Some(other) => {
            return Err(format!(
                "not a fan reading: `machine` must be an object, not {other}"
            ));
        }
        None => top,
    };
    features.iter().map(|name| number(fields, name)).collect()
}

fn number(fields: &Map<String, Value>, name: &str) -> Result<f64, String> {
    let value = fields
        .get(name)
        .ok_or_else(|| format!("not a fan reading: field `{name}` is missing"))?;
    match value.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(format!(
            "not a fan reading: field `{name}` is not a number: {value}"
        )),
    }
}
