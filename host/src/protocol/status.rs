//! The status document, retained on `ganglion/{device}/status`: the modules'
//! runtime states, the `$upstream` queue, the leaf ingest session, twin
//! errors and the last deployment's outcome. The gateway writes it; the
//! operator's tools read it. Reading is lenient, so that an older or newer
//! gateway's document still reads: a field that is missing, or not of the
//! type this version expects, reads as absent, and fields this version does
//! not know are ignored.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The status document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The device.
    pub device: Option<String>,
    /// When it was published (RFC 3339). Left out of the document the
    /// gateway compares to see whether anything changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_utc: Option<String>,
    /// Each module, by name.
    pub modules: BTreeMap<String, ModuleState>,
    /// The `$upstream` queue.
    pub queue: Queue,
    /// The leaf ingest session, when the manifest has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest: Option<Ingest>,
    /// Twins whose last desired patch was refused, with why.
    pub twin_errors: BTreeMap<String, String>,
    /// The version of the last deployment applied or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_desired_version: Option<u64>,
    /// What became of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_desired_status: Option<DesiredStatus>,
}

/// One module's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleState {
    /// `starting`, `running`, `backoff`, `stopped` or `failed`.
    pub runtime_status: Option<String>,
    /// The content address of the component its last instance ran.
    pub digest: Option<String>,
    /// How many times it was restarted.
    pub restart_count: Option<u64>,
    /// When its last instance started (RFC 3339).
    pub last_start_time_utc: Option<String>,
    /// When its last instance ended (RFC 3339).
    pub last_exit_time_utc: Option<String>,
    /// Why its last instance ended.
    pub exit_reason: Option<String>,
}

/// The `$upstream` queue's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Queue {
    /// Messages waiting.
    pub depth: Option<u64>,
    /// Bytes their records take.
    pub bytes: Option<u64>,
    /// Messages the cloud broker acknowledged.
    pub delivered: Option<u64>,
    /// Messages that expired unsent.
    pub expired: Option<u64>,
    /// Messages refused because the quota was full.
    pub refused: Option<u64>,
}

/// The leaf ingest session's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingest {
    /// Leaf messages received and not yet acknowledged to the local broker.
    pub pending: Option<u64>,
    /// The most that were ever pending at once.
    pub peak_pending: Option<u64>,
    /// How many times ingest stopped reading because too many were pending.
    pub read_pauses: Option<u64>,
}

/// The outcome of the last deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DesiredStatus {
    /// [`super::deployment::APPLIED`], [`super::deployment::REFUSED`] or
    /// [`super::deployment::ROLLED_BACK`].
    pub code: Option<u16>,
    /// What was started, restarted and stopped, or why it was refused.
    pub description: Option<String>,
}

impl Status {
    /// Reads a published document: any JSON object (see the module doc).
    pub fn parse(payload: &[u8]) -> Result<Status, String> {
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| format!("not JSON ({e})"))?;
        Status::from_value(&value).ok_or_else(|| "not a JSON object".to_string())
    }

    /// Reads a document already parsed as JSON; `None` if it is not an
    /// object.
    pub fn from_value(value: &Value) -> Option<Status> {
        let doc = value.as_object()?;
        Some(Status {
            device: get(doc, "device"),
            time_utc: get(doc, "timeUtc"),
            modules: object(doc, "modules")
                .map(|m| {
                    m.iter()
                        .map(|(name, v)| (name.clone(), ModuleState::read(v)))
                        .collect()
                })
                .unwrap_or_default(),
            queue: object(doc, "queue").map(Queue::read).unwrap_or_default(),
            ingest: object(doc, "ingest").map(Ingest::read),
            twin_errors: object(doc, "twinErrors")
                .map(|e| {
                    e.iter()
                        .map(|(twin, why)| (twin.clone(), text(why)))
                        .collect()
                })
                .unwrap_or_default(),
            last_desired_version: get(doc, "lastDesiredVersion"),
            last_desired_status: object(doc, "lastDesiredStatus").map(DesiredStatus::read),
        })
    }

    /// The document as published.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ModuleState {
    fn read(value: &Value) -> ModuleState {
        let empty = Map::new();
        let m = value.as_object().unwrap_or(&empty);
        ModuleState {
            runtime_status: get(m, "runtimeStatus"),
            digest: get(m, "digest"),
            restart_count: get(m, "restartCount"),
            last_start_time_utc: get(m, "lastStartTimeUtc"),
            last_exit_time_utc: get(m, "lastExitTimeUtc"),
            exit_reason: get(m, "exitReason"),
        }
    }
}

