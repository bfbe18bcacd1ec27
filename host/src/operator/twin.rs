//! Twins from the cloud side: `ganglion twin get` and `ganglion twin set`.
//!
//! A twin's desired and reported properties are each one retained document
//! on the broker, `ganglion/{device}/twins/{twin}/desired` and
//! `.../reported`, with a `$version`. A document that was never published
//! counts as empty at version 0.
//!
//! Changing the desired properties reads the current document, applies a
//! JSON merge patch to it ([`plan_set`]: `null` deletes, the twin library's
//! limits must hold, `$version` goes up by one) and publishes the result
//! retained at QoS 1. Two operators changing one twin at the same moment
//! both read version N and both publish N + 1: the last one wins.

use super::session::Session;
use super::{OperatorError, check_name};
use crate::protocol::topics::Topics;
pub use crate::protocol::twin::VersionedDoc;
use crate::twin::{DEVICE_TWIN_ID, DesiredOutcome, TwinDoc, VERSION_KEY};
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::{Map, Value};
use std::time::Duration;

/// The twin of `module`, or the device twin (`$device`) without one.
pub fn twin_id(module: Option<&str>) -> &str {
    module.unwrap_or(DEVICE_TWIN_ID)
}

/// `ganglion/{device}/twins/{twin}/desired`.
pub fn desired_topic(device: &str, twin: &str) -> String {
    Topics::new(device).desired(twin)
}

/// `ganglion/{device}/twins/{twin}/reported`.
pub fn reported_topic(device: &str, twin: &str) -> String {
    Topics::new(device).reported(twin)
}

/// A retained document read from `topic`, parsed by the protocol's rules.
fn parse_doc(topic: &str, payload: &[u8]) -> Result<VersionedDoc, OperatorError> {
    VersionedDoc::parse(payload).map_err(|reason| OperatorError::BadDocument {
        topic: topic.to_string(),
        reason,
    })
}

/// Both sides of a twin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TwinSides {
    /// The desired properties (written by the cloud).
    pub desired: VersionedDoc,
    /// The reported properties (written by the gateway).
    pub reported: VersionedDoc,
}

impl TwinSides {
    /// `{"desired": {...}, "reported": {...}}`, each with its `$version`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "desired": self.desired.to_json(),
            "reported": self.reported.to_json(),
        })
    }
}

/// Parses the text of a desired patch: a JSON object, without `$version`
/// (which `twin set` sets itself).
pub fn parse_patch(text: &str) -> Result<Map<String, Value>, OperatorError> {
    let bad = |reason: String| OperatorError::BadInput {
        what: "the patch".to_string(),
        reason,
    };
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("it is not valid JSON ({e})")))?;
    let Value::Object(patch) = value else {
        return Err(bad(format!(
            "a twin patch must be a JSON object, not {value}"
        )));
    };
    if patch.contains_key(VERSION_KEY) {
        return Err(bad(
            "leave $version out: `twin set` sets it to the current version plus one".to_string(),
        ));
    }
    Ok(patch)
}

/// The desired document that `patch` makes of `current`: merged as a JSON
/// merge patch, checked against the twin limits, at `current.version + 1`.
/// A refusal names the limit and the path at fault.
pub fn plan_set(
    device: &str,
    twin: &str,
    current: &VersionedDoc,
    patch: &Map<String, Value>,
) -> Result<VersionedDoc, OperatorError> {
    let refused = |refusal| OperatorError::TwinRefused {
        device: device.to_string(),
        twin: twin.to_string(),
        refusal,
    };
    let mut doc = TwinDoc {
        desired: current.properties.clone(),
        desired_version: current.version,
        ..TwinDoc::default()
    };
    let outcome = doc
        .apply_desired_patch(&Value::Object(patch.clone()), None)
        .map_err(refused)?;
    let version = match outcome {
        DesiredOutcome::Applied { version, .. } => version,
        // Without a version in the patch, the twin library always applies it;
        // this arm only keeps the match whole.
        DesiredOutcome::Stale => current.version.saturating_add(1),
    };
    Ok(VersionedDoc {
        version,
        properties: doc.desired,
        published: true,
    })
}

fn side(
    found: &mut std::collections::HashMap<String, super::Incoming>,
    topic: &str,
) -> Result<VersionedDoc, OperatorError> {
    match found.remove(topic) {
        Some(incoming) => parse_doc(topic, &incoming.payload),
        None => Ok(VersionedDoc::default()),
    }
}

