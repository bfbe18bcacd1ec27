//! Direct methods from the cloud side: `ganglion invoke`.
//!
//! The request goes to `ganglion/{device}/methods/{module}/{method}` (QoS 1,
//! not retained) with a response topic of its own under
//! `ganglion/{device}/method-responses/`, the request id as correlation data
//! and the user property `timeout-secs`. The answer comes back on that topic
//! with the same correlation data, a `status` user property and a JSON
//! payload. The payload is checked before anything is sent.

use super::broker::random_u64;
use super::session::{Incoming, Session};
use super::{OperatorError, check_name};
use crate::protocol::method::{MAX_PAYLOAD_BYTES, STATUS_PROPERTY, TIMEOUT_PROPERTY, TIMEOUT_SECS};
use crate::protocol::topics::Topics;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// How much longer than the request's own timeout the caller waits, so that
/// the gateway's 504 arrives before the caller gives up.
pub const RESPONSE_MARGIN: Duration = Duration::from_secs(5);

/// A checked direct-method request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodRequest {
    /// The device (gateway).
    pub device: String,
    /// The module.
    pub module: String,
    /// The method.
    pub method: String,
    /// The payload: JSON text, at most [`MAX_PAYLOAD_BYTES`].
    pub payload: Vec<u8>,
    /// How long the module may take, in seconds, within [`TIMEOUT_SECS`].
    pub timeout_secs: u64,
    /// The request id: the correlation data and the last level of the
    /// response topic.
    pub request_id: String,
}

impl MethodRequest {
    /// Checks the names, the payload (valid JSON, at most
    /// [`MAX_PAYLOAD_BYTES`]) and the timeout, and gives the request a fresh
    /// request id. The payload is sent as given, not reformatted.
    pub fn new(
        device: &str,
        module: &str,
        method: &str,
        payload: &str,
        timeout_secs: u64,
    ) -> Result<MethodRequest, OperatorError> {
        check_name("device", device)?;
        check_name("module", module)?;
        check_name("method", method)?;
        let bad = |reason: String| OperatorError::BadInput {
            what: "the method payload".to_string(),
            reason,
        };
        let payload = payload.trim();
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(bad(format!(
                "it is {} bytes; at most {MAX_PAYLOAD_BYTES} are allowed",
                payload.len()
            )));
        }
        serde_json::from_str::<Value>(payload)
            .map_err(|e| bad(format!("it is not valid JSON ({e})")))?;
        if !TIMEOUT_SECS.contains(&timeout_secs) {
            return Err(OperatorError::BadInput {
                what: "the timeout".to_string(),
                reason: format!(
                    "{timeout_secs} s is out of range; it must be from {} to {} s",
                    TIMEOUT_SECS.start(),
                    TIMEOUT_SECS.end()
                ),
            });
        }
        Ok(MethodRequest {
            device: device.to_string(),
            module: module.to_string(),
            method: method.to_string(),
            payload: payload.as_bytes().to_vec(),
            timeout_secs,
            request_id: format!("{:016x}{:016x}", random_u64(), random_u64()),
        })
    }

    /// `ganglion/{device}/methods/{module}/{method}`.
    pub fn topic(&self) -> String {
        Topics::new(&self.device).method(&self.module, &self.method)
    }

    /// `ganglion/{device}/method-responses/{request id}`.
    pub fn response_topic(&self) -> String {
        Topics::new(&self.device).response(&self.request_id)
    }

    /// The MQTT 5 properties of the request.
    pub fn properties(&self) -> PublishProperties {
        PublishProperties {
            response_topic: Some(self.response_topic()),
            correlation_data: Some(self.request_id.clone().into_bytes().into()),
            user_properties: vec![(TIMEOUT_PROPERTY.to_string(), self.timeout_secs.to_string())],
            content_type: Some("application/json".to_string()),
            ..PublishProperties::default()
        }
    }

    /// How long the caller waits for the response.
    pub fn wait(&self) -> Duration {
        Duration::from_secs(self.timeout_secs) + RESPONSE_MARGIN
    }

    /// Whether `incoming` is the response to this request: on the response
    /// topic, with the request id as correlation data.
    pub fn is_response(&self, incoming: &Incoming) -> bool {
        incoming.topic == self.response_topic()
            && incoming.correlation_data.as_deref() == Some(self.request_id.as_bytes())
    }
}

/// A direct method's response.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResponse {
    /// The HTTP-like status.
    pub status: u16,
    /// The JSON payload (`null` if the payload was empty).
    pub payload: Value,
}

impl MethodResponse {
    /// Parses the response to `method`: the `status` user property (decimal
    /// text) and the JSON payload.
    pub fn parse(method: &str, incoming: &Incoming) -> Result<MethodResponse, OperatorError> {
        let bad = |reason: String| OperatorError::BadResponse {
            method: method.to_string(),
            reason,
        };
        let status = incoming
            .user_properties
            .iter()
            .rev()
            .find(|(k, _)| k == STATUS_PROPERTY)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| bad("it has no `status` user property".to_string()))?;
        let status = status
            .trim()
            .parse::<u16>()
            .map_err(|_| bad(format!("its status `{status}` is not a number")))?;
        let payload = if incoming.payload.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&incoming.payload)
                .map_err(|e| bad(format!("its payload is not JSON ({e})")))?
        };
        Ok(MethodResponse { status, payload })
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `message` of an error payload, `{"message": "..."}`, if any.
    pub fn message(&self) -> Option<&str> {
        self.payload.get("message").and_then(Value::as_str)
    }

    /// `{"status": ..., "payload": ...}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"status": self.status, "payload": self.payload})
    }
}

