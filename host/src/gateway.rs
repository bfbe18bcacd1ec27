//! The gateway: builds the runtime, loads every module of a manifest, and runs
//! the router, the `$upstream` sink and one task per module instance until it is
//! shut down.
//!
//! Shutdown is explicit: a watch channel tells every instance to stop after its
//! current call. When the instances and the gateway drop their senders the
//! router ends, and when the router drops its sender the upstream task ends.

use crate::agent::{self, AgentIo};
use crate::ingest;
use crate::manifest::{DEFAULT_DEVICE_ID, DesiredStatus, Manifest};
use crate::message::{IdGenerator, MAX_MESSAGE_BYTES, Message, message_size, stamp_from_device};
use crate::metrics::{Metrics, MetricsSnapshot, ModuleStatus};
use crate::router::{Envelope, ModuleInbox, Producer, ROUTER_QUEUE, Router, UpstreamMessage};
use crate::runtime::storage::ModuleStorage;
use crate::runtime::twin::{ModuleTwin, REPORTED_CHANGES, SharedTwin};
use crate::runtime::{EpochTicker, LoadError, Runtime, RuntimeError};
use crate::store::{Store, StoreConfig, StoreError};
use crate::supervisor::{self, CONTROL_QUEUE, InstanceIo, InstanceSpec};
use crate::twin::{DEVICE_TWIN_ID, TwinError, TwinStore};
use crate::uplink::{self, CONTROL_EVENTS, LINK_EVENTS, UplinkConfig};
use crate::upstream::{self, UpstreamIo};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

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
}

impl GatewayOptions {
    /// Options with a data directory and no cloud connection.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        GatewayOptions {
            data_dir: data_dir.into(),
            uplink: None,
        }
    }
}

