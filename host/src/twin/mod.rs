//! Device and module twins, as in Azure IoT Hub, without I/O.
//!
//! A twin is a JSON document with two property sections: `desired`, written
//! by the cloud, and `reported`, written by the device or module. Each has a
//! `$version` that only ever increases. This module keeps one twin's state
//! ([`TwinDoc`]) and decides what each change does to it; the gateway task
//! that owns the twins, and the MQTT code, drive it from outside:
//!
//! - a desired patch from the cloud goes to [`TwinDoc::apply_desired_patch`];
//!   after a reconnect, the full desired section fetched again goes to
//!   [`TwinDoc::replace_desired`]. Either returns the patch that the module
//!   must be told about ([`DesiredOutcome::Applied`]), or says the update is
//!   stale ([`DesiredOutcome::Stale`]).
//! - a module's reported patch goes to [`TwinDoc::apply_reported_patch`].
//! - [`keeper`]: the task that owns the twins' documents; everything else
//!   holds a [`TwinHandle`].
//! - [`TwinStore`] keeps each twin in sled, durably, across restarts.
//!
//! Every change is checked against Azure's limits first (see [`limits`]); a
//! change that breaks one is refused with the path at fault, and the twin is
//! left as it was.
//!
//! Twins are named by a twin id: [`DEVICE_TWIN_ID`] (`$device`) for the
//! gateway device's own twin, and the module's name (as in the manifest) for
//! a module twin. A module name never starts with `$`, so the two never
//! collide.
//!
//! - [`patch`]: JSON merge patches (RFC 7396): [`merge`] and [`diff`].
//! - [`limits`]: the size, depth and key limits.
//! - [`store`]: the [`TwinStore`].

pub mod keeper;
pub mod limits;
pub mod patch;
pub mod store;

#[cfg(test)]
mod tests;

pub use keeper::{TwinHandle, Twins};
pub use limits::Violation;
pub use patch::{diff, merge};
pub use store::TwinStore;

use limits::{Kind, Section};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The twin id of the gateway device's own twin. A module twin's id is the
/// module's name.
pub const DEVICE_TWIN_ID: &str = "$device";

/// The key that carries the version in a desired patch or a desired section,
/// as Azure sends them (the protocol's).
pub use crate::protocol::twin::VERSION_KEY;

/// Why a twin operation was refused, or why the twin store failed.
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    /// A patch or document is not a JSON object.
    #[error("the {what} must be a JSON object, but it is {found}")]
    NotAnObject {
        /// What was given: "desired patch", "desired document" or
        /// "reported patch".
        what: &'static str,
        /// The kind of JSON value found instead.
        found: &'static str,
    },
    /// The `$version` of a desired patch is not a non-negative integer.
    #[error("the desired patch's $version must be a non-negative integer, but it is {found}")]
    BadVersion {
        /// The value found, as JSON.
        found: String,
    },
    /// The version of a section cannot grow any further.
    #[error("{section}: $version is already {version} and cannot grow any further")]
    VersionExhausted {
        /// "desired" or "reported".
        section: &'static str,
        /// The current version.
        version: u64,
    },
    /// A patch, or the document it would produce, breaks one of Azure's
    /// limits. Nothing was changed.
    #[error("{path}: {violation}")]
    Limit {
        /// Where: the section and the key path, as in `desired.a.b[2].c`.
        path: String,
        /// Which limit, and by how much.
        violation: Violation,
    },
    /// The `twins` tree cannot be opened.
    #[error("cannot open the twins tree of the store: {0}")]
    Open(#[source] sled::Error),
    /// Reading, writing or flushing one twin failed.
    #[error("twin {twin_id}: the store failed: {source}")]
    Store {
        /// The twin.
        twin_id: String,
        /// What sled said.
        #[source]
        source: sled::Error,
    },
    /// A stored twin does not decode. It was left in place, not reset.
    #[error(
        "twin {twin_id}: the stored document does not decode ({source}); \
         it was left as it is, not reset"
    )]
    Corrupt {
        /// The twin.
        twin_id: String,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
    },
    /// The twin keeper has stopped (the gateway is stopping).
    #[error("twin {twin_id}: the twin keeper has stopped")]
    Stopped {
        /// The twin.
        twin_id: String,
    },
    /// A twin cannot be encoded for storage.
    #[error("twin {twin_id}: cannot encode the document: {source}")]
    Encode {
        /// The twin.
        twin_id: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// What a desired update did.
#[derive(Debug, Clone, PartialEq)]
pub enum DesiredOutcome {
    /// The update was applied. The module must be told `patch`.
    Applied {
        /// The desired section's new `$version`.
        version: u64,
        /// The merge patch the desired section went through, without
        /// `$version`. It may be empty if a full document changed nothing
        /// but the version.
        patch: Map<String, Value>,
    },
    /// The update's version is not newer than the twin's; nothing changed.
    Stale,
}

/// One twin's desired and reported properties, with their versions.
///
/// A new twin is empty, at version 0 on both sides. Neither section ever
/// holds `null` as the value of a key: `null` in a patch deletes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwinDoc {
    /// The desired properties, written by the cloud.
    pub desired: Map<String, Value>,
    /// The `$version` of `desired`.
    pub desired_version: u64,
    /// The reported properties, written by the device or module.
    pub reported: Map<String, Value>,
    /// The `$version` of `reported`, counted here: one more per patch.
    pub reported_version: u64,
}

