//! The agent: the gateway's side of cloud control. One task publishes the
//! twins and answers direct methods (the twins' documents are the twin
//! keeper's, [`crate::twin::keeper`]):
//!
//! - a desired document from the cloud (retained, so it arrives again on every
//!   connection) goes to the keeper, which replaces the twin's desired
//!   properties if its `$version` is newer and it keeps within the limits, and
//!   stores the twin; then the module's supervisor is told to pass the
//!   difference on;
//! - a module's reported patch (applied by the keeper) is routed as a twin
//!   change notification, and the twin's full reported document is published
//!   retained, coalesced;
//! - method requests go to the module's supervisor ([`methods`]);
//! - the chunks of pushed artifacts go to the [`artifacts`] intake;
//! - the status document is published on each connection, and once a second
//!   when it changed.
//!
//! Without a cloud connection the twins still work locally: reports are
//! published on the next connection.
//!
//! The agent publishes at QoS 0 through the uplink's client: what it publishes
//! is state that is published again on every connection, and the uplink
//! tracks packet ids only for the queue's QoS 1 telemetry.

pub mod artifacts;
pub mod methods;
pub mod status;

use crate::deployer::{AgentCommand, DeployRequest, DeploymentSnapshot};
use crate::envelope::{Envelope, Producer};
use crate::lifecycle::{ModuleStates, ModuleStatus, state_of};
use crate::message::{IdGenerator, new_message, stamp_from_device};
use crate::metrics::Metrics;
use crate::protocol::code::NOT_FOUND;
use crate::protocol::status::Status;
use crate::protocol::topics::{Addressed, Topics};
use crate::protocol::twin::VersionedDoc;
use crate::supervisor::Control;
use crate::twin::keeper::{DesiredChange, ReportedChange};
use crate::twin::{DEVICE_TWIN_ID, DesiredOutcome, TwinHandle};
use crate::uplink::ControlEvent;
use crate::wait;
use artifacts::Intake;
use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the status is checked for changes.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How many commands from the deployer may wait.
pub const AGENT_COMMANDS: usize = 16;

/// What the agent works with.
pub struct AgentIo {
    /// The device id (the topic tree's root).
    pub device: String,
    /// The device twin (the module twins come with [`AgentCommand::Modules`]).
    pub device_twin: TwinHandle,
    /// Commands from the deployer.
    pub commands: mpsc::Receiver<AgentCommand>,
    /// Where deployments from the cloud go.
    pub deployer: mpsc::Sender<DeployRequest>,
    /// Events from the cloud connection, if there is one.
    pub link: Option<mpsc::Receiver<ControlEvent>>,
    /// Reported changes, from the twin keeper.
    pub changes: mpsc::Receiver<ReportedChange>,
    /// The router, for twin change notifications.
    pub router: mpsc::Sender<Envelope>,
    /// Message ids for the notifications.
    pub ids: Arc<IdGenerator>,
    /// The gateway's counters, for the status.
    pub metrics: Arc<Metrics>,
    /// The last deployment's outcome, as the deployer publishes it.
    pub deployment: watch::Receiver<Option<DeploymentSnapshot>>,
    /// The modules' lifecycles, as the deployer publishes them.
    pub states: watch::Receiver<ModuleStates>,
    /// Where pushed artifacts are checked and stored.
    pub intake: Intake,
    /// Turns true when the gateway stops.
    pub shutdown: watch::Receiver<bool>,
}

struct Agent {
    device: String,
    topics: Topics,
    twins: BTreeMap<String, TwinHandle>,
    controls: HashMap<String, mpsc::Sender<Control>>,
    router: mpsc::Sender<Envelope>,
    ids: Arc<IdGenerator>,
    metrics: Arc<Metrics>,
    deployment: watch::Receiver<Option<DeploymentSnapshot>>,
    states: watch::Receiver<ModuleStates>,
    client: Option<AsyncClient>,
    /// Twins whose reported document has not been published since it changed.
    unpublished: BTreeSet<String>,
    twin_errors: BTreeMap<String, String>,
    last_status: Option<Status>,
    deployer: mpsc::Sender<DeployRequest>,
    /// The last desired document for each twin the gateway does not have.
    unclaimed: HashMap<String, Box<Publish>>,
    /// Pushed artifacts on their way in.
    intake: Intake,
}

