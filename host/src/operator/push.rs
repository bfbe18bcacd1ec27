//! `ganglion module push DEVICE MODULE FILE`: a new version of a module,
//! sent through the broker.
//!
//! 1. The device's retained deployment is read, and module `MODULE` must be
//!    in it (so nothing is sent for a deployment that cannot take it).
//! 2. The artifact (and `FILE.sig`, if there is one) goes out in chunks of
//!    at most [`CHUNK_BYTES`](crate::artifact::upload::CHUNK_BYTES) on `ganglion/{device}/artifacts/{hex}/{n}`, at
//!    QoS 1 ([`crate::artifact::upload`]).
//! 3. The gateway checks and stores it, and says so on
//!    `ganglion/{device}/artifact-states/{hex}`; a refusal ends the push
//!    with the gateway's reason, and nothing else changes.
//! 4. The deployment, read again, is published again
//!    ([`super::deploy::deploy`]) with the module's `path` replaced by
//!    `artifact = "sha256:<hex>"`, and the
//!    gateway hot-swaps the module. The edited manifest is written back as
//!    TOML: its comments are not kept.

use super::deploy::{DeployOutcome, ManifestText, deploy, deployment_topic, read_deployment};
use super::session::Session;
use super::{OperatorError, check_name};
use crate::artifact::digest;
use crate::artifact::signature_path;
use crate::artifact::upload::split;
use crate::protocol::artifact::{ArtifactState, MODULE_PROPERTY};
use crate::protocol::deployment::Deployment;
use crate::protocol::topics::Topics;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// How long `ganglion module push` waits for the gateway to check and store
/// an artifact when not told otherwise (a large one is compiled first).
pub const DEFAULT_STORE_WAIT: Duration = Duration::from_secs(120);

/// How long to wait for the gateway's deployment report, and for the
/// artifact's check.
#[derive(Debug, Clone, Copy)]
pub struct PushWaits {
    /// For the retained deployment and status after subscribing.
    pub retained: Duration,
    /// For the gateway to say it stored the artifact.
    pub stored: Duration,
    /// For the gateway to report the deployment (zero: not at all).
    pub status: Duration,
}

/// What [`push`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct PushOutcome {
    /// The artifact's content address.
    pub digest: String,
    /// Its size in bytes.
    pub size: usize,
    /// How many chunks it took.
    pub chunks: usize,
    /// Whether a signature went with it.
    pub signed: bool,
    /// From the first chunk sent to the gateway's word that it stored the
    /// artifact (transfer, checks, compile, store).
    pub stored_after: Duration,
    /// The deployment that names it.
    pub deployment: DeployOutcome,
}

