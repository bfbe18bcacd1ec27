//! The gateway: builds the runtime, loads every module of a manifest, and runs
//! the router, the `$upstream` sink and one task per module instance until it is
//! shut down.
//!
//! Shutdown is explicit: a watch channel tells every instance to stop after its
//! current call. When the instances and the gateway drop their senders the
//! router ends, and when the router drops its sender the upstream task ends.

use crate::agent::artifacts::Intake;
use crate::agent::{self, AGENT_COMMANDS, AgentIo};
use crate::artifact::pushed::ArtifactStore;
use crate::deployer::stored::StoredDeployment;
use crate::deployer::{
    self, DEPLOY_REQUESTS, DeployError, DeployOutcome, DeployRequest, Deployer, DeployerIo,
    DeploymentSnapshot,
};
use crate::envelope::{Envelope, Producer, UpstreamMessage};
use crate::ingest;
use crate::lifecycle::ModuleStates;
use crate::manifest::{DEFAULT_DEVICE_ID, Manifest};
use crate::message::{IdGenerator, MAX_MESSAGE_BYTES, Message, message_size, stamp_from_device};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::router::{ROUTER_COMMANDS, ROUTER_QUEUE, Router};
use crate::runtime::alloc::{self, Allocation, AllocationChoice};
use crate::runtime::{EpochTicker, LoadError, Runtime, RuntimeError, RuntimeOptions};
use crate::store::{Store, StoreConfig, StoreError};
use crate::twin::keeper::REPORTED_CHANGES;
use crate::twin::{DEVICE_TWIN_ID, TwinError, TwinStore, Twins};
use crate::uplink::{self, CONTROL_EVENTS, LINK_EVENTS, UplinkConfig};
use crate::upstream::{self, LinkState, UpstreamIo};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The data directory's folder of compiled components.
pub const COMPILED_DIR: &str = "compiled";

/// How many messages wait for the `$upstream` sink.
pub const UPSTREAM_QUEUE: usize = 1024;
/// How many `$upstream` messages an observer may fall behind before it misses
/// some (and is told how many).
pub const UPSTREAM_OBSERVER_BACKLOG: usize = 4096;

/// Why the gateway could not start or take a message.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The runtime could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A module's component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The data directory could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored twin could not be read.
    #[error(transparent)]
    Twin(#[from] TwinError),
    /// The deployment could not be applied.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The trusted keys could not be read.
    #[error("trusted keys: {0}")]
    Keys(#[from] crate::artifact::ArtifactError),
    /// An injected message is over the size limit.
    #[error(
        "message from device `{device}` is {size} bytes, over the limit of {MAX_MESSAGE_BYTES}"
    )]
    TooLarge {
        /// The device.
        device: String,
        /// Its size.
        size: usize,
    },
    /// The gateway is shutting down.
    #[error("the gateway is shutting down")]
    ShuttingDown,
}

/// How to start a gateway, beyond its manifest.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// The cloud connection; without one, `$upstream` messages wait in the
    /// queue.
    pub uplink: Option<UplinkConfig>,
    /// Where relative module paths of deployments from the cloud start: the
    /// folder of the manifest the gateway was started with.
    pub manifest_dir: PathBuf,
    /// A manifest file to watch: an edit is applied as a deployment.
    pub watch: Option<PathBuf>,
    /// A folder of trusted public keys (`*.pub`): when set, only artifacts
    /// signed by one of them run (see [`crate::artifact`]).
    pub trusted_keys: Option<PathBuf>,
    /// How module instances get their memory (see
    /// [`crate::runtime::alloc`]).
    pub allocation: AllocationChoice,
}

impl GatewayOptions {
    /// Options with a data directory and no cloud connection.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        GatewayOptions {
            data_dir: data_dir.into(),
            uplink: None,
            manifest_dir: PathBuf::from("."),
            watch: None,
            trusted_keys: None,
            allocation: AllocationChoice::Auto,
        }
    }
}

/// The runtime for `manifest`: its instance allocation, the compiled cache
/// in the data directory, and the trusted keys, if any.
fn runtime_for(
    manifest: &Manifest,
    db: &sled::Db,
    options: &GatewayOptions,
) -> Result<Runtime, GatewayError> {
    let cache = options.data_dir.join(COMPILED_DIR);
    let mut runtime = Runtime::with_options(RuntimeOptions {
        cache: Some(&cache),
        allocation: allocation_for(manifest, db, options),
        deadlines: true,
    })?;
    tracing::info!(allocation = %runtime.allocation(), "module instances' memory");
    if let Some(dir) = &options.trusted_keys {
        runtime.trust_only(crate::artifact::read_trusted_keys(dir)?);
    }
    Ok(runtime)
}

