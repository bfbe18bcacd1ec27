//! Sample messages for `ganglion route test`: a JSON file that describes a
//! message the way Azure's tools do, turned into a [`Message`].
//!
//! ```json
//! {"body": {"machine": {"temperature": 30}},
//!  "properties": {"MessageType": "Alert"},
//!  "systemProperties": {"contentType": "application/json", "contentEncoding": "utf-8",
//!                       "connectionDeviceId": "sensor-1"}}
//! ```
//!
//! `body` is a string (taken as its UTF-8 text), any other JSON value (taken as
//! its JSON text) or null (empty). `bodyBase64` gives the exact bytes instead.
//! System property keys use Azure's names, with or without a leading `$`; keys
//! ganglion does not keep are accepted and ignored.

use super::Origin;
use crate::message::{Message, new_message};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SampleDto {
    #[serde(default)]
    body: Value,
    body_base64: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
    #[serde(default)]
    system_properties: BTreeMap<String, Value>,
}

/// Why a sample message file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The JSON does not have the sample's shape.
    #[error("the message file is not a sample message: {0}")]
    Shape(String),
    /// `bodyBase64` is not base64.
    #[error("bodyBase64 is not valid base64: {0}")]
    Base64(String),
    /// Both `body` and `bodyBase64` were given.
    #[error("give `body` or `bodyBase64`, not both")]
    TwoBodies,
    /// A property value is not a string, number or boolean.
    #[error("{0}: a property value must be a string, number or boolean")]
    Value(String),
    /// `creationTimeUtc` is not RFC 3339 UTC time.
    #[error("creationTimeUtc `{0}` is not an RFC 3339 time like 2026-11-27T10:00:00Z")]
    Time(String),
}

fn scalar(name: &str, v: &Value) -> Result<String, SampleError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(SampleError::Value(name.to_string())),
    }
}

/// Parses a sample message from JSON text.
pub fn parse_sample(text: &str) -> Result<Message, SampleError> {
    let dto: SampleDto =
        serde_json::from_str(text).map_err(|e| SampleError::Shape(e.to_string()))?;
    let body = match (&dto.body_base64, &dto.body) {
        (Some(_), v) if !v.is_null() => return Err(SampleError::TwoBodies),
        (Some(b64), _) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| SampleError::Base64(e.to_string()))?,
        (None, Value::Null) => Vec::new(),
        (None, Value::String(s)) => s.clone().into_bytes(),
        (None, v) => v.to_string().into_bytes(),
    };
    let mut msg = new_message(body);
    for (k, v) in &dto.properties {
        msg.properties.push((k.clone(), scalar(k, v)?));
    }
    for (k, v) in &dto.system_properties {
        let value = scalar(k, v)?;
        let s = &mut msg.system;
        match k.trim_start_matches('$').to_ascii_lowercase().as_str() {
            "messageid" => s.message_id = Some(value),
            "correlationid" => s.correlation_id = Some(value),
            "contenttype" => s.content_type = Some(value),
            "contentencoding" => s.content_encoding = Some(value),
            "connectiondeviceid" => s.connection_device_id = Some(value),
            "connectionmoduleid" => s.connection_module_id = Some(value),
            "outputname" => s.output_name = Some(value),
            "creationtimeutc" | "enqueuedtime" => {
                s.creation_time_ms =
                    Some(ganglion_time::parse_rfc3339(&value).ok_or(SampleError::Time(value))?)
            }
            _ => {}
        }
    }
    Ok(msg)
}

/// Where a sample message says it came from: a module when it names one, else
/// a leaf device.
pub fn sample_origin(msg: &Message) -> Origin<'_> {
    match &msg.system.connection_module_id {
        Some(module) => Origin::Module {
            module,
            output: msg.system.output_name.as_deref().unwrap_or(""),
        },
        None => Origin::Device(msg.system.connection_device_id.as_deref().unwrap_or("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::rfc3339;

    #[test]
    fn bodies_properties_and_system_properties() {
        let m = parse_sample(
            r#"{"body": {"t": 1}, "properties": {"a": "x", "n": 3},
                "systemProperties": {"$contentType": "application/json", "connectionDeviceId": "d1",
                                     "creationTimeUtc": "2026-03-01T00:00:00.123Z", "iothub-whatever": "ok"}}"#,
        )
        .unwrap();
        assert_eq!(m.body, br#"{"t":1}"#);
        assert_eq!(
            m.properties,
            [("a".into(), "x".into()), ("n".into(), "3".into())]
        );
        assert_eq!(m.system.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            rfc3339(m.system.creation_time_ms.unwrap()),
            "2026-03-01T00:00:00.123Z"
        );
        assert_eq!(sample_origin(&m), Origin::Device("d1"));
        let m = parse_sample(r#"{"body": "plain text"}"#).unwrap();
        assert_eq!(m.body, b"plain text");
        let m = parse_sample(r#"{"bodyBase64": "AAEC"}"#).unwrap();
        assert_eq!(m.body, [0, 1, 2]);
    }

    #[test]
    fn refusals() {
        assert!(matches!(parse_sample("[]"), Err(SampleError::Shape(_))));
        assert!(matches!(
            parse_sample(r#"{"bdy": 1}"#),
            Err(SampleError::Shape(_))
        ));
        assert!(matches!(
            parse_sample(r#"{"bodyBase64": "!!"}"#),
            Err(SampleError::Base64(_))
        ));
        assert!(matches!(
            parse_sample(r#"{"body": 1, "bodyBase64": "AA=="}"#),
            Err(SampleError::TwoBodies)
        ));
        assert!(matches!(
            parse_sample(r#"{"properties": {"a": [1]}}"#),
            Err(SampleError::Value(_))
        ));
        assert!(matches!(
            parse_sample(r#"{"systemProperties": {"creationTimeUtc": "yesterday"}}"#),
            Err(SampleError::Time(_))
        ));
    }
}