/// A running gateway.
pub struct Gateway {
    shutdown: watch::Sender<bool>,
    ingress: Option<mpsc::Sender<Envelope>>,
    instances: Vec<JoinHandle<()>>,
    router: JoinHandle<()>,
    upstream_task: JoinHandle<()>,
    link_task: Option<JoinHandle<()>>,
    ingest_task: Option<JoinHandle<()>>,
    agent_task: JoinHandle<()>,
    metrics: Arc<Metrics>,
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
            },
        )?;
        let runtime = Arc::new(Runtime::new()?);
        let twin_store = TwinStore::open(store.db())?;
        let mut twins: BTreeMap<String, SharedTwin> = BTreeMap::new();
        twins.insert(
            DEVICE_TWIN_ID.to_string(),
            Arc::new(Mutex::new(twin_store.load(DEVICE_TWIN_ID)?)),
        );
        let (changes_tx, changes_rx) = mpsc::channel(REPORTED_CHANGES);
        let mut specs = Vec::with_capacity(manifest.modules.len());
        for module in &manifest.modules {
            let component = runtime.load_file(&module.name, &module.path)?;
            let storage = ModuleStorage::open(store.db(), &module.name, module.storage_quota)
                .map_err(StoreError::from)?;
            let doc: SharedTwin = Arc::new(Mutex::new(twin_store.load(&module.name)?));
            twins.insert(module.name.clone(), doc.clone());
            let twin = ModuleTwin {
                id: Arc::from(module.name.as_str()),
                doc,
                changes: changes_tx.clone(),
            };
            specs.push(InstanceSpec {
                name: Arc::from(module.name.as_str()),
                component,
                config: module.config.clone(),
                limits: module.limits,
                restart: module.restart,
                storage: Some(storage),
                twin: Some(twin),
            });
        }
        drop(changes_tx);
        let ticker = runtime.start_epoch_ticker()?;
        let metrics = Arc::new(Metrics::new(
            manifest.modules.iter().map(|m| m.name.as_str()),
            manifest.routes.iter().map(|r| r.name.as_str()),
        ));
        let ids = Arc::new(IdGenerator::new());
        // Status shows the queue as it was found, from the first moment.
        metrics.queue.set_size(store.depth(), store.used_bytes());
        let (router_tx, router_rx) = mpsc::channel(ROUTER_QUEUE);
        let (upstream_tx, upstream_rx) = mpsc::channel(UPSTREAM_QUEUE);
        let (observers, first_observer) = broadcast::channel(UPSTREAM_OBSERVER_BACKLOG);
        let (shutdown, shutdown_rx) = watch::channel(false);

        let mut inboxes = Vec::with_capacity(specs.len());
        let mut instances = Vec::with_capacity(specs.len());
        let mut starts = Vec::with_capacity(specs.len());
        let mut controls = HashMap::new();
        for ((spec, module_metrics), module) in specs
            .into_iter()
            .zip(metrics.modules.iter())
            .zip(manifest.modules.iter())
        {
            // The manifest keeps the length at least 1; `max` keeps a hand-made
            // spec from panicking the channel.
            let (tx, inbox) = mpsc::channel(module.queue_length.max(1));
            inboxes.push((
                spec.name.to_string(),
                ModuleInbox {
                    tx,
                    metrics: module_metrics.clone(),
                },
            ));
            if module.status == DesiredStatus::Stopped {
                // Its queue closes at once: the router counts what it drops.
                module_metrics.set_status(ModuleStatus::Stopped);
                drop(inbox);
                continue;
            }
            let (started, started_rx) = oneshot::channel();
            starts.push((spec.name.to_string(), started_rx));
            let (control_tx, control) = mpsc::channel(CONTROL_QUEUE);
            controls.insert(spec.name.to_string(), control_tx);
            let io = InstanceIo {
                inbox,
                control,
                router: router_tx.clone(),
                metrics: module_metrics.clone(),
                shutdown: shutdown_rx.clone(),
                started,
            };
            instances.push(tokio::spawn(supervisor::run(spec, runtime.clone(), io)));
        }
        let router = Router::new(&manifest.routes, inboxes, upstream_tx, metrics.clone());
        let router = tokio::spawn(router.run(router_rx));
        let uplink_config = options.uplink.as_ref().or(manifest.upstream.as_ref());
        let (link, control_link, link_task) = match uplink_config {
            Some(config) => {
                let (tx, rx) = mpsc::channel(LINK_EVENTS);
                let (control_tx, control_rx) = mpsc::channel(CONTROL_EVENTS);
                let task = tokio::spawn(uplink::run(
                    config.clone(),
                    tx,
                    control_tx,
                    shutdown_rx.clone(),
                ));
                (
                    Some((rx, config.device_id.clone(), config.in_flight)),
                    Some(control_rx),
                    Some(task),
                )
            }
            None => (None, None, None),
        };
        let agent_task = tokio::spawn(agent::run(AgentIo {
            device: uplink_config
                .map(|c| c.device_id.clone())
                .unwrap_or_else(|| DEFAULT_DEVICE_ID.to_string()),
            twins,
            store: twin_store,
            controls,
            link: control_link,
            changes: changes_rx,
            router: router_tx.clone(),
            ids: ids.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown_rx.clone(),
        }));
        let ingest_task = manifest.ingest.clone().map(|config| {
            tokio::spawn(ingest::run(
                config,
                router_tx.clone(),
                ids.clone(),
                shutdown_rx.clone(),
            ))
        });
        let upstream_task = tokio::spawn(upstream::run(
            store,
            UpstreamIo {
                rx: upstream_rx,
                link,
                metrics: metrics.clone(),
                observers: observers.clone(),
            },
        ));

        let mut failed_to_start = Vec::new();
        for (name, started) in starts {
            match started.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed_to_start.push((name, e)),
                Err(_) => failed_to_start.push((name, "the instance task ended".to_string())),
            }
        }
        Ok(Gateway {
            shutdown,
            ingress: Some(router_tx),
            instances,
            router,
            upstream_task,
            link_task,
            ingest_task,
            agent_task,
            metrics,
            observers,
            first_observer: Some(first_observer),
            ids,
            failed_to_start,
            _ticker: ticker,
        })
    }

    /// The modules whose first `init` failed, with the reason. Unless their
    /// restart policy is `never`, they are in backoff and will be tried again.
    pub fn failed_to_start(&self) -> &[(String, String)] {
        &self.failed_to_start
    }

    /// Every counter, now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
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
        let envelope = Envelope {
            from: Producer::Device(device.to_string()),
            message,
            receipt: None,
        };
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
        if let Err(e) = (&mut self.agent_task).await {
            tracing::error!("the agent ended abnormally: {e}");
        }
        for task in self.instances.drain(..) {
            if let Err(e) = task.await {
                tracing::error!("a module task ended abnormally: {e}");
            }
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
        self.metrics.snapshot()
    }
}
