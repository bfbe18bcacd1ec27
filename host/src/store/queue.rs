//! The `$upstream` queue's decisions, without I/O: the order messages leave in,
//! the expiry rule, the disk quota and its policy, and the in-flight window of
//! the uplink. The store applies these decisions to sled.
//!
//! Keys sort by priority first and arrival second: one byte of priority (0 is
//! highest, an unset priority is [`UNSET_PRIORITY`]) and eight bytes of a
//! sequence number that only grows, big-endian. Iterating the tree in key order
//! is therefore the sending order.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use crate::message::Message;

/// The priority byte of a route with no priority: after 0–9.
pub const UNSET_PRIORITY: u8 = 10;

/// A queue key: priority, then sequence.
pub type QueueKey = [u8; 9];

/// Makes the key of a message.
pub fn queue_key(priority: Option<u8>, seq: u64) -> QueueKey {
    let mut key = [0u8; 9];
    key[0] = priority.unwrap_or(UNSET_PRIORITY).min(UNSET_PRIORITY);
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The priority byte of a key.
pub fn key_priority(key: &[u8]) -> u8 {
    key.first().copied().unwrap_or(UNSET_PRIORITY)
}

/// A message as it waits in the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// When it was accepted, in ms since the Unix epoch.
    pub accepted_ms: u64,
    /// When it expires, in ms since the Unix epoch.
    pub expires_ms: u64,
    /// The route that sent it to `$upstream`.
    pub route: String,
    /// The message.
    pub message: Message,
}

impl QueuedMessage {
    /// Whether it has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_ms
    }
}

/// What to do when the queue's disk quota is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Refuse the new message (the default: what was accepted stays).
    #[default]
    Reject,
    /// Drop the oldest messages of the lowest priority until the new one fits.
    DropOldest,
}

/// The quota decision for one new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Store it.
    Accept,
    /// Refuse it.
    Reject,
    /// Drop this many bytes of the oldest, lowest-priority messages first.
    MakeRoom(u64),
}

/// The quota: how many bytes the queue's records may take, and the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The most bytes of queued records (keys and values).
    pub max_bytes: u64,
    /// What to do when a message does not fit.
    pub when_full: WhenFull,
}

impl Quota {
    /// Decides on a record of `size` bytes when `used` bytes are queued.
    pub fn admit(&self, used: u64, size: u64) -> Admission {
        if size > self.max_bytes {
            return Admission::Reject;
        }
        let after = used.saturating_add(size);
        if after <= self.max_bytes {
            return Admission::Accept;
        }
        match self.when_full {
            WhenFull::Reject => Admission::Reject,
            WhenFull::DropOldest => Admission::MakeRoom(after - self.max_bytes),
        }
    }
}

/// Where an in-flight message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Handed to the MQTT client, not sent yet.
    Pending,
    /// Sent under this packet id.
    Sent(u16),
    /// Refused by the broker: held back until the next connection.
    Parked,
}

/// The uplink's in-flight window: messages published and not yet acknowledged,
/// in publish order, with the MQTT packet id each got once it was sent.
#[derive(Debug, Default)]
pub struct InFlight {
    window: VecDeque<(QueueKey, Slot)>,
}

impl InFlight {
    /// How many messages take a place in the window (parked ones included).
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// Whether `key` is in the window.
    pub fn contains(&self, key: &QueueKey) -> bool {
        self.window.iter().any(|(k, _)| k == key)
    }

    /// The keys in the window.
    pub fn keys(&self) -> impl Iterator<Item = &QueueKey> {
        self.window.iter().map(|(k, _)| k)
    }

    /// Records that `key` was handed to the MQTT client.
    pub fn published(&mut self, key: QueueKey) {
        self.window.push_back((key, Slot::Pending));
    }

    /// Records that the client sent the oldest pending publish under `pkid`
    /// (the client sends in the order it was given).
    pub fn sent(&mut self, pkid: u16) {
        if let Some(slot) = self.window.iter_mut().find(|(_, s)| *s == Slot::Pending) {
            slot.1 = Slot::Sent(pkid);
        }
    }

    /// Takes the key acknowledged by packet id `pkid`, if it is in flight.
    pub fn acked(&mut self, pkid: u16) -> Option<QueueKey> {
        let at = self
            .window
            .iter()
            .position(|(_, s)| *s == Slot::Sent(pkid))?;
        self.window.remove(at).map(|(k, _)| k)
    }

    /// Holds back the message the broker refused under `pkid` until the next
    /// connection; returns its key.
    pub fn park(&mut self, pkid: u16) -> Option<QueueKey> {
        let slot = self
            .window
            .iter_mut()
            .find(|(_, s)| *s == Slot::Sent(pkid))?;
        slot.1 = Slot::Parked;
        Some(slot.0)
    }

    /// Forgets everything in the window (the connection dropped; the messages
    /// stay queued and are sent again); returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.window.len();
        self.window.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_priority_then_arrival() {
        let mut keys = [
            queue_key(None, 1),
            queue_key(Some(5), 9),
            queue_key(Some(0), 10),
            queue_key(Some(5), 2),
            queue_key(Some(0), 3),
        ];
        keys.sort();
        let order: Vec<(u8, u64)> = keys
            .iter()
            .map(|k| {
                (
                    key_priority(k),
                    u64::from_be_bytes(k[1..].try_into().unwrap()),
                )
            })
            .collect();
        assert_eq!(order, [(0, 3), (0, 10), (5, 2), (5, 9), (10, 1)]);
    }

    #[test]
    fn quota_policies() {
        let reject = Quota {
            max_bytes: 100,
            when_full: WhenFull::Reject,
        };
        assert_eq!(reject.admit(50, 50), Admission::Accept);
        assert_eq!(reject.admit(51, 50), Admission::Reject);
        assert_eq!(reject.admit(0, 101), Admission::Reject);
        let drop = Quota {
            max_bytes: 100,
            when_full: WhenFull::DropOldest,
        };
        assert_eq!(drop.admit(90, 30), Admission::MakeRoom(20));
        assert_eq!(drop.admit(0, 101), Admission::Reject);
    }

    #[test]
    fn in_flight_maps_packet_ids_in_publish_order() {
        let mut w = InFlight::default();
        let (a, b, c) = (
            queue_key(Some(0), 1),
            queue_key(Some(0), 2),
            queue_key(None, 3),
        );
        w.published(a);
        w.published(b);
        w.sent(7);
        w.published(c);
        w.sent(8);
        w.sent(9);
        assert_eq!(w.acked(8), Some(b));
        assert_eq!(w.acked(8), None);
        assert!(w.contains(&a) && w.contains(&c));
        assert_eq!(w.acked(9), Some(c));
        w.published(b);
        w.sent(10);
        assert_eq!(w.park(10), Some(b));
        assert_eq!(w.acked(10), None, "a parked message takes no ack");
        assert_eq!(w.len(), 2);
        assert_eq!(w.clear(), 2);
        assert!(w.is_empty());
    }
}
