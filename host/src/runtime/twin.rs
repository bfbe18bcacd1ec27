//! A module's twin as its instances see it: the host side of the `twin`
//! import. The twin document is shared with the gateway's agent, which stores
//! it, publishes it and applies the cloud's desired changes; an instance reads
//! the desired properties and applies its reported patches under the lock, and
//! tells the agent what changed through a bounded channel.

use super::ModuleState;
use crate::bindings::ganglion::module::twin;
use crate::protocol::twin::VersionedDoc;
use crate::twin::{TwinDoc, VERSION_KEY};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

/// How many reported changes may wait for the agent.
pub const REPORTED_CHANGES: usize = 256;

/// A reported patch a module applied, for the agent to store and publish.
#[derive(Debug, Clone)]
pub struct ReportedChange {
    /// The twin (the module's name).
    pub twin: Arc<str>,
    /// The patch as applied.
    pub patch: Map<String, Value>,
}

/// One twin document shared between its owner (the agent) and the module.
pub type SharedTwin = Arc<Mutex<TwinDoc>>;

/// Locks a shared twin; a poisoned lock still holds a consistent document
/// (every change is applied whole or not at all).
pub fn lock(twin: &SharedTwin) -> MutexGuard<'_, TwinDoc> {
    twin.lock().unwrap_or_else(|p| p.into_inner())
}

/// The desired section as a module sees it: the properties with `$version`.
pub fn desired_json(doc: &TwinDoc) -> Value {
    VersionedDoc::new(doc.desired_version, doc.desired.clone()).to_json()
}

/// A module's twin: its document and the agent's change queue.
#[derive(Clone)]
pub struct ModuleTwin {
    /// The twin's id (the module's name).
    pub id: Arc<str>,
    /// The document.
    pub doc: SharedTwin,
    /// Where reported changes go.
    pub changes: mpsc::Sender<ReportedChange>,
}

impl ModuleTwin {
    /// The desired section with its `$version`, as JSON text.
    pub fn desired(&self) -> String {
        desired_json(&lock(&self.doc)).to_string()
    }

    /// Applies a reported patch (JSON text) and queues it for the agent.
    pub fn report(&self, patch: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(patch)
            .map_err(|e| format!("the reported patch is not JSON: {e}"))?;
        let permit = self.changes.try_reserve().map_err(|_| {
            "reported changes arrive faster than the gateway stores them; report again later"
                .to_string()
        })?;
        let patch = match &value {
            Value::Object(map) => map.clone(),
            _ => return Err("the reported patch must be a JSON object".to_string()),
        };
        lock(&self.doc)
            .apply_reported_patch(&value)
            .map_err(|e| e.to_string())?;
        permit.send(ReportedChange {
            twin: self.id.clone(),
            patch,
        });
        Ok(())
    }
}

impl twin::Host for ModuleState {
    fn desired(&mut self) -> String {
        match &self.twin {
            Some(t) => t.desired(),
            None => format!("{{\"{VERSION_KEY}\":0}}"),
        }
    }

    fn report(&mut self, patch: String) -> Result<(), String> {
        match &self.twin {
            Some(t) => t.report(&patch),
            None => Err("this module has no twin here".to_string()),
        }
    }
}