/// Applies the first deployment: the one last received from the cloud, if
/// one is stored and still validates and starts, else `manifest`. Returns
/// its version (0 for the manifest) and the outcome.
async fn first_deployment(
    deployer: &mut Deployer,
    manifest: &Manifest,
    options: &GatewayOptions,
) -> (u64, Result<DeployOutcome, DeployError>) {
    let stored = deployer.stored().and_then(|(version, text)| {
        let name = format!("deployment v{version} (stored)");
        match Manifest::parse(&text, &name, &options.manifest_dir) {
            Ok(m) => Some((version, m)),
            Err(e) => {
                tracing::error!("the stored deployment v{version} no longer validates, so the manifest runs: {e}");
                None
            }
        }
    });
    let Some((version, stored)) = stored else {
        return (0, deployer.apply(manifest).await);
    };
    tracing::info!(
        version,
        "running the deployment last received from the cloud"
    );
    match deployer.apply(&stored).await {
        Ok(outcome) => (version, Ok(outcome)),
        Err(e) => {
            // A stored deployment whose modules no longer load (a file gone,
            // a key no longer trusted) must not keep the gateway down.
            tracing::error!(
                "the stored deployment v{version} does not start, so the manifest runs: {e}"
            );
            (0, deployer.apply(manifest).await)
        }
    }
}

/// The allocation for the deployment the gateway will start with: the
/// larger of `manifest` and the stored cloud deployment, so that the pool
/// fits either.
fn allocation_for(manifest: &Manifest, db: &sled::Db, options: &GatewayOptions) -> Allocation {
    let stored = StoredDeployment::open(db)
        .ok()
        .and_then(|s| s.get())
        .and_then(|(_, text)| Manifest::parse(&text, "stored", &options.manifest_dir).ok());
    let specs = manifest
        .modules
        .iter()
        .chain(stored.iter().flat_map(|m| m.modules.iter()));
    let largest = specs.map(|m| m.limits.memory_bytes).max().unwrap_or(0);
    let modules = manifest
        .modules
        .len()
        .max(stored.as_ref().map_or(0, |m| m.modules.len()));
    options
        .allocation
        .decide(modules, largest, alloc::address_space_left())
}

/// A running gateway.
pub struct Gateway {
    shutdown: watch::Sender<bool>,
    ingress: Option<mpsc::Sender<Envelope>>,
    deploy: mpsc::Sender<DeployRequest>,
    deployer_task: JoinHandle<()>,
    watch_task: Option<JoinHandle<()>>,
    router: JoinHandle<()>,
    upstream_task: JoinHandle<()>,
    link_task: Option<JoinHandle<()>>,
    ingest_task: Option<JoinHandle<()>>,
    agent_task: JoinHandle<()>,
    twins_task: JoinHandle<()>,
    metrics: Arc<Metrics>,
    deployment: watch::Receiver<Option<DeploymentSnapshot>>,
    states: watch::Receiver<ModuleStates>,
    link: watch::Receiver<LinkState>,
    observers: broadcast::Sender<UpstreamMessage>,
    first_observer: Option<broadcast::Receiver<UpstreamMessage>>,
    ids: Arc<IdGenerator>,
    failed_to_start: Vec<(String, String)>,
    _ticker: EpochTicker,
}

impl Gateway {
    /// Opens the store in `data_dir`, loads every module of `manifest` and
    /// starts the gateway. A module that
    /// cannot be loaded stops the start with an error that names it; a module
    /// whose `init` fails is reported (see [`Gateway::failed_to_start`]), its
    /// restart policy decides whether it is tried again, and the rest run.
    pub async fn start(manifest: &Manifest, data_dir: &Path) -> Result<Gateway, GatewayError> {
        Gateway::start_with(manifest, &GatewayOptions::new(data_dir)).await
    }

