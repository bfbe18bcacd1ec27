//! The message a closed window becomes.

use crate::stats::Stats;
use crate::window::Closed;
use ganglion_sdk::time::format_rfc3339;
use serde_json::{Map, Value, json};

/// The JSON body for `closed`, whose fields are named by `fields`:
///
/// ```json
/// {"windowStart": "…Z", "windowEnd": "…Z", "windowStartMs": 0, "windowEndMs": 0,
///  "key": "sensor", "events": 3, "complete": true,
///  "stats": {"machine.temperature": {"count": 3, "avg": 1, "min": 0, "max": 2, "stddev": 0.8}}}
/// ```
///
/// A field no event of the window had shows `count` 0 and `null` statistics.
pub fn body(closed: &Closed, fields: &[String]) -> Value {
    let stats: Map<String, Value> = fields
        .iter()
        .zip(&closed.aggregate.fields)
        .map(|(name, s)| (name.clone(), field_json(s)))
        .collect();
    json!({
        "windowStart": format_rfc3339(closed.start),
        "windowEnd": format_rfc3339(closed.end),
        "windowStartMs": closed.start,
        "windowEndMs": closed.end,
        "key": closed.key,
        "events": closed.aggregate.events,
        "complete": closed.complete,
        "stats": stats,
    })
}

fn field_json(s: &Stats) -> Value {
    json!({
        "count": s.count(),
        "avg": s.avg(),
        "min": s.min(),
        "max": s.max(),
        "stddev": s.stddev(),
    })
}
