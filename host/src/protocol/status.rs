//! The status document, retained on `ganglion/{device}/status`: the modules'
//! runtime states, the `$upstream` queue, the leaf ingest session, twin
//! errors and the last deployment's outcome. The gateway writes it; the
//! operator's tools read it. Every field may be missing when read, so that an
//! older or newer gateway's document still reads; fields this version does
//! not know are ignored.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The status document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Ingest {
    /// Leaf messages received and not yet acknowledged to the local broker.
    pub pending: Option<u64>,
    /// The most that were ever pending at once.
    pub peak_pending: Option<u64>,
    /// How many times ingest stopped reading because too many were pending.
    pub read_pauses: Option<u64>,
}

/// The outcome of the last deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DesiredStatus {
    /// [`super::deployment::APPLIED`], [`super::deployment::REFUSED`] or
    /// [`super::deployment::ROLLED_BACK`].
    pub code: Option<u16>,
    /// What was started, restarted and stopped, or why it was refused.
    pub description: Option<String>,
}

impl Status {
    /// Parses a published document. The error says why it is not one.
    pub fn parse(payload: &[u8]) -> Result<Status, String> {
        serde_json::from_slice(payload).map_err(|e| format!("not a status document ({e})"))
    }

    /// The document as published.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
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
        assert!(
            Status::parse(b"[routes]")
                .unwrap_err()
                .contains("not a status document")
        );
        assert!(Status::parse(br#"{"lastDesiredVersion": "x"}"#).is_err());
    }
}
