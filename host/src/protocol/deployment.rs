//! The deployment document, retained on `ganglion/{device}/deployment`:
//! `{"version": N, "manifest": "<TOML text>"}`. The gateway applies a version
//! it has not seen yet and reports the outcome in its status document
//! ([`super::status`]), with one of the codes below.

use super::MAX_INBOUND_PACKET;
use super::code::{BAD_REQUEST, INTERNAL_ERROR, OK};
use serde_json::{Value, json};

/// The deployment was applied.
pub const APPLIED: u16 = OK;
/// The deployment was refused (it does not parse or validate, or a module
/// failed to load); the last good one keeps running.
pub const REFUSED: u16 = BAD_REQUEST;
/// A swapped module failed its probation and went back to its previous
/// version.
pub const ROLLED_BACK: u16 = INTERNAL_ERROR;

/// The largest deployment document, in bytes: the gateway takes packets of
/// at most [`MAX_INBOUND_PACKET`] bytes (a broker drops a larger one for it),
/// and the topic and properties need some room.
pub const MAX_DEPLOYMENT_BYTES: usize = MAX_INBOUND_PACKET as usize - 4096;

/// A deployment document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Its version, at least 1, raised with each deployment.
    pub version: u64,
    /// The manifest, as TOML text.
    pub manifest: String,
}

impl Deployment {
    /// Parses a document: a JSON object with an integer `version` of at
    /// least 1 and a string `manifest`, and nothing else. The error says what
    /// is wrong, for an operator.
    pub fn parse(payload: &[u8]) -> Result<Deployment, String> {
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| format!("not JSON ({e})"))?;
        let Value::Object(doc) = value else {
            return Err("not a JSON object".to_string());
        };
        if let Some(other) = doc
            .keys()
            .find(|k| !matches!(k.as_str(), "version" | "manifest"))
        {
            return Err(format!(
                "unknown field `{other}` (known: version, manifest)"
            ));
        }
        let version = match doc.get("version") {
            Some(v) => v
                .as_u64()
                .filter(|&v| v >= 1)
                .ok_or_else(|| format!("its version must be an integer of at least 1, not {v}"))?,
            None => return Err("it has no version".to_string()),
        };
        let manifest = match doc.get("manifest") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => return Err(format!("its manifest must be a string, not {other}")),
            None => return Err("it has no manifest".to_string()),
        };
        Ok(Deployment { version, manifest })
    }

    /// The document as published: compact JSON. It is refused when longer
    /// than [`MAX_DEPLOYMENT_BYTES`], with its length.
    pub fn to_payload(&self) -> Result<Vec<u8>, String> {
        let payload = json!({
            "version": self.version,
            "manifest": self.manifest,
        })
        .to_string()
        .into_bytes();
        if payload.len() > MAX_DEPLOYMENT_BYTES {
            return Err(format!(
                "its deployment document is {} bytes; a gateway takes at most \
                 {MAX_DEPLOYMENT_BYTES}",
                payload.len()
            ));
        }
        Ok(payload)
    }
}

/// The version a document that does not parse says it is, if it says: the
/// gateway records it as refused, so that it is not tried again.
pub fn claimed_version(payload: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Value>(payload)
        .ok()?
        .get("version")?
        .as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_parse_with_one_set_of_rules() {
        assert_eq!(
            Deployment::parse(br#"{"version": 3, "manifest": "[routes]\n"}"#),
            Ok(Deployment {
                version: 3,
                manifest: "[routes]\n".to_string()
            })
        );
        for (payload, needle) in [
            ("[routes]", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"manifest": ""}"#, "no version"),
            (r#"{"version": 0, "manifest": ""}"#, "at least 1"),
            (r#"{"version": -1, "manifest": ""}"#, "at least 1"),
            (r#"{"version": "2", "manifest": ""}"#, "at least 1"),
            (r#"{"version": 1}"#, "no manifest"),
            (r#"{"version": 1, "manifest": 3}"#, "must be a string"),
            (
                r#"{"version": 1, "manifest": "", "x": 1}"#,
                "unknown field `x`",
            ),
        ] {
            let e = Deployment::parse(payload.as_bytes()).unwrap_err();
            assert!(e.contains(needle), "{payload}: {e}");
        }
        assert_eq!(
            claimed_version(br#"{"version": 7, "manifest": 3}"#),
            Some(7)
        );
        assert_eq!(claimed_version(b"[routes]"), None);
    }

    #[test]
    fn a_document_round_trips_and_the_size_is_bounded() {
        let d = Deployment {
            version: 9,
            manifest: "[routes]\nr = \"FROM /messages/* INTO $upstream\"\n".to_string(),
        };
        assert_eq!(Deployment::parse(&d.to_payload().unwrap()), Ok(d));
        let big = Deployment {
            version: 1,
            manifest: "#".repeat(MAX_DEPLOYMENT_BYTES),
        };
        let e = big.to_payload().unwrap_err();
        assert!(e.contains("at most"), "{e}");
    }
}