impl TwinDoc {
    /// Applies a desired merge patch from the cloud.
    ///
    /// `patch` must be a JSON object. Its version is `version` if given,
    /// otherwise the patch's top-level `$version`, as Azure sends it (which
    /// must then be a non-negative integer). A top-level `$version` is
    /// removed from the patch either way; it is never stored as a property.
    ///
    /// - If the version is known and not above the twin's desired version,
    ///   the patch is stale: [`DesiredOutcome::Stale`], and nothing changes.
    /// - With no version at all, the new version is the current one plus 1.
    /// - Otherwise the patch is checked against the limits, merged, and
    ///   [`DesiredOutcome::Applied`] returns the new version and the patch as
    ///   applied.
    ///
    /// A version more than one above the current one means that patches were
    /// missed: the patch is still applied, and the caller should fetch the
    /// full desired section and pass it to [`TwinDoc::replace_desired`].
    pub fn apply_desired_patch(
        &mut self,
        patch: &Value,
        version: Option<u64>,
    ) -> Result<DesiredOutcome, TwinError> {
        let mut patch = as_object(patch, "desired patch")?.clone();
        let carried = patch.remove(VERSION_KEY);
        let version = match (version, carried) {
            (Some(version), _) => Some(version),
            (None, Some(carried)) => {
                Some(carried.as_u64().ok_or_else(|| TwinError::BadVersion {
                    found: carried.to_string(),
                })?)
            }
            (None, None) => None,
        };
        let version = match version {
            Some(version) if version <= self.desired_version => {
                return Ok(DesiredOutcome::Stale);
            }
            Some(version) => version,
            None => next_version(Section::Desired, self.desired_version)?,
        };
        limits::check(Section::Desired, Kind::Patch, &patch)?;
        let mut desired = self.desired.clone();
        patch::merge_map(&mut desired, &patch);
        limits::check(Section::Desired, Kind::Document, &desired)?;
        self.desired = desired;
        self.desired_version = version;
        Ok(DesiredOutcome::Applied { version, patch })
    }

    /// Replaces the whole desired section with `full`, a desired section
    /// fetched from the cloud (after a reconnect, or after missed patches),
    /// at `version`.
    ///
    /// If `version` is not above the twin's desired version, this is stale
    /// and nothing changes. Otherwise `full` is checked against the limits
    /// and replaces the desired section, and [`DesiredOutcome::Applied`]
    /// carries the merge patch from the old section to the new one: what the
    /// module must be told. A top-level `$version` in `full`, as in Azure's
    /// twin document, is ignored (`version` is authoritative), and keys whose
    /// value is `null` count as absent.
    pub fn replace_desired(
        &mut self,
        full: &Value,
        version: u64,
    ) -> Result<DesiredOutcome, TwinError> {
        let mut desired = as_object(full, "desired document")?.clone();
        if version <= self.desired_version {
            return Ok(DesiredOutcome::Stale);
        }
        desired.remove(VERSION_KEY);
        patch::strip_nulls(&mut desired);
        limits::check(Section::Desired, Kind::Document, &desired)?;
        let patch = diff(&self.desired, &desired);
        self.desired = desired;
        self.desired_version = version;
        Ok(DesiredOutcome::Applied { version, patch })
    }

    /// Applies a reported merge patch from the device or a module, and
    /// returns the reported section's new version (one more than before).
    ///
    /// `patch` must be a JSON object, and it and the resulting section must
    /// keep within the limits; otherwise nothing changes. Keys starting with
    /// `$` (such as `$version`) are refused, like every key with a `$`.
    pub fn apply_reported_patch(&mut self, patch: &Value) -> Result<u64, TwinError> {
        let patch = as_object(patch, "reported patch")?;
        limits::check(Section::Reported, Kind::Patch, patch)?;
        let version = next_version(Section::Reported, self.reported_version)?;
        let mut reported = self.reported.clone();
        patch::merge_map(&mut reported, patch);
        limits::check(Section::Reported, Kind::Document, &reported)?;
        self.reported = reported;
        self.reported_version = version;
        Ok(version)
    }
}

/// The object in `value`, or an error naming `what` was given instead.
fn as_object<'a>(
    value: &'a Value,
    what: &'static str,
) -> Result<&'a Map<String, Value>, TwinError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(TwinError::NotAnObject {
            what,
            found: json_kind(other),
        }),
    }
}

/// The kind of a JSON value, with its article, for error messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The version after `current`.
fn next_version(section: Section, current: u64) -> Result<u64, TwinError> {
    current.checked_add(1).ok_or(TwinError::VersionExhausted {
        section: section.name(),
        version: current,
    })
}