fn bad(what: &str, reason: impl ToString) -> OperatorError {
    OperatorError::BadInput {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Replaces module `module`'s `path` (or `artifact`) in the manifest `text`
/// with `artifact = digest`.
pub fn with_artifact(text: &str, module: &str, digest: &str) -> Result<String, OperatorError> {
    let mut manifest: toml::Table = text
        .parse()
        .map_err(|e| bad("the device's deployment", format!("not TOML: {e}")))?;
    let spec = manifest
        .get_mut("modules")
        .and_then(toml::Value::as_table_mut)
        .and_then(|modules| modules.get_mut(module))
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| {
            bad(
                "the device's deployment",
                format!("it has no module `{module}`; add it with `ganglion deploy` first"),
            )
        })?;
    spec.remove("path");
    spec.insert("artifact".to_string(), toml::Value::from(digest));
    toml::to_string(&manifest).map_err(|e| bad("the edited deployment", e))
}

/// Pushes `file` as the new version of `module` on `device`, then deploys
/// the device's deployment with the module naming it.
pub async fn push(
    session: &mut Session,
    device: &str,
    module: &str,
    file: &Path,
    waits: PushWaits,
) -> Result<PushOutcome, OperatorError> {
    check_name("device", device)?;
    check_name("module", module)?;
    let what = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|e| bad(&what, e))?;
    let sig_path = signature_path(file);
    let signature = match std::fs::read_to_string(&sig_path) {
        // Sent compact: an MQTT string may not hold line breaks (mosquitto
        // drops a client that sends control characters).
        Ok(text) => Some(
            serde_json::from_str::<Value>(&text)
                .map_err(|e| bad(&sig_path.display().to_string(), format!("not JSON: {e}")))?
                .to_string(),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(bad(&sig_path.display().to_string(), e)),
    };
    let digest = digest(&bytes);
    let hex = digest.trim_start_matches("sha256:").to_string();

    // Checked before anything is sent, and edited from a fresh read once
    // the artifact is stored (another deployment may have come meanwhile).
    let topic = deployment_topic(device);
    let current = current_deployment(session, device, &topic, waits.retained).await?;
    with_artifact(&current.manifest, module, &digest)?;

    let topics = Topics::new(device);
    let state_topic = topics.artifact_state(&hex);
    session
        .subscribe(std::slice::from_ref(&state_topic))
        .await?;
    let sending = Instant::now();
    let pieces = split(&bytes, signature.as_deref());
    let chunks = pieces.len();
    for (index, (mut user_properties, payload)) in pieces.into_iter().enumerate() {
        user_properties.push((MODULE_PROPERTY.to_string(), module.to_string()));
        let properties = PublishProperties {
            content_type: Some("application/wasm".to_string()),
            user_properties,
            ..PublishProperties::default()
        };
        let chunk_topic = topics.artifact_chunk(&hex, index);
        if !session
            .publish(&chunk_topic, payload, false, properties)
            .await?
        {
            return Err(OperatorError::ArtifactUnconfirmed {
                device: device.to_string(),
                digest,
                waited: Duration::ZERO,
                why: "the broker says no gateway subscribes to its artifacts (is the device id right?)"
                    .to_string(),
            });
        }
    }
    wait_stored(session, device, module, &digest, &state_topic, waits.stored).await?;
    let stored_after = sending.elapsed();

    let current = current_deployment(session, device, &topic, waits.retained).await?;
    let edited = with_artifact(&current.manifest, module, &digest)?;
    let manifest =
        ManifestText::generated(&format!("{topic} with module `{module}` pushed"), edited);
    let deployment = deploy(session, device, &manifest, waits.retained, waits.status).await?;
    Ok(PushOutcome {
        digest,
        size: bytes.len(),
        chunks,
        signed: signature.is_some(),
        stored_after,
        deployment,
    })
}

/// The device's retained deployment.
async fn current_deployment(
    session: &mut Session,
    device: &str,
    topic: &str,
    wait: Duration,
) -> Result<Deployment, OperatorError> {
    let topics = [topic.to_string()];
    let found = session.read_retained(&topics, wait).await?;
    match found.get(topic) {
        Some(incoming) => read_deployment(topic, &incoming.payload),
        None => Err(bad(
            &format!("device `{device}`"),
            "it has no deployment on the broker; deploy a manifest with `ganglion deploy` first",
        )),
    }
}

/// Waits for the gateway's word on the artifact.
async fn wait_stored(
    session: &mut Session,
    device: &str,
    module: &str,
    digest: &str,
    state_topic: &str,
    wait: Duration,
) -> Result<(), OperatorError> {
    let deadline = Instant::now() + wait;
    while let Some(incoming) = session.next_publish(Some(deadline)).await? {
        if incoming.topic != state_topic {
            continue;
        }
        let Some(state) = ArtifactState::parse(&incoming.payload) else {
            continue;
        };
        return if state.is_stored() {
            Ok(())
        } else {
            Err(OperatorError::ArtifactRefused {
                device: device.to_string(),
                module: module.to_string(),
                reason: if state.description.is_empty() {
                    "no reason given".to_string()
                } else {
                    state.description
                },
            })
        };
    }
    Err(OperatorError::ArtifactUnconfirmed {
        device: device.to_string(),
        digest: digest.to_string(),
        waited: wait,
        why: format!("nothing on `{state_topic}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_gets_the_artifact_instead_of_its_path() {
        let text = "[modules.filter]\npath = \"f.wasm\"\nconfig = { threshold = 30 }\n\n[modules.sensor]\npath = \"s.wasm\"\n\n[routes]\nr = \"FROM /messages/* INTO $upstream\"\n";
        let digest = format!("sha256:{}", "a".repeat(64));
        let edited = with_artifact(text, "filter", &digest).unwrap();
        let table: toml::Table = edited.parse().unwrap();
        let filter = &table["modules"]["filter"];
        assert_eq!(filter.get("path"), None);
        assert_eq!(filter["artifact"].as_str(), Some(digest.as_str()));
        assert_eq!(filter["config"]["threshold"].as_integer(), Some(30));
        assert_eq!(table["modules"]["sensor"]["path"].as_str(), Some("s.wasm"));
        assert!(table["routes"]["r"].as_str().is_some());
        let e = with_artifact(text, "absent", &digest).unwrap_err();
        assert!(e.to_string().contains("no module `absent`"), "{e}");
        let e = with_artifact("not = = toml", "filter", &digest).unwrap_err();
        assert!(e.to_string().contains("not TOML"), "{e}");
    }
}
