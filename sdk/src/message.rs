//! [`Message`]: the unit that modules receive and send, with builders and JSON
//! helpers.

use crate::bindings::module::types::{Message as WitMessage, SystemProperties as WitSystem};
use serde::{Serialize, de::DeserializeOwned};

/// The content type that [`Message::json`] sets.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// The content encoding that [`Message::json`] sets.
pub const UTF8_ENCODING: &str = "utf-8";

/// A message: a body of bytes, application properties (string pairs) and system
/// properties. The host sets the source module, output and device; values a
/// module puts there are replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    inner: WitMessage,
}

impl Message {
    /// A message with `body` and no properties.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Message {
            inner: WitMessage {
                body: body.into(),
                properties: Vec::new(),
                system: WitSystem {
                    message_id: None,
                    correlation_id: None,
                    content_type: None,
                    content_encoding: None,
                    creation_time_ms: None,
                    connection_module_id: None,
                    connection_device_id: None,
                    output_name: None,
                },
            },
        }
    }

    /// A message whose body is `value` as JSON, with content type
    /// `application/json` and encoding `utf-8`, so that routes can query it with
    /// `$body`.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_vec(value)?;
        Ok(Message::new(body)
            .with_content_type(JSON_CONTENT_TYPE)
            .with_content_encoding(UTF8_ENCODING))
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.inner.body
    }

    /// The body parsed as JSON into `T`.
    pub fn body_json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.inner.body)
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = body.into();
        self
    }

    /// Sets application property `name` to `value`, replacing an earlier value.
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_property(name, value);
        self
    }

    /// Sets application property `name` to `value`, replacing an earlier value.
    pub fn set_property(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.inner.properties.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.inner.properties.push((name, value)),
        }
    }

    /// The value of application property `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.inner
            .properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All application properties, in order.
    pub fn properties(&self) -> &[(String, String)] {
        &self.inner.properties
    }

    /// Sets the message id.
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.inner.system.message_id = Some(id.into());
        self
    }

    /// Sets the correlation id.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.inner.system.correlation_id = Some(id.into());
        self
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.inner.system.content_type = Some(content_type.into());
        self
    }

    /// Sets the content encoding.
    pub fn with_content_encoding(mut self, encoding: impl Into<String>) -> Self {
        self.inner.system.content_encoding = Some(encoding.into());
        self
    }

    /// Sets the creation time, in milliseconds since the Unix epoch.
    pub fn with_creation_time_ms(mut self, ms: u64) -> Self {
        self.inner.system.creation_time_ms = Some(ms);
        self
    }

    /// The message id.
    pub fn message_id(&self) -> Option<&str> {
        self.inner.system.message_id.as_deref()
    }

    /// The correlation id.
    pub fn correlation_id(&self) -> Option<&str> {
        self.inner.system.correlation_id.as_deref()
    }

    /// The content type.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.system.content_type.as_deref()
    }

    /// The content encoding.
    pub fn content_encoding(&self) -> Option<&str> {
        self.inner.system.content_encoding.as_deref()
    }

    /// The creation time, in milliseconds since the Unix epoch.
    pub fn creation_time_ms(&self) -> Option<u64> {
        self.inner.system.creation_time_ms
    }

    /// The module that sent the message, as the host recorded it.
    pub fn source_module(&self) -> Option<&str> {
        self.inner.system.connection_module_id.as_deref()
    }

    /// The output the message left its module by, as the host recorded it.
    pub fn source_output(&self) -> Option<&str> {
        self.inner.system.output_name.as_deref()
    }

    /// The leaf device the message came from, for ingested messages.
    pub fn source_device(&self) -> Option<&str> {
        self.inner.system.connection_device_id.as_deref()
    }

    /// The message as the generated WIT type.
    pub fn as_wit(&self) -> &WitMessage {
        &self.inner
    }
}

impl From<WitMessage> for Message {
    fn from(inner: WitMessage) -> Self {
        Message { inner }
    }
}

impl From<Message> for WitMessage {
    fn from(msg: Message) -> Self {
        msg.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_builder_sets_type_encoding_and_round_trips() {
        let msg = Message::json(&serde_json::json!({"t": 21.5}))
            .unwrap()
            .with_property("MessageType", "Alert")
            .with_property("MessageType", "Info");
        assert_eq!(msg.content_type(), Some(JSON_CONTENT_TYPE));
        assert_eq!(msg.content_encoding(), Some(UTF8_ENCODING));
        assert_eq!(msg.property("MessageType"), Some("Info"));
        assert_eq!(msg.properties().len(), 1);
        let v: serde_json::Value = msg.body_json().unwrap();
        assert_eq!(v["t"], 21.5);
    }
}
