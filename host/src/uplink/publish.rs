//! How a queued message travels as an MQTT 5 PUBLISH (see docs/protocol.md):
//! the body as the payload, application properties as user properties, system
//! properties as `$`-prefixed user properties (and the MQTT 5 content type,
//! correlation data and message expiry where MQTT has a field for them).

use crate::message::rfc3339;
use crate::store::queue::QueuedMessage;

/// The topic a device's telemetry goes to.
pub fn telemetry_topic(device: &str) -> String {
    crate::protocol::topics::Topics::new(device).events()
}

/// The parts of a PUBLISH, apart from the MQTT client's own types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The payload.
    pub payload: Vec<u8>,
    /// MQTT 5 user properties, in order.
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5 content type.
    pub content_type: Option<String>,
    /// MQTT 5 correlation data.
    pub correlation_data: Option<Vec<u8>>,
    /// MQTT 5 message expiry interval: the seconds left of the message's time
    /// to live, at least 1.
    pub expiry_secs: u32,
}

/// Maps a queued message to its PUBLISH at `now_ms`.
pub fn to_publish(record: &QueuedMessage, now_ms: u64) -> Outgoing {
    let m = &record.message;
    let s = &m.system;
    let mut props: Vec<(String, String)> = m.properties.clone();
    let mut system = |name: &str, value: &Option<String>| {
        if let Some(v) = value {
            props.push((format!("${name}"), v.clone()));
        }
    };
    system("messageId", &s.message_id);
    system("correlationId", &s.correlation_id);
    system("contentEncoding", &s.content_encoding);
    system("connectionModuleId", &s.connection_module_id);
    system("connectionDeviceId", &s.connection_device_id);
    system("outputName", &s.output_name);
    if let Some(ms) = s.creation_time_ms {
        props.push(("$creationTimeUtc".into(), rfc3339(ms)));
    }
    props.push(("$route".into(), record.route.clone()));
    let left_ms = record.expires_ms.saturating_sub(now_ms);
    let expiry_secs = u32::try_from(left_ms.div_ceil(1000))
        .unwrap_or(u32::MAX)
        .max(1);
    Outgoing {
        payload: m.body.clone(),
        user_properties: props,
        content_type: s.content_type.clone(),
        correlation_data: s.correlation_id.as_ref().map(|c| c.clone().into_bytes()),
        expiry_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::new_message;

    #[test]
    fn system_properties_travel_as_prefixed_user_properties() {
        let mut message = new_message(b"{}".to_vec());
        message
            .properties
            .push(("MessageType".into(), "Alert".into()));
        message.system.message_id = Some("id-1".into());
        message.system.content_type = Some("application/json".into());
        message.system.connection_module_id = Some("filter".into());
        message.system.creation_time_ms = Some(0);
        let record = QueuedMessage {
            accepted_ms: 1000,
            expires_ms: 11_500,
            route: "alerts".into(),
            message,
        };
        let out = to_publish(&record, 1000);
        assert_eq!(out.payload, b"{}");
        assert_eq!(out.content_type.as_deref(), Some("application/json"));
        assert_eq!(out.expiry_secs, 11);
        let props: Vec<(&str, &str)> = out
            .user_properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            props,
            [
                ("MessageType", "Alert"),
                ("$messageId", "id-1"),
                ("$connectionModuleId", "filter"),
                ("$creationTimeUtc", "1970-01-01T00:00:00.000Z"),
                ("$route", "alerts"),
            ]
        );
        assert_eq!(to_publish(&record, 20_000).expiry_secs, 1);
        assert_eq!(telemetry_topic("gw-1"), "ganglion/gw-1/messages/events");
    }
}