/// Reads both sides of twin `twin` of `device`, waiting up to `wait` after
/// subscribing for the retained documents.
pub async fn read_twin(
    session: &mut Session,
    device: &str,
    twin: &str,
    wait: Duration,
) -> Result<TwinSides, OperatorError> {
    check_name("device", device)?;
    check_name("twin", twin)?;
    let desired = desired_topic(device, twin);
    let reported = reported_topic(device, twin);
    let mut found = session
        .read_retained(&[desired.clone(), reported.clone()], wait)
        .await?;
    Ok(TwinSides {
        desired: side(&mut found, &desired)?,
        reported: side(&mut found, &reported)?,
    })
}

/// Changes the desired properties of twin `twin` of `device` with `patch`
/// (see [`plan_set`]) and publishes the result retained at QoS 1, once the
/// broker acknowledged it. Returns the new document. Nothing is published if
/// the patch is refused.
pub async fn set_desired(
    session: &mut Session,
    device: &str,
    twin: &str,
    patch: &Map<String, Value>,
    wait: Duration,
) -> Result<VersionedDoc, OperatorError> {
    check_name("device", device)?;
    check_name("twin", twin)?;
    let topic = desired_topic(device, twin);
    let mut found = session
        .read_retained(std::slice::from_ref(&topic), wait)
        .await?;
    let current = side(&mut found, &topic)?;
    let next = plan_set(device, twin, &current, patch)?;
    let payload = serde_json::to_vec(&next.to_json()).map_err(|e| OperatorError::BadInput {
        what: "the new desired document".to_string(),
        reason: e.to_string(),
    })?;
    let properties = PublishProperties {
        content_type: Some("application/json".to_string()),
        ..PublishProperties::default()
    };
    session.publish(&topic, payload, true, properties).await?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> VersionedDoc {
        parse_doc("t", value.to_string().as_bytes()).unwrap()
    }

    fn patch(value: Value) -> Map<String, Value> {
        parse_patch(&value.to_string()).unwrap()
    }

    #[test]
    fn set_merges_deletes_and_bumps_the_version() {
        let current =
            doc(json!({"$version": 7, "threshold": 30, "window": {"seconds": 60, "slide": 5}}));
        let next = plan_set(
            "gw",
            "filter",
            &current,
            &patch(json!({"threshold": null, "window": {"slide": null}, "mode": "fast"})),
        )
        .unwrap();
        assert_eq!(next.version, 8);
        assert_eq!(
            next.to_json(),
            json!({"$version": 8, "window": {"seconds": 60}, "mode": "fast"})
        );
        let first = plan_set(
            "gw",
            "$device",
            &VersionedDoc::default(),
            &patch(json!({"a": 1})),
        )
        .unwrap();
        assert_eq!(first.to_json(), json!({"$version": 1, "a": 1}));
    }

    #[test]
    fn set_over_the_limits_is_refused_with_the_path() {
        let current = doc(json!({"$version": 2, "big": "x".repeat(20_000)}));
        let e = plan_set(
            "gw",
            "filter",
            &current,
            &patch(json!({"more": "y".repeat(20_000)})),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("twin `filter` of device `gw`"), "{e}");
        assert!(e.contains("nothing was published"), "{e}");
        assert!(e.contains("bytes"), "{e}");
        let e = plan_set("gw", "filter", &current, &patch(json!({"bad key": 1})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("desired.bad key") && e.contains("space"), "{e}");
        let deep = (0..12).fold(json!(1), |inner, _| json!({"n": inner}));
        let e = plan_set("gw", "filter", &current, &patch(json!({"d": deep})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nested"), "{e}");
    }

    #[test]
    fn patches_and_documents_are_checked() {
        for (text, needle) in [
            ("{", "not valid JSON"),
            ("[1]", "must be a JSON object"),
            (r#"{"$version": 3}"#, "leave $version out"),
        ] {
            let e = parse_patch(text).unwrap_err().to_string();
            assert!(e.starts_with("the patch:") && e.contains(needle), "{e}");
        }
        for (payload, needle) in [
            ("nope", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"a": 1}"#, "no $version"),
            (r#"{"$version": -1}"#, "non-negative integer"),
        ] {
            let e = parse_doc("ganglion/gw/twins/x/desired", payload.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("ganglion/gw/twins/x/desired") && e.contains(needle),
                "{e}"
            );
        }
    }

    #[test]
    fn topics_and_json_shape() {
        assert_eq!(twin_id(None), "$device");
        assert_eq!(
            desired_topic("gw", "$device"),
            "ganglion/gw/twins/$device/desired"
        );
        assert_eq!(reported_topic("gw", "m"), "ganglion/gw/twins/m/reported");
        let sides = TwinSides {
            desired: doc(json!({"$version": 2, "a": 1})),
            reported: VersionedDoc::default(),
        };
        assert_eq!(
            sides.to_json(),
            json!({"desired": {"$version": 2, "a": 1}, "reported": {"$version": 0}})
        );
    }
}