impl Agent {
    async fn on_desired(&mut self, twin: &str, publish: &Publish) {
        let Some(shared) = self.twins.get(twin).cloned() else {
            // Perhaps for a module a deployment is about to start: kept, and
            // applied when that twin appears.
            self.unclaimed
                .insert(twin.to_string(), Box::new(publish.clone()));
            return;
        };
        let outcome = match VersionedDoc::parse(&publish.payload) {
            Ok(desired) => shared.change_desired(DesiredChange::Replace(desired)).await,
            Err(why) => Err(why),
        };
        match outcome {
            Ok(DesiredOutcome::Stale) => {}
            Ok(DesiredOutcome::Applied { version, .. }) => {
                self.twin_errors.remove(twin);
                tracing::info!(twin, version, "desired properties changed");
                if let Some(control) = self.controls.get(twin) {
                    // A full queue already holds a notice that will catch up.
                    let _ = control.try_send(Control::TwinChanged);
                }
            }
            Err(why) => {
                tracing::error!(
                    twin,
                    "desired document refused, the last good one stays: {why}"
                );
                self.twin_errors.insert(twin.to_string(), why);
            }
        }
    }

    fn on_method(&self, module: &str, method: &str, publish: &Publish) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let Some(reply_to) = methods::reply_to(publish, &self.topics.responses_prefix()) else {
            tracing::warn!(
                module,
                method,
                "a method request without a valid response topic or correlation data; dropped"
            );
            return;
        };
        let request = match methods::check(publish, method, reply_to) {
            Ok(r) => r,
            Err((reply_to, answer)) => {
                tokio::spawn(methods::respond(client, reply_to, answer));
                return;
            }
        };
        let running = state_of(&self.states.borrow(), module)
            .is_some_and(|s| s.status == ModuleStatus::Running);
        match self.controls.get(module) {
            Some(control) if running => methods::dispatch(request, module, control, client),
            _ => {
                let answer =
                    methods::Answer::error(NOT_FOUND, &format!("module `{module}` is not running"));
                tokio::spawn(methods::respond(client, request.reply_to, answer));
            }
        }
    }

    async fn on_link(&mut self, event: ControlEvent) {
        match event {
            ControlEvent::Connected(client) => {
                let _ = client.try_publish(self.topics.online(), QoS::AtMostOnce, true, "true");
                self.client = Some(client);
                self.unpublished.extend(self.twins.keys().cloned());
                self.last_status = None;
                self.publish_status();
            }
            ControlEvent::Disconnected => self.client = None,
            ControlEvent::Publish(publish) => {
                let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                match self.topics.parse(&topic) {
                    Some(Addressed::Desired { twin }) => self.on_desired(twin, &publish).await,
                    Some(Addressed::Method { module, method }) => {
                        self.on_method(module, method, &publish)
                    }
                    Some(Addressed::Deployment) => {
                        let deployer = self.deployer.clone();
                        let payload = publish.payload.to_vec();
                        // The deployer may take a while: the agent carries on.
                        tokio::spawn(async move {
                            let _ = deployer.send(DeployRequest::Cloud { payload }).await;
                        });
                    }
                    Some(Addressed::ArtifactChunk { hex, index }) => self.intake.on_chunk(
                        hex,
                        index,
                        &publish,
                        self.client.as_ref(),
                        &self.topics,
                    ),
                    None => {
                        tracing::debug!(%topic, "a message on a topic the agent does not handle")
                    }
                }
            }
        }
    }

    fn on_reported(&mut self, changes: Vec<ReportedChange>) {
        for change in changes {
            self.unpublished.insert(change.twin.to_string());
            if &*change.twin == DEVICE_TWIN_ID {
                // The gateway's own report (its version) is state for the
                // cloud, not a change that routes see.
                continue;
            }
            let mut msg = new_message(Value::Object(change.patch).to_string().into_bytes());
            msg.system.content_type = Some("application/json".to_string());
            stamp_from_device(&mut msg, &self.device, &self.ids);
            msg.system.connection_device_id = Some(self.device.clone());
            msg.system.connection_module_id = Some(change.twin.to_string());
            let envelope = Envelope::new(Producer::TwinChange(change.twin.clone()), msg, None);
            if self.router.try_send(envelope).is_err() {
                tracing::warn!(twin = %change.twin, "the router is busy; a twin change notification was dropped");
            }
        }
    }

    /// Publishes what is unpublished, if connected.
    fn publish(&mut self) {
        let Some(client) = &self.client else { return };
        while let Some(twin) = self.unpublished.pop_first() {
            let Some(shared) = self.twins.get(&twin) else {
                continue;
            };
            let doc = shared.reported().to_payload();
            if client
                .try_publish(self.topics.reported(&twin), QoS::AtMostOnce, true, doc)
                .is_err()
            {
                // The client is busy: try again on the next turn.
                self.unpublished.insert(twin);
                return;
            }
        }
    }

    async fn on_command(&mut self, command: AgentCommand) {
        match command {
            AgentCommand::Modules { twins, controls } => {
                self.twins = twins;
                self.controls = controls;
                // New twins are published on the next turn.
                for twin in self.twins.keys() {
                    self.unpublished.insert(twin.clone());
                }
                let claimed: Vec<String> = self
                    .unclaimed
                    .keys()
                    .filter(|t| self.twins.contains_key(*t))
                    .cloned()
                    .collect();
                for twin in claimed {
                    if let Some(publish) = self.unclaimed.remove(&twin) {
                        self.on_desired(&twin, &publish).await;
                    }
                }
                // A module that was running already was told the twin at its
                // start; one the deployment started or restarted reads it
                // now. Either way, a change notice catches it up.
                for control in self.controls.values() {
                    let _ = control.try_send(Control::TwinChanged);
                }
            }
        }
    }

    fn publish_status(&mut self) {
        let Some(client) = &self.client else { return };
        let deployment = self.deployment.borrow().clone();
        let snapshot = self.metrics.snapshot().with_states(&self.states.borrow());
        let doc = status::document(
            &self.device,
            &snapshot,
            deployment.as_ref(),
            &self.twin_errors,
        );
        if self.last_status.as_ref() == Some(&doc) {
            return;
        }
        let text = status::stamped(doc.clone());
        if client
            .try_publish(self.topics.status(), QoS::AtMostOnce, true, text)
            .is_ok()
        {
            self.last_status = Some(doc);
        }
    }
}

