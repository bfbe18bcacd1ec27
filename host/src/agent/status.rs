//! The status document the gateway publishes, retained, for the operator's
//! tools (`docs/protocol.md`, "Status").

use crate::deployer::DeploymentSnapshot;
use crate::message::rfc3339;
use crate::metrics::{MetricsSnapshot, ModuleStatus};
use crate::protocol::status::{DesiredStatus, Ingest, ModuleState, Queue, Status};
use std::collections::BTreeMap;
use std::time::SystemTime;

fn utc(t: Option<SystemTime>) -> Option<String> {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| rfc3339(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
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
/// to see whether anything changed): the counters in `snap`, the last
/// deployment's outcome, and the twins' errors.
pub fn document(
    device: &str,
    snap: &MetricsSnapshot,
    deployment: Option<&DeploymentSnapshot>,
    twin_errors: &BTreeMap<String, String>,
) -> Status {
    let modules = snap
        .modules
        .iter()
        .map(|m| {
            let state = ModuleState {
                runtime_status: Some(runtime_status(m.status).to_string()),
                digest: m.digest.clone(),
                restart_count: Some(m.restarts),
                last_start_time_utc: utc(m.last_start),
                last_exit_time_utc: utc(m.last_exit),
                exit_reason: m.exit_reason.as_ref().map(ToString::to_string),
            };
            (m.name.clone(), state)
        })
        .collect();
    let q = &snap.queue;
    let i = &snap.ingest;
    Status {
        device: Some(device.to_string()),
        time_utc: None,
        modules,
        queue: Queue {
            depth: Some(q.depth),
            bytes: Some(q.bytes),
            delivered: Some(q.delivered),
            expired: Some(q.expired),
            refused: Some(q.refused),
        },
        ingest: i.active.then_some(Ingest {
            pending: Some(i.pending),
            peak_pending: Some(i.peak_pending),
            read_pauses: Some(i.read_pauses),
        }),
        twin_errors: twin_errors.clone(),
        last_desired_version: deployment.map(|d| d.version),
        last_desired_status: deployment.map(|d| DesiredStatus {
            code: Some(d.code),
            description: Some(d.description.clone()),
        }),
    }
}

/// The document with its time stamp, as published.
pub fn stamped(mut doc: Status) -> String {
    doc.time_utc = utc(Some(SystemTime::now()));
    doc.to_payload()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn the_ingest_block_is_there_only_with_an_ingest_session() {
        let metrics = Metrics::new(["filter"], ["leaf"]);
        let doc = document("gw", &metrics.snapshot(), None, &BTreeMap::new());
        assert_eq!(doc.ingest, None);
        assert!(!stamped(doc).contains("ingest"));

        metrics.ingest.started();
        metrics.ingest.set_pending(1024);
        metrics.ingest.read_paused();
        metrics.ingest.set_pending(3);
        let doc = document("gw", &metrics.snapshot(), None, &BTreeMap::new());
        let text = stamped(doc);
        assert!(
            text.contains(r#""ingest":{"pending":3,"peakPending":1024,"readPauses":1}"#),
            "{text}"
        );
    }
}
