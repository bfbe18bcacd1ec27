//! Pushed artifacts: chunks on `ganglion/{device}/artifacts/{hex}/{n}`, and
//! the gateway's answer on `ganglion/{device}/artifact-states/{hex}`,
//! `{"digest": "sha256:<hex>", "code": 200 | 400, "description": "..."}`.

use super::code::{BAD_REQUEST, OK};
use serde::{Deserialize, Serialize};

/// The artifact was checked and stored.
pub const STORED: u16 = OK;
/// The artifact was refused (a bad signature, a component that does not
/// compile, ...).
pub const REFUSED: u16 = BAD_REQUEST;

/// The user property a pusher may set to name the module the artifact is
/// for (only used in messages).
pub const MODULE_PROPERTY: &str = "module";

/// The gateway's answer about one artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactState {
    /// `sha256:<hex>`.
    #[serde(default)]
    pub digest: String,
    /// [`STORED`] or [`REFUSED`].
    pub code: u16,
    /// Why, for people (empty if the gateway gave no reason).
    #[serde(default)]
    pub description: String,
}

impl ArtifactState {
    /// The state of the artifact with hex digest `hex`.
    pub fn new(hex: &str, code: u16, description: String) -> ArtifactState {
        ArtifactState {
            digest: format!("sha256:{hex}"),
            code,
            description,
        }
    }

    /// Parses a published state; `None` if it is not one.
    pub fn parse(payload: &[u8]) -> Option<ArtifactState> {
        serde_json::from_slice(payload).ok()
    }

    /// The document as published.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the artifact was stored.
    pub fn is_stored(&self) -> bool {
        self.code == STORED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips() {
        let s = ArtifactState::new("ab12", REFUSED, "bad signature".to_string());
        let payload = s.to_payload();
        assert_eq!(
            payload,
            r#"{"digest":"sha256:ab12","code":400,"description":"bad signature"}"#
        );
        assert_eq!(ArtifactState::parse(payload.as_bytes()), Some(s));
        assert_eq!(ArtifactState::parse(b"{}"), None);
        let bare = ArtifactState::parse(br#"{"code": 400}"#).unwrap();
        assert_eq!((bare.is_stored(), bare.description.as_str()), (false, ""));
    }
}
