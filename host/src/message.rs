//! Messages as the host handles them: the WIT `message` record, plus the limits
//! and the stamping of system properties that the host owns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::bindings::module::types::{Message, SystemProperties};

/// The largest message, counting the body and every property name and value
/// (Azure IoT Edge's limit).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A message with `body` and nothing else set.
pub fn new_message(body: impl Into<Vec<u8>>) -> Message {
    Message {
        body: body.into(),
        properties: Vec::new(),
        system: SystemProperties {
            message_id: None,
            correlation_id: None,
            content_type: None,
            content_encoding: None,
            creation_time_ms: None,
            connection_module_id: None,
            connection_device_id: None,
            output_name: None,
        },
    }
}

/// The size of a message as the limit counts it.
pub fn message_size(msg: &Message) -> usize {
    let props: usize = msg.properties.iter().map(|(k, v)| k.len() + v.len()).sum();
    let s = &msg.system;
    let system: usize = [
        &s.message_id,
        &s.correlation_id,
        &s.content_type,
        &s.content_encoding,
    ]
    .iter()
    .map(|v| v.as_ref().map_or(0, String::len))
    .sum();
    msg.body.len() + props + system
}

/// The value of application property `name`.
pub fn property<'m>(msg: &'m Message, name: &str) -> Option<&'m str> {
    msg.properties
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Milliseconds since the Unix epoch, now, and `ms` as RFC 3339 UTC text
/// (`YYYY-MM-DDTHH:MM:SS.mmmZ`): the SDK's own implementation
/// (`ganglion-time`), so that host and modules write times alike.
pub use ganglion_time::{format_rfc3339 as rfc3339, now_ms};

/// Makes message ids that are unique within this process and, with the start
/// time mixed in, across restarts.
#[derive(Debug)]
pub struct IdGenerator {
    prefix: u64,
    next: AtomicU64,
}

impl IdGenerator {
    /// A generator whose ids start with this process's start time.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        IdGenerator {
            prefix: nanos ^ u64::from(std::process::id()).rotate_left(48),
            next: AtomicU64::new(1),
        }
    }

    /// The next id: the prefix in 16 hex digits, `-`, and a counter in hex
    /// (written by hand: `format!` was a tenth of a module's `send`).
    pub fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(33);
        push_hex(&mut id, self.prefix, 16);
        id.push('-');
        push_hex(&mut id, n, 1);
        id
    }
}

/// Appends `n` in lower-case hex, at least `width` digits.
fn push_hex(out: &mut String, n: u64, width: u32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(width);
    for i in (0..digits).rev() {
        out.push(char::from(DIGITS[((n >> (i * 4)) & 0xf) as usize]));
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// Fills in what the host owns when a message leaves module `module` by `output`:
/// the source module and output (replacing what the module set), and an id and a
/// creation time when the module left them unset.
pub fn stamp_from_module(msg: &mut Message, module: &str, output: &str, ids: &IdGenerator) {
    stamp_from_module_at(msg, module, output, ids, now_ms);
}

/// [`stamp_from_module`], with the creation time (if one is needed) from
/// `now`: a module's sends in one call share one reading of the clock.
pub fn stamp_from_module_at(
    msg: &mut Message,
    module: &str,
    output: &str,
    ids: &IdGenerator,
    now: impl FnOnce() -> u64,
) {
    let s = &mut msg.system;
    overwrite(&mut s.connection_module_id, module);
    overwrite(&mut s.output_name, output);
    s.connection_device_id = None;
    if s.message_id.is_none() {
        s.message_id = Some(ids.next_id());
    }
    if s.creation_time_ms.is_none() {
        s.creation_time_ms = Some(now());
    }
}

/// Sets `slot` to `value`, in the string already there if there is one: a
/// module that passes on what it received sends back the names the host
/// stamped a hop before, and their buffers serve again.
fn overwrite(slot: &mut Option<String>, value: &str) {
    match slot {
        Some(s) => {
            s.clear();
            s.push_str(value);
        }
        None => *slot = Some(value.to_owned()),
    }
}

/// Fills in what the host owns when a message arrives from leaf device `device`.
pub fn stamp_from_device(msg: &mut Message, device: &str, ids: &IdGenerator) {
    let s = &mut msg.system;
    overwrite(&mut s.connection_device_id, device);
    s.connection_module_id = None;
    s.output_name = None;
    if s.message_id.is_none() {
        s.message_id = Some(ids.next_id());
    }
    if s.creation_time_ms.is_none() {
        s.creation_time_ms = Some(now_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamping_replaces_the_source_and_fills_gaps() {
        let ids = IdGenerator::new();
        let mut msg = new_message(b"{}".to_vec());
        msg.system.connection_module_id = Some("impostor".into());
        msg.system.message_id = Some("keep-me".into());
        stamp_from_module(&mut msg, "filter", "output1", &ids);
        assert_eq!(msg.system.connection_module_id.as_deref(), Some("filter"));
        assert_eq!(msg.system.output_name.as_deref(), Some("output1"));
        assert_eq!(msg.system.message_id.as_deref(), Some("keep-me"));
        assert!(msg.system.creation_time_ms.is_some());
        assert_ne!(ids.next_id(), ids.next_id());
    }

    #[test]
    fn ids_are_the_prefix_and_the_counter_in_hex() {
        for (prefix, first) in [(0, 1), (0xdead_beef, 0xff), (u64::MAX, u64::MAX - 1)] {
            let ids = IdGenerator {
                prefix,
                next: AtomicU64::new(first),
            };
            assert_eq!(ids.next_id(), format!("{prefix:016x}-{first:x}"));
            assert_eq!(ids.next_id(), format!("{prefix:016x}-{:x}", first + 1));
        }
        let mut zero = String::new();
        push_hex(&mut zero, 0, 1);
        assert_eq!(zero, "0");
    }

    #[test]
    fn size_counts_body_and_properties() {
        let mut msg = new_message(vec![0u8; 10]);
        msg.properties.push(("ab".into(), "cde".into()));
        msg.system.content_type = Some("application/json".into());
        assert_eq!(message_size(&msg), 10 + 5 + 16);
    }
}
