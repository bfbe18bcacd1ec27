//! Reading an event out of a message: its event time, its key and its field
//! values, as [`Settings`] say.

use crate::config::{KeyBy, Settings, lookup};
use ganglion_sdk::Message;
use ganglion_sdk::time::parse_rfc3339;
use serde_json::Value;

/// The key of messages that lack what `key-by` names.
pub const UNKNOWN_KEY: &str = "unknown";
/// The longest key, in bytes; a longer one is refused.
pub const MAX_KEY_BYTES: usize = 256;

/// What the window engine needs from one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event time, ms since the epoch.
    pub time: u64,
    /// The grouping key.
    pub key: String,
    /// One value per configured field; `None` where missing or not a number.
    pub values: Vec<Option<f64>>,
}

/// Why a message is not an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// Neither a creation time nor a usable time field.
    NoEventTime,
    /// The body is not JSON, or the key is too long.
    Bad(String),
}

/// Reads the event in `msg`. The event time is the message's creation time
/// (system property); when it has none, the `time-field` of the body, if
/// configured (a number of ms since the epoch, or RFC 3339 text).
pub fn read(settings: &Settings, msg: &Message) -> Result<Event, Skip> {
    let body: Value = msg
        .body_json()
        .map_err(|e| Skip::Bad(format!("the body is not JSON: {e}")))?;
    let time = msg
        .creation_time_ms()
        .or_else(|| {
            let path = settings.time_field.as_deref()?;
            body_time(lookup(&body, path)?)
        })
        .ok_or(Skip::NoEventTime)?;
    let key = match &settings.key_by {
        KeyBy::Source => msg
            .source_device()
            .or(msg.source_module())
            .map(str::to_string),
        KeyBy::Device => msg.source_device().map(str::to_string),
        KeyBy::Module => msg.source_module().map(str::to_string),
        KeyBy::Field(path) => match lookup(&body, path) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
    }
    .unwrap_or_else(|| UNKNOWN_KEY.to_string());
    if key.len() > MAX_KEY_BYTES {
        return Err(Skip::Bad(format!(
            "the key is {} bytes long; at most {MAX_KEY_BYTES} are allowed",
            key.len()
        )));
    }
    let values = settings
        .fields
        .iter()
        .map(|path| lookup(&body, path).and_then(Value::as_f64))
        .collect();
    Ok(Event { time, key, values })
}

fn body_time(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_rfc3339(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ganglion_sdk::Config;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let pairs = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::from_config(&Config::new(pairs.collect())).unwrap()
    }

    const READING: &str = r#"{"machine":{"temperature":21.5,"pressure":"high"},"timeCreated":"1970-01-01T00:00:02.000Z","site":7}"#;

    #[test]
    fn creation_time_wins_and_the_body_field_is_the_fallback() {
        let s = settings(&[
            ("time-field", "timeCreated"),
            ("fields", "machine.temperature,machine.pressure"),
        ]);
        let msg = Message::new(READING).with_creation_time_ms(1234);
        let e = read(&s, &msg).unwrap();
        assert_eq!((e.time, e.key.as_str()), (1234, UNKNOWN_KEY));
        assert_eq!(e.values, vec![Some(21.5), None]);
        assert_eq!(read(&s, &Message::new(READING)).unwrap().time, 2000);
        let no_field = settings(&[]);
        assert_eq!(
            read(&no_field, &Message::new(READING)),
            Err(Skip::NoEventTime)
        );
    }

    #[test]
    fn keys_come_from_a_body_field_and_bad_bodies_are_refused() {
        let s = settings(&[("key-by", "field:site")]);
        let msg = Message::new(READING).with_creation_time_ms(1);
        assert_eq!(read(&s, &msg).unwrap().key, "7");
        assert!(matches!(
            read(&s, &Message::new("{").with_creation_time_ms(1)),
            Err(Skip::Bad(_))
        ));
    }
}
