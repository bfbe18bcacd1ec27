//! Artifacts pushed through the broker (`ganglion module push`): the agent
//! hands each chunk to an [`Intake`], which puts the artifact together
//! ([`crate::artifact::upload`]), checks it — digest, signature (on a
//! gateway that trusts keys), and that it compiles as a component of the
//! module world — and stores it ([`crate::artifact::pushed`]). The compiled
//! code goes into the cache on the way, so the deployment that names the
//! artifact starts it without compiling.
//!
//! The outcome is published on `ganglion/{device}/artifact-states/{hex}`:
//! `{"digest": "sha256:<hex>", "code": 200 | 400, "description": "..."}`.
//! A refused artifact is not stored, and what runs is not touched.

use crate::artifact::pushed::ArtifactStore;
use crate::artifact::upload::{Chunk, Complete, MAX_UPLOADS, Uploads};
use crate::protocol::artifact::{ArtifactState, MODULE_PROPERTY, REFUSED, STORED};
use crate::protocol::topics::Topics;
use crate::runtime::Runtime;
use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Where pushed artifacts are put together, checked and stored.
pub struct Intake {
    uploads: Uploads,
    store: ArtifactStore,
    runtime: Arc<Runtime>,
    /// At most [`MAX_UPLOADS`] artifacts are checked (compiled) at once.
    checks: Arc<Semaphore>,
}

/// Publishes the artifact's state, waiting for room in the client's queue
/// (QoS 0: the uplink tracks packet ids only for its own telemetry).
async fn report(client: AsyncClient, topic: String, hex: String, code: u16, description: String) {
    let doc = ArtifactState::new(&hex, code, description);
    if let Err(e) = client
        .publish(topic, QoS::AtMostOnce, false, doc.to_payload())
        .await
    {
        tracing::warn!(hex, "cannot publish the artifact's state: {e}");
    }
}

impl Intake {
    /// An intake storing into `store`, checking with `runtime`.
    pub fn new(store: ArtifactStore, runtime: Arc<Runtime>) -> Intake {
        Intake {
            uploads: Uploads::new(),
            store,
            runtime,
            checks: Arc::new(Semaphore::new(MAX_UPLOADS)),
        }
    }

    /// Takes the chunk `publish` (on `artifacts/{hex}/{index}`), and once
    /// the artifact is whole, checks and stores it on the blocking pool and
    /// reports through `client`.
    pub fn on_chunk(
        &mut self,
        hex: &str,
        index: &str,
        publish: &Publish,
        client: Option<&AsyncClient>,
        topics: &Topics,
    ) {
        let reply = |code: u16, description: String| {
            if let Some(client) = client {
                tokio::spawn(report(
                    client.clone(),
                    topics.artifact_state(hex),
                    hex.to_string(),
                    code,
                    description,
                ));
            }
        };
        if self.store.contains(hex) {
            // Pushed again, or a chunk redelivered after it was stored: it is
            // here already, checked.
            if index == "0" {
                reply(STORED, "stored already".to_string());
            }
            return;
        }
        let properties = publish
            .properties
            .as_ref()
            .map(|p| p.user_properties.clone())
            .unwrap_or_default();
        let module = properties
            .iter()
            .find(|(k, _)| k == MODULE_PROPERTY)
            .map_or_else(|| "(pushed)".to_string(), |(_, v)| v.clone());
        let accepted = Chunk::parse(hex, index, &properties, &publish.payload)
            .and_then(|chunk| self.uploads.accept(chunk, Instant::now()));
        let complete = match accepted {
            Ok(Some(complete)) => complete,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(hex, module, "a pushed artifact was refused: {e}");
                reply(REFUSED, format!("module `{module}`: {e}"));
                return;
            }
        };
        let Ok(permit) = self.checks.clone().try_acquire_owned() else {
            reply(
                REFUSED,
                format!(
                    "module `{module}`: {MAX_UPLOADS} other artifacts are being checked; push again once they are done"
                ),
            );
            return;
        };
        let store = self.store.clone();
        let runtime = self.runtime.clone();
        let client = client.cloned();
        let topic = topics.artifact_state(hex);
        tokio::spawn(async move {
            let hex = complete.hex.clone();
            let size = complete.bytes.len();
            let checked = tokio::task::spawn_blocking(move || {
                check_and_store(&runtime, &store, &module, complete)
            })
            .await
            .unwrap_or_else(|e| Err(format!("the check did not finish: {e}")));
            drop(permit);
            let (code, description) = match checked {
                Ok(()) => (STORED, format!("stored ({size} bytes)")),
                Err(reason) => (REFUSED, reason),
            };
            if code == STORED {
                tracing::info!(hex, size, "a pushed artifact was stored");
            } else {
                tracing::warn!(hex, "a pushed artifact was refused: {description}");
            }
            if let Some(client) = client {
                report(client, topic, hex, code, description).await;
            }
        });
    }
}

/// Checks the signature and the world (compiling into the cache), then
/// stores the artifact.
fn check_and_store(
    runtime: &Runtime,
    store: &ArtifactStore,
    module: &str,
    complete: Complete,
) -> Result<(), String> {
    let name = format!("sha256:{}", complete.hex);
    runtime
        .load_artifact(
            module,
            &name,
            &complete.bytes,
            complete.signature.as_deref(),
        )
        .map_err(|e| e.to_string())?;
    store
        .put(
            &complete.hex,
            &complete.bytes,
            complete.signature.as_deref(),
        )
        .map_err(|e| format!("module `{module}`: cannot store artifact {name}: {e}"))
}
