//! Starting a gateway, in three steps:
//!
//! 1. the store and the runtime ([`open_store`], [`runtime_for`]);
//! 2. the tasks that run from the first moment: the router, the `$upstream`
//!    sink, the twin keeper and the agent ([`Gateway::spawn_core`]), which
//!    already make a [`Gateway`] that can shut down;
//! 3. the first deployment, then the tasks that wait for it: the deployer's
//!    own loop, the cloud connection (so that the gateway reports itself
//!    online with its modules up), ingest and the manifest watch
//!    ([`Gateway::deploy_first`]).
//!
//! A start that fails after step 2 shuts that gateway down as usual, so that
//! every task that holds the database has ended when the error returns and
//! the data directory can be opened again.

use super::{
    COMPILED_DIR, Gateway, GatewayError, GatewayOptions, UPSTREAM_OBSERVER_BACKLOG, UPSTREAM_QUEUE,
};
use crate::agent::artifacts::Intake;
use crate::agent::{self, AGENT_COMMANDS, AgentIo};
use crate::artifact::pushed::ArtifactStore;
use crate::deployer::stored::StoredDeployment;
use crate::deployer::{
    self, AgentCommand, DEPLOY_REQUESTS, DeployError, DeployOutcome, DeployRequest, Deployer,
    DeployerIo, DeploymentSnapshot,
};
use crate::ingest;
use crate::lifecycle::ModuleStates;
use crate::manifest::{DEFAULT_DEVICE_ID, Manifest};
use crate::message::IdGenerator;
use crate::metrics::Metrics;
use crate::router::{ROUTER_COMMANDS, ROUTER_QUEUE, Router, RouterCommand};
use crate::runtime::alloc::{self, Allocation};
use crate::runtime::{EpochTicker, Runtime, RuntimeOptions};
use crate::store::flush::FlushPolicy;
use crate::store::{Store, StoreConfig, StoreError};
use crate::twin::keeper::{REPORTED_CHANGES, ReportedChange};
use crate::twin::{DEVICE_TWIN_ID, TwinStore, Twins};
use crate::uplink::{self, CONTROL_EVENTS, ControlEvent, LINK_EVENTS, LinkEvent, UplinkConfig};
use crate::upstream::{self, LinkState, UpstreamIo};
use crate::web::{Endpoint, Sources, WebError};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};

/// The channel ends that the agent, the deployer and the cloud connection
/// take once they start (step 3).
struct Wiring {
    router: mpsc::Sender<crate::envelope::Envelope>,
    router_commands: mpsc::Sender<RouterCommand>,
    twins: Twins,
    changes: mpsc::Receiver<ReportedChange>,
    agent: (mpsc::Sender<AgentCommand>, mpsc::Receiver<AgentCommand>),
    outcome: watch::Sender<Option<DeploymentSnapshot>>,
    states: watch::Sender<ModuleStates>,
    deploy: mpsc::Receiver<DeployRequest>,
    device: String,
    cloud: Option<CloudEnds>,
}

