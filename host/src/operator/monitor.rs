//! The live view of one gateway: `ganglion monitor`.
//!
//! It subscribes to the device's telemetry (`messages/events`), its reported
//! twins (`twins/+/reported`), its status and its online flag, and turns each
//! publish into a [`MonitorEvent`]. Retained messages, the state as it was
//! before the subscription, are skipped: only what happens from now on is
//! shown.

use super::session::{Incoming, Session};
use super::status::dash;
use super::status::parse_online;
use super::{OperatorError, check_name};
use crate::protocol::status::Status;
use crate::protocol::topics::Topics;
use base64::Engine;
use serde_json::{Map, Value, json};

/// The topic filters the monitor subscribes to for `device`.
pub fn filters(device: &str) -> Vec<String> {
    Topics::new(device).observed().to_vec()
}

/// What the monitor saw.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// A telemetry message.
    Telemetry {
        /// The body, byte for byte.
        body: Vec<u8>,
        /// The user properties, in order: the application properties, then
        /// the system properties (with a `$`).
        properties: Vec<(String, String)>,
        /// The content type, if the message has one.
        content_type: Option<String>,
    },
    /// A twin's new reported properties.
    Reported {
        /// The twin (`$device` or a module name).
        twin: String,
        /// The document (with its `$version`), or the text if it is not
        /// JSON.
        document: Value,
    },
    /// A new status document (or the text if it is not JSON).
    Status {
        /// The document.
        document: Value,
    },
    /// The gateway connected (`true`) or lost its connection (`false`).
    Online {
        /// The flag; `None` if the payload is neither `true` nor `false`.
        online: Option<bool>,
    },
}

fn json_or_text(payload: &[u8]) -> Value {
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
}

/// The event that `incoming` is for `device`, or `None` if it is retained
/// (old state) or not one of the monitored topics.
pub fn classify(device: &str, incoming: &Incoming) -> Option<MonitorEvent> {
    if incoming.retain {
        return None;
    }
    let prefix = Topics::new(device).prefix();
    let rest = incoming.topic.strip_prefix(&prefix)?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["messages", "events"] => Some(MonitorEvent::Telemetry {
            body: incoming.payload.clone(),
            properties: incoming.user_properties.clone(),
            content_type: incoming.content_type.clone(),
        }),
        ["twins", twin, "reported"] => Some(MonitorEvent::Reported {
            twin: (*twin).to_string(),
            document: json_or_text(&incoming.payload),
        }),
        ["status"] => Some(MonitorEvent::Status {
            document: json_or_text(&incoming.payload),
        }),
        ["online"] => Some(MonitorEvent::Online {
            online: parse_online(&incoming.payload),
        }),
        _ => None,
    }
}

/// A body as text if it is UTF-8, else as base64.
fn body_text(body: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(body).map_err(|_| base64::engine::general_purpose::STANDARD.encode(body))
}

/// A one-line summary of a status document: each module's runtime status,
/// and the queue depth.
fn status_summary(doc: &Value) -> String {
    let Some(status) = Status::from_value(doc) else {
        return format!("(not a status document) {doc}");
    };
    let mut parts: Vec<String> = status
        .modules
        .iter()
        .map(|(name, m)| {
            format!(
                "{name} {} ({} restarts)",
                dash(m.runtime_status.as_deref()),
                dash(m.restart_count)
            )
        })
        .collect();
    parts.push(format!("queue depth {}", dash(status.queue.depth)));
    parts.join(", ")
}

impl MonitorEvent {
    /// One line for people, starting with `time` (RFC 3339).
    pub fn to_line(&self, time: &str) -> String {
        match self {
            MonitorEvent::Telemetry {
                body, properties, ..
            } => {
                let body = match body_text(body) {
                    Ok(text) => text.replace('\n', "\\n"),
                    Err(b64) => format!("base64:{b64}"),
                };
                let props: Vec<String> =
                    properties.iter().map(|(k, v)| format!("{k}={v}")).collect();
                if props.is_empty() {
                    format!("{time}  telemetry  {body}")
                } else {
                    format!("{time}  telemetry  {body}  [{}]", props.join(", "))
                }
            }
            MonitorEvent::Reported { twin, document } => {
                format!("{time}  reported   {twin}  {document}")
            }
            MonitorEvent::Status { document } => {
                format!("{time}  status     {}", status_summary(document))
            }
            MonitorEvent::Online { online } => match online {
                Some(true) => format!("{time}  online     the gateway connected"),
                Some(false) => format!("{time}  offline    the gateway lost its connection"),
                None => format!("{time}  online     (not true or false)"),
            },
        }
    }

