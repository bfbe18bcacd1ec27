//! The status document the gateway publishes, retained, for the operator's
//! tools (`docs/protocol.md`, "Status").

use crate::message::rfc3339;
use crate::metrics::{MetricsSnapshot, ModuleStatus};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::SystemTime;

fn utc(t: Option<SystemTime>) -> Value {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| Value::from(rfc3339(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))))
        .unwrap_or(Value::Null)
}

/// The `runtimeStatus` word for a module status.
pub fn runtime_status(status: ModuleStatus) -> &'static str {
    match status {
        ModuleStatus::Starting => "starting",
        ModuleStatus::Running => "running",
        ModuleStatus::Backoff => "backoff",
        ModuleStatus::Stopped => "stopped",
        ModuleStatus::Failed => "failed",
    }
}

/// The status document, without its time stamp (so that two can be compared
/// to see whether anything changed).
pub fn document(
    device: &str,
    snap: &MetricsSnapshot,
    twin_errors: &BTreeMap<String, String>,
) -> Map<String, Value> {
    let mut modules = Map::new();
    for m in &snap.modules {
        modules.insert(
            m.name.clone(),
            json!({
                "runtimeStatus": runtime_status(m.status),
                "digest": m.digest,
                "restartCount": m.restarts,
                "lastStartTimeUtc": utc(m.last_start),
                "lastExitTimeUtc": utc(m.last_exit),
                "exitReason": m.exit_reason.as_ref().map(ToString::to_string),
            }),
        );
    }
    let q = &snap.queue;
    let mut doc = Map::new();
    doc.insert("device".into(), device.into());
    doc.insert("modules".into(), Value::Object(modules));
    doc.insert(
        "queue".into(),
        json!({
            "depth": q.depth,
            "bytes": q.bytes,
            "delivered": q.delivered,
            "expired": q.expired,
            "refused": q.refused,
        }),
    );
    doc.insert("twinErrors".into(), json!(twin_errors));
    if let Some(d) = &snap.deployment {
        doc.insert("lastDesiredVersion".into(), d.version.into());
        doc.insert(
            "lastDesiredStatus".into(),
            json!({ "code": d.code, "description": d.description }),
        );
    }
    doc
}

/// The document with its time stamp, as published.
pub fn stamped(mut doc: Map<String, Value>) -> String {
    doc.insert("timeUtc".into(), utc(Some(SystemTime::now())));
    Value::Object(doc).to_string()
}