    /// [`Gateway::start`], with a cloud connection when `options` has one.
    ///
    /// If a deployment received from the cloud is stored in the data
    /// directory, the gateway runs it rather than `manifest`'s modules and
    /// routes (it was the last one applied).
    pub async fn start_with(
        manifest: &Manifest,
        options: &GatewayOptions,
    ) -> Result<Gateway, GatewayError> {
        let saf = &manifest.store_and_forward;
        let store = Store::open(
            &options.data_dir,
            StoreConfig {
                quota: saf.quota,
                default_ttl: saf.time_to_live,
                flush: saf.flush,
            },
        )?;
        let db = store.db().clone();
        let runtime = Arc::new(runtime_for(manifest, &db, options)?);
        let ticker = runtime.start_epoch_ticker()?;
        let metrics = Arc::new(Metrics::new(
            std::iter::empty::<&str>(),
            std::iter::empty::<&str>(),
        ));
        let ids = Arc::new(IdGenerator::new());
        // Status shows the queue as it was found, from the first moment.
        metrics.queue.set_size(store.depth(), store.used_bytes());
        let (router_tx, router_rx) = mpsc::channel(ROUTER_QUEUE);
        let (router_commands, router_commands_rx) = mpsc::channel(ROUTER_COMMANDS);
        let (upstream_tx, upstream_rx) = mpsc::channel(UPSTREAM_QUEUE);
        let (observers, first_observer) = broadcast::channel(UPSTREAM_OBSERVER_BACKLOG);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (changes_tx, changes_rx) = mpsc::channel(REPORTED_CHANGES);
        let (twins, twins_task) = Twins::start(
            Some(TwinStore::open(&db)?),
            Some(changes_tx),
            Some(shutdown_rx.clone()),
        );
        let device_twin = twins.open(DEVICE_TWIN_ID).await?;
        let (agent_tx, agent_rx) = mpsc::channel(AGENT_COMMANDS);
        let (outcome_tx, outcome_rx) = watch::channel(None);
        let (states_tx, states_rx) = watch::channel(Vec::new());
        let (deploy_tx, deploy_rx) = mpsc::channel(DEPLOY_REQUESTS);

        let router = Router::new(&[], Vec::new(), upstream_tx, metrics.clone());
        let router = tokio::spawn(router.run(router_rx, router_commands_rx));
        let uplink_config = options.uplink.as_ref().or(manifest.upstream.as_ref());
        let device = uplink_config
            .map(|c| c.device_id.clone())
            .unwrap_or_else(|| DEFAULT_DEVICE_ID.to_string());
        // The cloud connection starts once the first deployment runs, so that
        // the gateway reports itself online with its modules up.
        let (link, control_link, start_link) = match uplink_config {
            Some(config) => {
                let (tx, rx) = mpsc::channel(LINK_EVENTS);
                let (control_tx, control_rx) = mpsc::channel(CONTROL_EVENTS);
                (
                    Some((rx, config.device_id.clone(), config.in_flight)),
                    Some(control_rx),
                    Some((config.clone(), tx, control_tx)),
                )
            }
            None => (None, None, None),
        };
        let agent_task = tokio::spawn(agent::run(AgentIo {
            device,
            device_twin: device_twin.clone(),
            commands: agent_rx,
            deployer: deploy_tx.clone(),
            link: control_link,
            changes: changes_rx,
            router: router_tx.clone(),
            ids: ids.clone(),
            metrics: metrics.clone(),
            deployment: outcome_rx.clone(),
            states: states_rx.clone(),
            intake: Intake::new(
                ArtifactStore::open(&db).map_err(StoreError::from)?,
                runtime.clone(),
            ),
            shutdown: shutdown_rx.clone(),
        }));

        let mut deployer = Deployer::new(DeployerIo {
            runtime,
            db,
            base_dir: options.manifest_dir.clone(),
            router: router_tx.clone(),
            router_commands,
            agent: agent_tx,
            metrics: metrics.clone(),
            twins,
            device_twin,
            requests: deploy_tx.clone(),
            outcome: outcome_tx,
            states: states_tx,
        })
        .map_err(GatewayError::from)?;
        let (version, applied) = first_deployment(&mut deployer, manifest, options).await;
        let outcome = match applied {
            Ok(outcome) => outcome,
            Err(e) => {
                // Every task that holds the database ends before the error
                // returns, so that the data directory can be opened again.
                let _ = shutdown.send(true);
                drop(deployer);
                drop(router_tx);
                drop(deploy_tx);
                let _ = agent_task.await;
                let _ = twins_task.await;
                let _ = router.await;
                drop(store);
                return Err(match e {
                    DeployError::Load(e) => GatewayError::Load(e),
                    DeployError::Twin(e) => GatewayError::Twin(e),
                    DeployError::Storage { source, .. } => {
                        GatewayError::Store(StoreError::from(source))
                    }
                });
            }
        };
        deployer.report_start(version, &outcome).await;
        let failed_to_start = outcome.failed.clone();
        let link_task = start_link.map(|(config, tx, control_tx)| {
            tokio::spawn(uplink::run(config, tx, control_tx, shutdown_rx.clone()))
        });
        let deployer_task = tokio::spawn(deployer.run(deploy_rx, shutdown_rx.clone()));
        let watch_task = options.watch.clone().map(|path| {
            tokio::spawn(deployer::watch::run(
                path,
                deploy_tx.clone(),
                shutdown_rx.clone(),
            ))
        });
        let ingest_task = manifest.ingest.clone().map(|config| {
            tokio::spawn(ingest::run(
                config,
                router_tx.clone(),
                ids.clone(),
                metrics.clone(),
                shutdown_rx.clone(),
            ))
        });
        let (link_state, link_rx) = watch::channel(LinkState::default());
        let upstream_task = tokio::spawn(upstream::run(
            store,
            UpstreamIo {
                rx: upstream_rx,
                link,
                metrics: metrics.clone(),
                link_state,
                observers: observers.clone(),
                flush: manifest.store_and_forward.flush,
            },
        ));
        Ok(Gateway {
            shutdown,
            ingress: Some(router_tx),
            deploy: deploy_tx,
            deployer_task,
            watch_task,
            router,
            upstream_task,
            link_task,
            ingest_task,
            agent_task,
            twins_task,
            metrics,
            deployment: outcome_rx,
            states: states_rx,
            link: link_rx,
            observers,
            first_observer: Some(first_observer),
            ids,
            failed_to_start,
            _ticker: ticker,
        })
    }