impl Queue {
    fn read(q: &Map<String, Value>) -> Queue {
        Queue {
            depth: get(q, "depth"),
            bytes: get(q, "bytes"),
            delivered: get(q, "delivered"),
            expired: get(q, "expired"),
            refused: get(q, "refused"),
        }
    }
}

impl Ingest {
    fn read(i: &Map<String, Value>) -> Ingest {
        Ingest {
            pending: get(i, "pending"),
            peak_pending: get(i, "peakPending"),
            read_pauses: get(i, "readPauses"),
        }
    }
}

impl DesiredStatus {
    fn read(d: &Map<String, Value>) -> DesiredStatus {
        DesiredStatus {
            code: get(d, "code"),
            description: get(d, "description"),
        }
    }
}

/// `key` of `doc` as a `T`, if it is there and is one.
fn get<T: DeserializeOwned>(doc: &Map<String, Value>, key: &str) -> Option<T> {
    doc.get(key).and_then(|v| T::deserialize(v).ok())
}

/// `key` of `doc`, if it is an object.
fn object<'d>(doc: &'d Map<String, Value>, key: &str) -> Option<&'d Map<String, Value>> {
    doc.get(key).and_then(Value::as_object)
}

/// A string as itself, anything else as its JSON text.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_and_missing_or_unknown_fields_are_fine() {
        let mut status = Status {
            device: Some("gw".to_string()),
            time_utc: Some("2026-11-27T12:00:00.000Z".to_string()),
            last_desired_version: Some(4),
            last_desired_status: Some(DesiredStatus {
                code: Some(200),
                description: Some("applied".to_string()),
            }),
            ..Status::default()
        };
        status.modules.insert(
            "filter".to_string(),
            ModuleState {
                runtime_status: Some("running".to_string()),
                restart_count: Some(0),
                ..ModuleState::default()
            },
        );
        let payload = status.to_payload();
        assert!(
            payload.contains(r#""runtimeStatus":"running""#),
            "{payload}"
        );
        assert!(payload.contains(r#""lastExitTimeUtc":null"#), "{payload}");
        assert!(!payload.contains("ingest"), "{payload}");
        assert_eq!(Status::parse(payload.as_bytes()), Ok(status));

        let newer =
            br#"{"modules": {"m": {"runtimeStatus": "failed", "colour": 1}}, "future": true}"#;
        let read = Status::parse(newer).unwrap();
        assert_eq!(read.modules["m"].runtime_status.as_deref(), Some("failed"));
        assert_eq!(read.queue, Queue::default());
        assert!(Status::parse(b"[routes]").unwrap_err().contains("not JSON"));
        assert!(
            Status::parse(b"[1]")
                .unwrap_err()
                .contains("not a JSON object")
        );
        let odd = Status::parse(
            br#"{"lastDesiredVersion": "x", "queue": null, "twinErrors": {"m": 3},
                "modules": {"m": {"restartCount": "two", "runtimeStatus": "running"}}}"#,
        )
        .unwrap();
        assert_eq!(odd.last_desired_version, None);
        assert_eq!(odd.modules["m"].restart_count, None);
        assert_eq!(odd.modules["m"].runtime_status.as_deref(), Some("running"));
        assert_eq!(odd.twin_errors["m"], "3");
    }
}
