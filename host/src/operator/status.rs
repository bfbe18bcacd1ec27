//! A gateway's status from the cloud side: `ganglion status`.
//!
//! The gateway keeps its status document retained on
//! `ganglion/{device}/status` and `true` or `false` retained on
//! `ganglion/{device}/online`. [`render`] turns them into a table for
//! people; a field the document lacks shows as `-`, so that an older or newer
//! gateway's document still renders.

use super::session::Session;
use super::{OperatorError, check_name};
use crate::protocol::status::Status;
use crate::protocol::topics::Topics;
use std::fmt::Write as _;
use std::time::Duration;

/// `ganglion/{device}/status`.
pub fn status_topic(device: &str) -> String {
    Topics::new(device).status()
}

/// `ganglion/{device}/online`.
pub fn online_topic(device: &str) -> String {
    Topics::new(device).online()
}

/// What the broker holds about a gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceStatus {
    /// The device.
    pub device: String,
    /// The status document, as read.
    pub status: Status,
    /// The document as published (for `--json`).
    pub document: serde_json::Value,
    /// The online flag: `None` if it was never published or is not
    /// `true`/`false`.
    pub online: Option<bool>,
}

/// Reads the retained status and online flag of `device`, waiting up to
/// `wait` after subscribing. It is an error if no status was ever published.
pub async fn read_status(
    session: &mut Session,
    device: &str,
    wait: Duration,
) -> Result<DeviceStatus, OperatorError> {
    check_name("device", device)?;
    let status_topic = status_topic(device);
    let online_topic = online_topic(device);
    let mut found = session
        .read_retained(&[status_topic.clone(), online_topic.clone()], wait)
        .await?;
    let Some(status) = found.remove(&status_topic) else {
        return Err(OperatorError::NoStatus {
            device: device.to_string(),
        });
    };
    let bad = |reason: String| OperatorError::BadDocument {
        topic: status_topic.clone(),
        reason,
    };
    let document: serde_json::Value =
        serde_json::from_slice(&status.payload).map_err(|e| bad(format!("not JSON ({e})")))?;
    let status = Status::from_value(&document).ok_or_else(|| bad("not a JSON object".into()))?;
    let online = found
        .remove(&online_topic)
        .and_then(|o| parse_online(&o.payload));
    Ok(DeviceStatus {
        device: device.to_string(),
        status,
        document,
        online,
    })
}

/// `true` or `false` (JSON, surrounding white space allowed).
pub fn parse_online(payload: &[u8]) -> Option<bool> {
    match std::str::from_utf8(payload).map(str::trim) {
        Ok("true") => Some(true),
        Ok("false") => Some(false),
        _ => None,
    }
}

/// A field as text: absent (or empty) as `-`.
pub fn dash<T: ToString>(value: Option<T>) -> String {
    match value.map(|v| v.to_string()) {
        Some(text) if !text.is_empty() => text,
        _ => "-".to_string(),
    }
}

/// Rows padded into columns, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let width = widths.get(c).copied().unwrap_or(0);
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The status as a table for people: the online flag, one row per module
/// (runtime status, restarts, last start and exit, exit reason), the queue,
/// and any twin errors.
pub fn render(status: &DeviceStatus) -> String {
    let doc = &status.status;
    let online = match status.online {
        Some(true) => "online",
        Some(false) => "OFFLINE",
        None => "online state unknown",
    };
    let mut out = format!(
        "device {}: {online}; status of {}\n\n",
        status.device,
        dash(doc.time_utc.as_deref())
    );
    match &doc.modules {
        modules if !modules.is_empty() => {
            let mut rows = vec![
                [
                    "MODULE",
                    "STATUS",
                    "RESTARTS",
                    "LAST START",
                    "LAST EXIT",
                    "EXIT REASON",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for (name, m) in modules {
                rows.push(vec![
                    name.clone(),
                    dash(m.runtime_status.as_deref()),
                    dash(m.restart_count),
                    dash(m.last_start_time_utc.as_deref()),
                    dash(m.last_exit_time_utc.as_deref()),
                    dash(m.exit_reason.as_deref()),
                ]);
            }
            out.push_str(&table(&rows));
        }
        _ => out.push_str("no modules\n"),
    }
    let q = &doc.queue;
    let _ = writeln!(
        out,
        "\nqueue: {} messages waiting ({} bytes); delivered {}, expired {}, refused {}",
        dash(q.depth),
        dash(q.bytes),
        dash(q.delivered),
        dash(q.expired),
        dash(q.refused)
    );
    if let Some(i) = &doc.ingest {
        let _ = writeln!(
            out,
            "ingest: {} leaf messages unacknowledged (peak {}); reading paused {} times",
            dash(i.pending),
            dash(i.peak_pending),
            dash(i.read_pauses)
        );
    }
    if !doc.twin_errors.is_empty() {
        out.push_str("\ntwin errors:\n");
        for (twin, error) in &doc.twin_errors {
            let _ = writeln!(out, "  {twin}: {}", dash(Some(error)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn renders_a_table() {
        let status = DeviceStatus {
            device: "gw-1".to_string(),
            online: Some(true),
            document: Value::Null,
            status: Status::from_value(&json!({
                "device": "gw-1",
                "timeUtc": "2026-11-27T12:00:00.000Z",
                "modules": {
                    "filter": {"runtimeStatus": "running", "restartCount": 0,
                        "lastStartTimeUtc": "2026-11-27T11:59:58.120Z",
                        "lastExitTimeUtc": null, "exitReason": null},
                    "ml": {"runtimeStatus": "backoff", "restartCount": 3,
                        "lastStartTimeUtc": "2026-11-27T11:59:00.000Z",
                        "lastExitTimeUtc": "2026-11-27T11:59:30.000Z", "exitReason": "trap: out of fuel"}
                },
                "queue": {"depth": 2, "bytes": 120, "delivered": 1200, "expired": 0, "refused": 1},
                "ingest": {"pending": 3, "peakPending": 1024, "readPauses": 2},
                "twinErrors": {"ml": "desired.a: key contains '$'"}
            }))
            .unwrap(),
        };
        let text = render(&status);
        let expected = "\
device gw-1: online; status of 2026-11-27T12:00:00.000Z

MODULE  STATUS   RESTARTS  LAST START                LAST EXIT                 EXIT REASON
filter  running  0         2026-11-27T11:59:58.120Z  -                         -
ml      backoff  3         2026-11-27T11:59:00.000Z  2026-11-27T11:59:30.000Z  trap: out of fuel

queue: 2 messages waiting (120 bytes); delivered 1200, expired 0, refused 1
ingest: 3 leaf messages unacknowledged (peak 1024); reading paused 2 times

twin errors:
  ml: desired.a: key contains '$'
";
        assert_eq!(text, expected);
    }

    #[test]
    fn missing_fields_render_as_dashes() {
        let status = DeviceStatus {
            device: "gw".to_string(),
            online: Some(false),
            status: Status::parse(br#"{"modules": {}}"#).unwrap(),
            document: Value::Null,
        };
        let text = render(&status);
        assert!(
            text.starts_with("device gw: OFFLINE; status of -\n"),
            "{text}"
        );
        assert!(text.contains("no modules"), "{text}");
        assert!(text.contains("queue: - messages waiting"), "{text}");
    }

    #[test]
    fn online_flags() {
        assert_eq!(parse_online(b"true"), Some(true));
        assert_eq!(parse_online(b" false\n"), Some(false));
        assert_eq!(parse_online(b"yes"), None);
        assert_eq!(status_topic("gw"), "ganglion/gw/status");
        assert_eq!(online_topic("gw"), "ganglion/gw/online");
    }
}