    /// Applies `manifest` as a diff against what runs (see
    /// [`crate::deployer`]) and returns what happened. A refused deployment
    /// changes nothing.
    pub async fn apply(&self, manifest: &Manifest) -> Result<DeployOutcome, GatewayError> {
        let (reply, outcome) = oneshot::channel();
        self.deploy
            .send(DeployRequest::Local {
                manifest: Box::new(manifest.clone()),
                reply: Some(reply),
            })
            .await
            .map_err(|_| GatewayError::ShuttingDown)?;
        outcome.await.map_err(|_| GatewayError::ShuttingDown)
    }

    /// The modules whose first `init` failed, with the reason. Unless their
    /// restart policy is `never`, they are in backoff and will be tried again.
    pub fn failed_to_start(&self) -> &[(String, String)] {
        &self.failed_to_start
    }

    /// Every counter, each module's lifecycle and the cloud link's state,
    /// now.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut snapshot = self.metrics.snapshot().with_states(&self.states.borrow());
        let link = self.link.borrow();
        snapshot.queue.connected = link.connected;
        snapshot.queue.link_error = link.error.clone();
        snapshot
    }

    /// The last deployment's outcome (applied, refused or rolled back), as
    /// the deployer published it.
    pub fn deployment(&self) -> Option<DeploymentSnapshot> {
        self.deployment.borrow().clone()
    }

    /// Observes the messages `$upstream` accepts. The first call sees every
    /// message since the start; later calls see those from the call on.
    pub fn subscribe_upstream(&mut self) -> broadcast::Receiver<UpstreamMessage> {
        self.first_observer
            .take()
            .unwrap_or_else(|| self.observers.subscribe())
    }

    /// Routes `message` as if leaf device `device` had sent it. The gateway sets
    /// `$connectionDeviceId`, and an id and creation time if they are unset.
    pub async fn inject(&self, device: &str, mut message: Message) -> Result<(), GatewayError> {
        let size = message_size(&message);
        if size > MAX_MESSAGE_BYTES {
            return Err(GatewayError::TooLarge {
                device: device.to_string(),
                size,
            });
        }
        stamp_from_device(&mut message, device, &self.ids);
        let envelope = Envelope::new(Producer::Device(device.to_string()), message, None);
        let ingress = self.ingress.as_ref().ok_or(GatewayError::ShuttingDown)?;
        ingress
            .send(envelope)
            .await
            .map_err(|_| GatewayError::ShuttingDown)
    }

    /// Stops every instance after its current call, lets the router deliver
    /// what it holds, and waits for every task to end.
    pub async fn shutdown(mut self) -> MetricsSnapshot {
        let _ = self.shutdown.send(true);
        self.ingress = None;
        if let Some(task) = self.ingest_task.take()
            && let Err(e) = task.await
        {
            tracing::error!("the ingest session ended abnormally: {e}");
        }
        if let Some(task) = self.watch_task.take()
            && let Err(e) = task.await
        {
            tracing::error!("the manifest watch ended abnormally: {e}");
        }
        if let Err(e) = (&mut self.agent_task).await {
            tracing::error!("the agent ended abnormally: {e}");
        }
        if let Err(e) = (&mut self.deployer_task).await {
            tracing::error!("the deployer ended abnormally: {e}");
        }
        if let Err(e) = (&mut self.twins_task).await {
            tracing::error!("the twin keeper ended abnormally: {e}");
        }
        if let Err(e) = (&mut self.router).await {
            tracing::error!("the router ended abnormally: {e}");
        }
        if let Err(e) = (&mut self.upstream_task).await {
            tracing::error!("the upstream sink ended abnormally: {e}");
        }
        if let Some(task) = self.link_task.take()
            && let Err(e) = task.await
        {
            tracing::error!("the cloud connection ended abnormally: {e}");
        }
        self.metrics()
    }
}