/// Reports the gateway's own version in the device twin, once it differs.
async fn report_device(io: &AgentIo) {
    let version = Value::from(env!("CARGO_PKG_VERSION"));
    let reported = io.device_twin.reported();
    if reported
        .properties
        .get("ganglion")
        .and_then(|g| g.get("version"))
        == Some(&version)
    {
        return;
    }
    let patch = serde_json::json!({ "ganglion": { "version": version } });
    if let Err(e) = io.device_twin.report_value(patch).await {
        tracing::error!("cannot report the gateway's version: {e}");
    }
}

/// Runs the agent until the gateway stops.
pub async fn run(io: AgentIo) {
    report_device(&io).await;
    let AgentIo {
        device,
        device_twin,
        mut commands,
        deployer,
        mut link,
        mut changes,
        router,
        ids,
        metrics,
        deployment,
        states,
        intake,
        mut shutdown,
    } = io;
    let mut twins = BTreeMap::new();
    twins.insert(DEVICE_TWIN_ID.to_string(), device_twin);
    let mut agent = Agent {
        topics: Topics::new(&device),
        device,
        twins,
        controls: HashMap::new(),
        deployer,
        unclaimed: HashMap::new(),
        router,
        ids,
        metrics,
        deployment,
        states,
        client: None,
        unpublished: BTreeSet::new(),
        twin_errors: BTreeMap::new(),
        last_status: None,
        intake,
    };
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    let mut changes_open = true;
    let mut deployments = agent.deployment.clone();
    let mut deployments_open = true;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            event = wait::recv(link.as_mut()) => match event {
                Some(event) => agent.on_link(event).await,
                None => link = None,
            },
            change = changes.recv(), if changes_open => {
                let Some(first) = change else {
                    changes_open = false;
                    continue;
                };
                let mut batch = vec![first];
                while let Ok(more) = changes.try_recv() {
                    batch.push(more);
                }
                agent.on_reported(batch);
            }
            command = commands.recv() => match command {
                Some(command) => {
                    agent.on_command(command).await;
                    agent.publish_status();
                }
                None => break,
            },
            changed = deployments.changed(), if deployments_open => match changed {
                Ok(()) => agent.publish_status(),
                Err(_) => deployments_open = false,
            },
            _ = status_tick.tick() => agent.publish_status(),
        }
        agent.publish();
    }
}