    /// One JSON object, with `time` (RFC 3339) and `event`: `telemetry`
    /// (`body` or `bodyBase64`, `properties`, `systemProperties`,
    /// `contentType`), `reported` (`twin`, `document`), `status`
    /// (`document`) or `online` (`online`).
    pub fn to_json(&self, time: &str) -> Value {
        match self {
            MonitorEvent::Telemetry {
                body,
                properties,
                content_type,
            } => {
                let (mut app, mut system) = (Map::new(), Map::new());
                for (k, v) in properties {
                    let target = if k.starts_with('$') {
                        &mut system
                    } else {
                        &mut app
                    };
                    target.insert(k.clone(), Value::String(v.clone()));
                }
                let mut event = json!({
                    "time": time, "event": "telemetry",
                    "properties": app, "systemProperties": system,
                    "contentType": content_type,
                });
                if let Value::Object(map) = &mut event {
                    match body_text(body) {
                        Ok(text) => map.insert("body".to_string(), Value::from(text)),
                        Err(b64) => map.insert("bodyBase64".to_string(), Value::from(b64)),
                    };
                }
                event
            }
            MonitorEvent::Reported { twin, document } => {
                json!({"time": time, "event": "reported", "twin": twin, "document": document})
            }
            MonitorEvent::Status { document } => {
                json!({"time": time, "event": "status", "document": document})
            }
            MonitorEvent::Online { online } => {
                json!({"time": time, "event": "online", "online": online})
            }
        }
    }
}

/// Subscribes to [`filters`] of `device`.
pub async fn start(session: &mut Session, device: &str) -> Result<(), OperatorError> {
    check_name("device", device)?;
    session.subscribe(&filters(device)).await
}

/// Waits for the next event of `device` (after [`start`]).
pub async fn next_event(
    session: &mut Session,
    device: &str,
) -> Result<MonitorEvent, OperatorError> {
    loop {
        if let Some(incoming) = session.next_publish(None).await?
            && let Some(event) = classify(device, &incoming)
        {
            return Ok(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(topic: &str, payload: &[u8], retain: bool) -> Incoming {
        Incoming {
            topic: topic.to_string(),
            payload: payload.to_vec(),
            retain,
            user_properties: vec![
                ("temp".to_string(), "high".to_string()),
                ("$messageId".to_string(), "m-1".to_string()),
            ],
            response_topic: None,
            correlation_data: None,
            content_type: Some("application/json".to_string()),
        }
    }

    #[test]
    fn classifies_the_device_topics() {
        let t = classify(
            "gw",
            &incoming("ganglion/gw/messages/events", b"{\"t\":1}", false),
        );
        let Some(event @ MonitorEvent::Telemetry { .. }) = t else {
            panic!("{t:?}")
        };
        assert_eq!(
            event.to_line("T"),
            "T  telemetry  {\"t\":1}  [temp=high, $messageId=m-1]"
        );
        assert_eq!(
            event.to_json("T"),
            json!({"time": "T", "event": "telemetry", "body": "{\"t\":1}",
                "properties": {"temp": "high"}, "systemProperties": {"$messageId": "m-1"},
                "contentType": "application/json"})
        );
        let r = classify(
            "gw",
            &incoming(
                "ganglion/gw/twins/$device/reported",
                b"{\"$version\":3}",
                false,
            ),
        );
        assert_eq!(
            r,
            Some(MonitorEvent::Reported {
                twin: "$device".to_string(),
                document: json!({"$version": 3})
            })
        );
        let s = classify("gw", &incoming("ganglion/gw/status", br#"{"modules":{"f":{"runtimeStatus":"running","restartCount":0}},"queue":{"depth":4}}"#, false));
        assert_eq!(
            s.map(|s| s.to_line("T")).as_deref(),
            Some("T  status     f running (0 restarts), queue depth 4")
        );
        let o = classify("gw", &incoming("ganglion/gw/online", b"false", false));
        assert_eq!(
            o,
            Some(MonitorEvent::Online {
                online: Some(false)
            })
        );
    }

    #[test]
    fn skips_retained_and_foreign_topics() {
        assert_eq!(
            classify("gw", &incoming("ganglion/gw/status", b"{}", true)),
            None
        );
        assert_eq!(
            classify("gw", &incoming("ganglion/gw2/status", b"{}", false)),
            None
        );
        assert_eq!(
            classify("gw", &incoming("ganglion/gw/twins/m/desired", b"{}", false)),
            None
        );
        assert_eq!(filters("gw")[1], "ganglion/gw/twins/+/reported");
    }

    #[test]
    fn binary_bodies_are_base64() {
        let e = MonitorEvent::Telemetry {
            body: vec![0xff, 0x00],
            properties: vec![],
            content_type: None,
        };
        assert_eq!(e.to_line("T"), "T  telemetry  base64:/wA=");
        assert_eq!(e.to_json("T")["bodyBase64"], "/wA=");
    }
}