/// The cloud connection's channel ends: the agent's control events and what
/// the uplink task takes.
struct CloudEnds {
    control: mpsc::Receiver<ControlEvent>,
    uplink: (
        UplinkConfig,
        mpsc::Sender<LinkEvent>,
        mpsc::Sender<ControlEvent>,
    ),
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
        // Checked before anything starts: a refused endpoint starts nothing.
        let endpoint = manifest
            .metrics
            .endpoint(options.metrics_addr)
            .map_err(WebError::Config)?;
        let store = open_store(manifest, options)?;
        let db = store.db().clone();
        let runtime = Arc::new(runtime_for(manifest, &db, options)?);
        let ticker = runtime.start_epoch_ticker()?;
        let uplink = options.uplink.as_ref().or(manifest.upstream.as_ref());
        let twins = TwinStore::open(&db)?;
        let flush = manifest.store_and_forward.flush;
        let (mut gateway, wiring) = Gateway::spawn_core(store, twins, ticker, uplink, flush);
        let started = match endpoint {
            Some(config) => Endpoint::start(&config, gateway.view.clone())
                .await
                .map(Some),
            None => Ok(None),
        };
        let deployed = match started {
            Ok(endpoint) => {
                gateway.endpoint = endpoint;
                gateway
                    .deploy_first(wiring, runtime, db, manifest, options)
                    .await
            }
            // The router ends once every sender is gone, the wiring's too.
            Err(e) => {
                drop(wiring);
                Err(e.into())
            }
        };
        match deployed {
            Ok(()) => Ok(gateway),
            Err(e) => {
                gateway.shutdown().await;
                Err(e)
            }
        }
    }

    /// Step 2: the channels, and the router, the `$upstream` sink and the
    /// twin keeper.
    fn spawn_core(
        store: Store,
        twins: TwinStore,
        ticker: EpochTicker,
        uplink: Option<&UplinkConfig>,
        flush: FlushPolicy,
    ) -> (Gateway, Wiring) {
        let metrics = Arc::new(Metrics::new(
            std::iter::empty::<&str>(),
            std::iter::empty::<&str>(),
        ));
        // Status shows the queue as it was found, from the first moment.
        metrics.queue.set_size(store.depth(), store.used_bytes());
        let (router_tx, router_rx) = mpsc::channel(ROUTER_QUEUE);
        let (router_commands, router_commands_rx) = mpsc::channel(ROUTER_COMMANDS);
        let (upstream_tx, upstream_rx) = mpsc::channel(UPSTREAM_QUEUE);
        let (observers, first_observer) = broadcast::channel(UPSTREAM_OBSERVER_BACKLOG);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (changes_tx, changes) = mpsc::channel(REPORTED_CHANGES);
        let (twins, twins_task) =
            Twins::start(Some(twins), Some(changes_tx), Some(shutdown_rx.clone()));
        let (outcome, outcome_rx) = watch::channel(None);
        let (states, states_rx) = watch::channel(Vec::new());
        let (deploy_tx, deploy) = mpsc::channel(DEPLOY_REQUESTS);
        let router = Router::new(&[], Vec::new(), upstream_tx, metrics.clone());
        let router = tokio::spawn(router.run(router_rx, router_commands_rx));
        let (link, cloud) = match uplink {
            Some(config) => {
                let (tx, rx) = mpsc::channel(LINK_EVENTS);
                let (control_tx, control) = mpsc::channel(CONTROL_EVENTS);
                let ends = CloudEnds {
                    control,
                    uplink: (config.clone(), tx, control_tx),
                };
                (
                    Some((rx, config.device_id.clone(), config.in_flight)),
                    Some(ends),
                )
            }
            None => (None, None),
        };
        let (link_state, link_rx) = watch::channel(LinkState::default());
        let (questions_tx, questions) = mpsc::channel(upstream::QUESTIONS);
        let upstream_task = tokio::spawn(upstream::run(
            store,
            UpstreamIo {
                rx: upstream_rx,
                link,
                metrics: metrics.clone(),
                link_state,
                observers: observers.clone(),
                flush,
                questions,
            },
        ));
        let wiring = Wiring {
            router: router_tx.clone(),
            router_commands,
            twins,
            changes,
            agent: mpsc::channel(AGENT_COMMANDS),
            outcome,
            states,
            deploy,
            device: uplink.map_or_else(|| DEFAULT_DEVICE_ID.to_string(), |c| c.device_id.clone()),
            cloud,
        };
        let gateway = Gateway {
            shutdown,
            ingress: Some(router_tx),
            deploy: deploy_tx,
            deployer_task: None,
            watch_task: None,
            router,
            upstream_task,
            link_task: None,
            ingest_task: None,
            agent_task: None,
            twins_task,
            view: Sources {
                metrics,
                states: states_rx,
                link: link_rx,
                upstream: questions_tx,
            },
            deployment: outcome_rx,
            endpoint: None,
            observers,
            first_observer: Some(first_observer),
            ids: Arc::new(IdGenerator::new()),
            failed_to_start: Vec::new(),
            _ticker: ticker,
        };
        (gateway, wiring)
    }

    /// Step 3: the agent, the first deployment, then the deployer's loop,
    /// the cloud connection, ingest and the manifest watch.
    async fn deploy_first(
        &mut self,
        wiring: Wiring,
        runtime: Arc<Runtime>,
        db: sled::Db,
        manifest: &Manifest,
        options: &GatewayOptions,
    ) -> Result<(), GatewayError> {
        let device_twin = wiring.twins.open(DEVICE_TWIN_ID).await?;
        let (cloud_control, start_link) = match wiring.cloud {
            Some(ends) => (Some(ends.control), Some(ends.uplink)),
            None => (None, None),
        };
        let shutdown = self.shutdown.subscribe();
        let (agent_tx, agent_rx) = wiring.agent;
        self.agent_task = Some(tokio::spawn(agent::run(AgentIo {
            device: wiring.device,
            device_twin: device_twin.clone(),
            commands: agent_rx,
            deployer: self.deploy.clone(),
            link: cloud_control,
            changes: wiring.changes,
            router: wiring.router.clone(),
            ids: self.ids.clone(),
            metrics: self.view.metrics.clone(),
            deployment: self.deployment.clone(),
            states: self.view.states.clone(),
            intake: Intake::new(
                ArtifactStore::open(&db).map_err(StoreError::from)?,
                runtime.clone(),
            ),
            shutdown: shutdown.clone(),
        })));
        let mut deployer = Deployer::new(DeployerIo {
            runtime,
            db,
            base_dir: options.manifest_dir.clone(),
            router: wiring.router.clone(),
            router_commands: wiring.router_commands,
            agent: agent_tx,
            metrics: self.view.metrics.clone(),
            twins: wiring.twins,
            device_twin,
            requests: self.deploy.clone(),
            outcome: wiring.outcome,
            states: wiring.states,
        })?;
        let (version, applied) = first_deployment(&mut deployer, manifest, options).await;
        let outcome = applied.map_err(start_error)?;
        deployer.report_start(version, &outcome).await;
        self.failed_to_start = outcome.failed;
        self.link_task = start_link.map(|(config, tx, control_tx)| {
            tokio::spawn(uplink::run(config, tx, control_tx, shutdown.clone()))
        });
        self.deployer_task = Some(tokio::spawn(deployer.run(wiring.deploy, shutdown.clone())));
        self.watch_task = options.watch.clone().map(|path| {
            tokio::spawn(deployer::watch::run(
                path,
                self.deploy.clone(),
                shutdown.clone(),
            ))
        });
        self.ingest_task = manifest.ingest.clone().map(|config| {
            tokio::spawn(ingest::run(
                config,
                wiring.router,
                self.ids.clone(),
                self.view.metrics.clone(),
                shutdown,
            ))
        });
        Ok(())
    }
}

/// A first deployment's failure, as the error of the start.
fn start_error(e: DeployError) -> GatewayError {
    match e {
        DeployError::Load(e) => GatewayError::Load(e),
        DeployError::Twin(e) => GatewayError::Twin(e),
        DeployError::Storage { source, .. } => GatewayError::Store(StoreError::from(source)),
    }
}

/// Opens the store in the data directory with the manifest's
/// store-and-forward settings.
fn open_store(manifest: &Manifest, options: &GatewayOptions) -> Result<Store, StoreError> {
    let saf = &manifest.store_and_forward;
    Store::open(
        &options.data_dir,
        StoreConfig {
            quota: saf.quota,
            default_ttl: saf.time_to_live,
            flush: saf.flush,
        },
    )
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
