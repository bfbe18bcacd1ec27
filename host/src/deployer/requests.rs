//! What the deployer does with each request: applies it, stores a cloud
//! deployment that was applied, reports the outcome (status, agent), and
//! runs until the gateway stops.

use super::{APPLIED, DeployOutcome, DeployRequest, Deployer, DeploymentSnapshot, REFUSED, stop};
use crate::manifest::Manifest;
use crate::protocol::deployment::{Deployment, claimed_version};
use tokio::sync::{mpsc, watch as signal};

impl Deployer {
    fn report(&self, version: u64, outcome: &DeployOutcome) {
        self.io.outcome.send_replace(Some(DeploymentSnapshot {
            version,
            code: outcome.code,
            description: outcome.description.clone(),
        }));
    }

    /// Handles one request.
    async fn handle(&mut self, request: DeployRequest) {
        match request {
            DeployRequest::Local { manifest, reply } => {
                let outcome = match self.apply(&manifest).await {
                    Ok(outcome) => outcome,
                    Err(e) => refused(&e.to_string()),
                };
                log(0, &outcome);
                self.report(0, &outcome);
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
            DeployRequest::Invalid { description } => {
                let outcome = refused(&description);
                log(0, &outcome);
                self.report(0, &outcome);
            }
            DeployRequest::Cloud { payload } => self.cloud_deployment(&payload).await,
            DeployRequest::Rollback { module, swap } => self.roll_back(&module, swap).await,
        }
    }

    async fn cloud_deployment(&mut self, payload: &[u8]) {
        let (version, text) = match Deployment::parse(payload) {
            Ok(d) => (d.version, d.manifest),
            Err(why) => {
                tracing::error!("a deployment from the cloud is malformed: {why}");
                // Reported, and recorded as refused, under the version it
                // names when that is a new one, so that the operator waiting
                // for that version hears why. One that names none is only
                // logged: the status keeps saying what runs.
                if let Some(version) = claimed_version(payload)
                    && version > self.stored.last_version()
                {
                    if let Err(e) = self.stored.refused(version) {
                        tracing::error!(
                            "cannot record that deployment v{version} was refused: {e}"
                        );
                    }
                    let outcome = refused(&format!("the deployment document is malformed: {why}"));
                    self.report(version, &outcome);
                }
                return;
            }
        };
        if version <= self.stored.last_version() {
            return;
        }
        let name = format!("deployment v{version}");
        let outcome = match Manifest::parse(&text, &name, &self.io.base_dir) {
            Err(e) => refused(&e.to_string()),
            Ok(manifest) => match self.apply(&manifest).await {
                Ok(outcome) => {
                    if let Err(e) = self.stored.save(version, &text) {
                        tracing::error!("cannot store deployment v{version}: {e}");
                    }
                    outcome
                }
                Err(e) => refused(&e.to_string()),
            },
        };
        if outcome.code != APPLIED
            && let Err(e) = self.stored.refused(version)
        {
            tracing::error!("cannot record that deployment v{version} was refused: {e}");
        }
        log(version, &outcome);
        self.report(version, &outcome);
    }

    /// Applies requests until the gateway stops, then stops every module.
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<DeployRequest>,
        mut shutdown: signal::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                request = requests.recv() => match request {
                    Some(r) => self.handle(r).await,
                    None => break,
                },
            }
        }
        for (_, module) in &mut self.modules {
            if let Some(r) = &module.running {
                let _ = r.stop.send(true);
            }
        }
        for (_, module) in &mut self.modules {
            stop(module).await;
        }
    }

    /// Reports the first deployment's outcome to the agent.
    pub async fn report_start(&self, version: u64, outcome: &DeployOutcome) {
        self.report(version, outcome);
    }
}

fn refused(why: &str) -> DeployOutcome {
    DeployOutcome {
        code: REFUSED,
        description: format!("refused, the running deployment carries on: {why}"),
        failed: Vec::new(),
    }
}

fn log(version: u64, outcome: &DeployOutcome) {
    if outcome.code == APPLIED {
        tracing::info!(version, "deployment {}", outcome.description);
    } else {
        tracing::error!(version, "deployment {}", outcome.description);
    }
}