/// Sends `request` and waits for its response, for the request's timeout
/// plus [`RESPONSE_MARGIN`]. Fails at once if the broker says that no one
/// subscribes to the request's topic (the gateway is not connected).
pub async fn invoke(
    session: &mut Session,
    request: &MethodRequest,
) -> Result<MethodResponse, OperatorError> {
    let no_answer = |why: String| OperatorError::NoAnswer {
        device: request.device.clone(),
        module: request.module.clone(),
        method: request.method.clone(),
        why,
    };
    session.subscribe(&[request.response_topic()]).await?;
    let deadline = Instant::now() + request.wait();
    let delivered = session
        .publish(
            &request.topic(),
            request.payload.clone(),
            false,
            request.properties(),
        )
        .await?;
    if !delivered {
        return Err(no_answer(
            "the broker says nothing subscribes to its method requests".to_string(),
        ));
    }
    loop {
        match session.next_publish(Some(deadline)).await? {
            Some(incoming) if request.is_response(&incoming) => {
                return MethodResponse::parse(&request.method, &incoming);
            }
            Some(_) => {}
            None => {
                return Err(no_answer(format!(
                    "no response within {} s",
                    request.wait().as_secs()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(props: &[(&str, &str)], payload: &str) -> Incoming {
        Incoming {
            topic: "ganglion/gw/method-responses/x".to_string(),
            payload: payload.as_bytes().to_vec(),
            retain: false,
            user_properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            response_topic: None,
            correlation_data: Some(b"x".to_vec()),
            content_type: None,
        }
    }

    #[test]
    fn a_request_carries_the_protocol_properties() {
        let r = MethodRequest::new("gw", "filter", "reset", " {\"hard\": true}\n", 45).unwrap();
        assert_eq!(r.topic(), "ganglion/gw/methods/filter/reset");
        assert_eq!(r.request_id.len(), 32);
        assert_eq!(
            r.response_topic(),
            format!("ganglion/gw/method-responses/{}", r.request_id)
        );
        assert_eq!(r.payload, b"{\"hard\": true}");
        let p = r.properties();
        assert_eq!(p.response_topic, Some(r.response_topic()));
        assert_eq!(p.correlation_data.as_deref(), Some(r.request_id.as_bytes()));
        assert_eq!(
            p.user_properties,
            vec![("timeout-secs".to_string(), "45".to_string())]
        );
        assert_eq!(r.wait(), Duration::from_secs(50));
        let other = MethodRequest::new("gw", "filter", "reset", "1", 45).unwrap();
        assert_ne!(other.request_id, r.request_id);
    }

    #[test]
    fn bad_requests_are_refused_before_sending() {
        let e = |r: Result<MethodRequest, OperatorError>| r.unwrap_err().to_string();
        assert!(e(MethodRequest::new("gw", "m", "x", "{nope", 30)).contains("not valid JSON"));
        let big = format!("\"{}\"", "a".repeat(MAX_PAYLOAD_BYTES));
        assert!(e(MethodRequest::new("gw", "m", "x", &big, 30)).contains("at most 131072"));
        let fits = format!("\"{}\"", "a".repeat(MAX_PAYLOAD_BYTES - 2));
        assert!(MethodRequest::new("gw", "m", "x", &fits, 30).is_ok());
        assert!(e(MethodRequest::new("gw", "m", "x", "{}", 4)).contains("from 5 to 300 s"));
        assert!(e(MethodRequest::new("gw", "m", "x", "{}", 301)).contains("301 s"));
        assert!(e(MethodRequest::new("gw", "a/b", "x", "{}", 30)).contains("module `a/b`"));
    }

    #[test]
    fn responses_are_parsed() {
        let ok = MethodResponse::parse("m", &response(&[("status", "200")], "{\"a\":1}")).unwrap();
        assert!(ok.is_success());
        assert_eq!(
            ok.to_json(),
            serde_json::json!({"status": 200, "payload": {"a": 1}})
        );
        let nf = MethodResponse::parse(
            "m",
            &response(&[("status", "404")], "{\"message\":\"no module\"}"),
        )
        .unwrap();
        assert!(!nf.is_success());
        assert_eq!(nf.message(), Some("no module"));
        let e = MethodResponse::parse("m", &response(&[], "{}")).unwrap_err();
        assert!(e.to_string().contains("no `status`"), "{e}");
        let e = MethodResponse::parse("m", &response(&[("status", "ok")], "{}")).unwrap_err();
        assert!(e.to_string().contains("`ok` is not a number"), "{e}");
        let e = MethodResponse::parse("m", &response(&[("status", "200")], "{")).unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
    }

    #[test]
    fn only_the_matching_response_counts() {
        let r = MethodRequest::new("gw", "m", "x", "{}", 30).unwrap();
        let mut incoming = response(&[("status", "200")], "{}");
        incoming.topic = r.response_topic();
        assert!(!r.is_response(&incoming));
        incoming.correlation_data = Some(r.request_id.as_bytes().to_vec());
        assert!(r.is_response(&incoming));
    }
}
