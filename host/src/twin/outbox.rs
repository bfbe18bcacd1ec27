//! The reported patches that wait to be sent upstream, coalesced.
//!
//! While the uplink is busy or offline, a module may report many times. The
//! outbox folds all those patches into as few as possible, so that upstream
//! receives only the net change, in order.
//!
//! Folding follows the composition of merge patches: a later value wins, and
//! a later `null` stays a `null`, so that it still deletes the key upstream.
//! Two objects at the same key are folded key by key.
//!
//! One sequence cannot be folded into a single merge patch: a key is deleted
//! (or set to a scalar) and then set to an object. Upstream must end with
//! exactly that object, but a single patch holding the object would merge it
//! into whatever object upstream still has there. In that case the outbox
//! keeps a first patch that only deletes, and the rest in a second patch;
//! [`ReportedOutbox::take`] then hands them out one after the other. This is
//! rare; most of the time there is one patch to send.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::mem;

/// Reported patches waiting for the uplink, folded into at most two patches:
/// deletions that must reach upstream first, then everything else.
///
/// It lives in memory. It is serde-serializable, so that its owner may
/// persist it; otherwise, after a restart, what was reported while offline
/// can be re-sent by pushing the whole reported section (which restores
/// every key, but cannot delete keys removed while offline).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportedOutbox {
    /// A merge patch of deletions only (`null`, or objects of them) that must
    /// be applied upstream before `rest`. Empty unless a key was deleted and
    /// then set to an object.
    clear: Map<String, Value>,
    /// The folded patch applied after `clear`.
    rest: Map<String, Value>,
}

impl ReportedOutbox {
    /// An empty outbox.
    pub fn new() -> ReportedOutbox {
        ReportedOutbox::default()
    }

    /// Folds `patch`, a reported merge patch applied after everything pushed
    /// so far, into what waits to be sent. An empty patch changes nothing.
    pub fn push(&mut self, patch: &Map<String, Value>) {
        compose(Some(&mut self.clear), &mut self.rest, patch);
    }

    /// Returns the next patch to send upstream and removes it from the
    /// outbox, or `None` when nothing waits.
    ///
    /// Call it again after each successful send until it returns `None`:
    /// there may be a second patch (see the module documentation). If a send
    /// fails, hand the patch back with [`ReportedOutbox::restore`].
    pub fn take(&mut self) -> Option<Map<String, Value>> {
        if !self.clear.is_empty() {
            return Some(mem::take(&mut self.clear));
        }
        if !self.rest.is_empty() {
            return Some(mem::take(&mut self.rest));
        }
        None
    }

    /// Puts back a patch that [`ReportedOutbox::take`] returned but that
    /// could not be sent. It goes before anything pushed since, so the net
    /// change upstream stays the same.
    pub fn restore(&mut self, patch: Map<String, Value>) {
        let later = mem::take(self);
        self.push(&patch);
        self.push(&later.clear);
        self.push(&later.rest);
    }

    /// Whether nothing waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.clear.is_empty() && self.rest.is_empty()
    }
}

/// Folds `later` into the pair (`clear`, `rest`), at one level of nesting.
///
/// `clear` is `None` when this whole subtree is already deleted by an
/// enclosing `clear` entry, so that no further deletion is needed in it.
fn compose(
    mut clear: Option<&mut Map<String, Value>>,
    rest: &mut Map<String, Value>,
    later: &Map<String, Value>,
) {
    for (key, value) in later {
        let Value::Object(inner) = value else {
            // A later scalar, array or null replaces or deletes whatever came
            // before, including any deletion queued for this key.
            if let Some(clear) = clear.as_deref_mut() {
                clear.remove(key);
            }
            rest.insert(key.clone(), value.clone());
            continue;
        };
        match rest.get_mut(key) {
            // Nothing earlier here: the later object applies to what upstream
            // holds, so its nulls must stay.
            None => {
                rest.insert(key.clone(), value.clone());
            }
            // Two objects: fold them key by key.
            Some(Value::Object(earlier)) => match clear.as_deref_mut() {
                None => compose(None, earlier, inner),
                Some(clear) => {
                    let nested = clear
                        .entry(key.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    match nested {
                        Value::Object(nested_clear) => {
                            compose(Some(nested_clear), earlier, inner);
                            if nested_clear.is_empty() {
                                clear.remove(key);
                            }
                        }
                        // The key is deleted whole first: nothing more to
                        // delete inside it.
                        _ => compose(None, earlier, inner),
                    }
                }
            },
            // Earlier the key was deleted or set to a scalar, and now it is an
            // object: upstream must end with exactly this object. Delete the
            // key first, then set the object (its nulls have nothing left to
            // delete).
            Some(earlier) => {
                if let Some(clear) = clear.as_deref_mut() {
                    clear.insert(key.clone(), Value::Null);
                }
                let mut object = inner.clone();
                super::patch::strip_nulls(&mut object);
                *earlier = Value::Object(object);
            }
        }
    }
}
