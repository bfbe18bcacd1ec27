//! Twin documents on the wire. Each side of a twin (desired, written by the
//! cloud; reported, written by the gateway and its modules) is published,
//! retained, as a JSON object of its properties with a `$version`, on
//! `ganglion/{device}/twins/{twin}/desired` and `.../reported`
//! (`docs/protocol.md`, "Twins"). The gateway's agent and the operator's
//! tools both read and write them through [`VersionedDoc`].

use serde_json::{Map, Value};

/// The key of a twin document's version.
pub const VERSION_KEY: &str = "$version";

/// One side of a twin (desired or reported) as the broker holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionedDoc {
    /// Its `$version`; 0 if it was never published.
    pub version: u64,
    /// Its properties, without `$version`.
    pub properties: Map<String, Value>,
    /// Whether a document was retained on the broker at all.
    pub published: bool,
}

impl VersionedDoc {
    /// A published document of `properties` at `version`.
    pub fn new(version: u64, properties: Map<String, Value>) -> VersionedDoc {
        VersionedDoc {
            version,
            properties,
            published: true,
        }
    }

    /// Parses a document as published: a JSON object whose `$version` is a
    /// non-negative integer. The error says what is wrong with it.
    pub fn parse(payload: &[u8]) -> Result<VersionedDoc, String> {
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| format!("not JSON ({e})"))?;
        let Value::Object(mut properties) = value else {
            return Err("not a JSON object".to_string());
        };
        let version = match properties.remove(VERSION_KEY) {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("its $version must be a non-negative integer, not {v}"))?,
            None => return Err("it has no $version".to_string()),
        };
        Ok(VersionedDoc::new(version, properties))
    }

    /// The document as published: its properties with `$version`.
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        doc.insert(VERSION_KEY.to_string(), Value::from(self.version));
        doc.extend(self.properties.clone());
        Value::Object(doc)
    }

    /// The payload to publish.
    pub fn to_payload(&self) -> String {
        self.to_json().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_and_a_bad_one_says_why() {
        let doc = VersionedDoc::parse(br#"{"$version": 3, "t": 30}"#).unwrap();
        assert_eq!(doc.version, 3);
        assert_eq!(doc.properties.get("t"), Some(&Value::from(30)));
        assert_eq!(VersionedDoc::parse(doc.to_payload().as_bytes()), Ok(doc));
        for (payload, why) in [
            ("nope", "not JSON"),
            ("[1]", "not a JSON object"),
            ("{}", "no $version"),
            (r#"{"$version": -1}"#, "non-negative integer"),
            (r#"{"$version": "2"}"#, "non-negative integer"),
        ] {
            let e = VersionedDoc::parse(payload.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{payload}: {e}");
        }
    }
}
