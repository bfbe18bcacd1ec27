//! The deployer: the task that owns the running modules, and applies a
//! deployment as a diff against what runs.
//!
//! - Every module file a deployment names is loaded before anything is
//!   touched: one that does not load refuses the whole deployment, and the
//!   running one carries on.
//! - A module that is new is started, one that is gone is stopped, one whose
//!   specification changed is restarted (its input queue, with what waits in
//!   it, carries over to the new instance), and one that did not change is
//!   left alone.
//! - The router gets the new routes and queues in one step, and the agent the
//!   new twins and control queues.
//!
//! Deployments come from the cloud (through the agent: a version and the
//! manifest's text), from the watched manifest file ([`watch`]), or from
//! [`crate::Gateway::apply`]. A cloud deployment that was applied is stored,
//! so that the gateway runs it again after a restart.

mod changes;
mod load;
mod requests;
pub mod stored;
mod swap;
pub mod watch;

use crate::artifact::pushed::ArtifactStore;
use crate::envelope::{Delivery, Envelope};
use crate::lifecycle::{self, ModuleState, ModuleStates};
use crate::manifest::{DesiredStatus, Manifest, ModuleSpec};
use crate::metrics::series::ChartSpec;
use crate::metrics::{Metrics, ModuleMetrics};
use crate::route::RouteSpec;
use crate::router::{ModuleInbox, RouterCommand};
use crate::runtime::storage::ModuleStorage;
use crate::runtime::{Instance, LoadError, LoadedComponent, Runtime};
use crate::supervisor::{self, CONTROL_QUEUE, Control, InstanceIo, InstanceSpec};
use crate::twin::{DEVICE_TWIN_ID, TwinError, TwinHandle, Twins};
use changes::Changes;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use stored::StoredDeployment;
use swap::Swapped;
use tokio::sync::{mpsc, oneshot, watch as signal};
use tokio::task::JoinHandle;

/// How many deployment requests may wait.
pub const DEPLOY_REQUESTS: usize = 8;

pub use crate::protocol::deployment::{APPLIED, REFUSED, ROLLED_BACK};

/// What the deployer tells the agent.
#[derive(Debug)]
pub enum AgentCommand {
    /// The twins and control queues of what runs now.
    Modules {
        /// Every twin: the device's and one per module.
        twins: BTreeMap<String, TwinHandle>,
        /// Each running module's control queue.
        controls: HashMap<String, mpsc::Sender<Control>>,
    },
}

/// The last deployment's outcome, which the deployer publishes on a `watch`
/// channel ([`DeployerIo::outcome`]) for the agent's status document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSnapshot {
    /// Its version (0: the manifest file).
    pub version: u64,
    /// [`APPLIED`], [`REFUSED`] or [`ROLLED_BACK`].
    pub code: u16,
    /// What was started, restarted and stopped, or why it was refused.
    pub description: String,
}

/// What happened to a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOutcome {
    /// [`APPLIED`] or [`REFUSED`].
    pub code: u16,
    /// What was started, restarted and stopped, or why it was refused.
    pub description: String,
    /// The modules whose first `init` failed, with the reason.
    pub failed: Vec<(String, String)>,
}

/// A deployment to apply.
#[derive(Debug)]
pub enum DeployRequest {
    /// A validated manifest (from the watched file, or the library's caller).
    Local {
        /// The manifest.
        manifest: Box<Manifest>,
        /// Told the outcome.
        reply: Option<oneshot::Sender<DeployOutcome>>,
    },
    /// A manifest file that did not validate: reported as refused.
    Invalid {
        /// Why.
        description: String,
    },
    /// A deployment document from the cloud: `{"version": N, "manifest": "..."}`.
    Cloud {
        /// The payload as published.
        payload: Vec<u8>,
    },
    /// A module's new version failed its probation: go back to the previous.
    Rollback {
        /// The module.
        module: String,
        /// Which swap (a module may have been swapped again since).
        swap: u64,
    },
}

/// Why the deployer could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A module's component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A module's storage could not be opened.
    #[error("module `{module}`: cannot open its storage: {source}")]
    Storage {
        /// The module.
        module: String,
        /// What sled said.
        source: sled::Error,
    },
    /// A module's stored twin could not be read.
    #[error(transparent)]
    Twin(#[from] TwinError),
}

/// A module as the deployer keeps it.
struct Module {
    spec: ModuleSpec,
    metrics: Arc<ModuleMetrics>,
    inbox: mpsc::Sender<Delivery>,
    twin: TwinHandle,
    /// Its key-value namespace, shared by its instances.
    storage: Option<ModuleStorage>,
    /// Present while it runs.
    running: Option<Running>,
    /// Set after a hot swap, while the new version is on probation.
    probation: Option<swap::Probation>,
    /// The component that runs, kept for a rollback to it.
    component: Option<LoadedComponent>,
    /// Its previous input queue, after a restart or swap that changed the
    /// queue's length: kept open until the router delivers to the new one,
    /// then what reached it meanwhile moves over (see [`requeue`]).
    retired: Option<mpsc::Receiver<Delivery>>,
}

struct Running {
    stop: signal::Sender<bool>,
    control: mpsc::Sender<Control>,
    task: JoinHandle<Option<mpsc::Receiver<Delivery>>>,
    /// What its supervisor publishes of its lifecycle.
    state: signal::Receiver<ModuleState>,
}

/// What the deployer works with.
pub struct DeployerIo {
    /// The runtime modules are loaded into.
    pub runtime: Arc<Runtime>,
    /// The database (module storage, twins, the stored deployment).
    pub db: sled::Db,
    /// Where relative module paths of cloud deployments start.
    pub base_dir: PathBuf,
    /// The router's messages, for the supervisors.
    pub router: mpsc::Sender<Envelope>,
    /// The router's table changes.
    pub router_commands: mpsc::Sender<RouterCommand>,
    /// The agent's commands.
    pub agent: mpsc::Sender<AgentCommand>,
    /// The gateway's counters.
    pub metrics: Arc<Metrics>,
    /// The twin keeper, for the modules' twins.
    pub twins: Twins,
    /// The device twin.
    pub device_twin: TwinHandle,
    /// The deployer's own request queue, for rollbacks its probations ask for.
    pub requests: mpsc::Sender<DeployRequest>,
    /// Where the deployer publishes the last deployment's outcome; the
    /// deployer is its only writer.
    pub outcome: signal::Sender<Option<DeploymentSnapshot>>,
    /// Where the deployer publishes its modules with their supervisors'
    /// lifecycle channels, whenever the set changes.
    pub states: signal::Sender<ModuleStates>,
}

/// The deployer's state.
pub struct Deployer {
    io: DeployerIo,
    stored: StoredDeployment,
    /// The artifacts pushed through the broker.
    artifacts: ArtifactStore,
    modules: Vec<(String, Module)>,
    routes: Vec<RouteSpec>,
    /// The telemetry series charted from the routes (`[[metrics.chart]]`).
    charts: Vec<ChartSpec>,
    /// The manifest that runs, for the settings that apply at the next start.
    current: Option<Manifest>,
    /// Counts hot swaps, to tell a probation's rollback request from a stale one.
    swaps: u64,
}

/// The result of one module's start: its name and the first `init`'s outcome.
type Start = (String, oneshot::Receiver<Result<(), String>>);

impl Deployer {
    /// A deployer with nothing running yet.
    pub fn new(io: DeployerIo) -> Result<Deployer, DeployError> {
        let stored = StoredDeployment::open(&io.db).map_err(|source| DeployError::Storage {
            module: "(deployment)".to_string(),
            source,
        })?;
        let artifacts = ArtifactStore::open(&io.db).map_err(|source| DeployError::Storage {
            module: "(artifacts)".to_string(),
            source,
        })?;
        Ok(Deployer {
            io,
            stored,
            artifacts,
            modules: Vec::new(),
            routes: Vec::new(),
            charts: Vec::new(),
            current: None,
            swaps: 0,
        })
    }

    /// The deployment stored from the cloud, if any: its version and text.
    pub fn stored(&self) -> Option<(u64, String)> {
        self.stored.get()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.modules.iter().position(|(n, _)| n == name)
    }

    /// What an instance of `spec` is made from. The module's storage is
    /// reused while its quota stays the same, so that old and new instances
    /// share one count.
    fn instance_spec(
        &self,
        spec: &ModuleSpec,
        component: LoadedComponent,
        module: &mut Module,
    ) -> Result<InstanceSpec, DeployError> {
        let storage = match &module.storage {
            Some(s) if s.quota() == spec.storage_quota => s.clone(),
            _ => ModuleStorage::open(&self.io.db, &spec.name, spec.storage_quota).map_err(
                |source| DeployError::Storage {
                    module: spec.name.clone(),
                    source,
                },
            )?,
        };
        module.storage = Some(storage.clone());
        Ok(InstanceSpec {
            name: Arc::from(spec.name.as_str()),
            component,
            config: spec.config.clone(),
            limits: spec.limits,
            restart: spec.restart,
            storage: Some(storage),
            twin: Some(module.twin.clone()),
            grants: spec.grants.clone(),
        })
    }

    /// Starts a supervisor for `instance` on `inbox`, from `ready` (an
    /// instance already initialised) if given.
    fn spawn(
        &self,
        instance: InstanceSpec,
        module: &Module,
        inbox: mpsc::Receiver<Delivery>,
        ready: Option<Instance>,
    ) -> (Running, Start) {
        let name = instance.name.to_string();
        let (stop, stop_rx) = signal::channel(false);
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let (started, started_rx) = oneshot::channel();
        let (state, state_rx) = signal::channel(ModuleState::default());
        let io = InstanceIo {
            inbox,
            control: control_rx,
            router: self.io.router.clone(),
            metrics: module.metrics.clone(),
            state,
            shutdown: stop_rx,
            started,
        };
        let task = tokio::spawn(supervisor::run_from(
            instance,
            self.io.runtime.clone(),
            io,
            ready,
        ));
        (
            Running {
                stop,
                control,
                task,
                state: state_rx,
            },
            (name, started_rx),
        )
    }

    /// Starts a supervisor for `spec` on `inbox`.
    fn start(
        &self,
        spec: &ModuleSpec,
        component: LoadedComponent,
        module: &mut Module,
        inbox: mpsc::Receiver<Delivery>,
    ) -> Result<(Running, Start), DeployError> {
        let instance = self.instance_spec(spec, component, module)?;
        Ok(self.spawn(instance, module, inbox, None))
    }

    /// Applies `manifest`. On `Err`, nothing changed.
    pub async fn apply(&mut self, manifest: &Manifest) -> Result<DeployOutcome, DeployError> {
        // Load every component that must (re)start before touching anything.
        let mut components = self.load_changed(manifest)?;
        let mut changes = Changes {
            stopped: self.stop_gone(manifest).await,
            ..Changes::default()
        };
        let mut starts = Vec::new();
        let mut next = Vec::with_capacity(manifest.modules.len());
        for spec in &manifest.modules {
            let existing = self.position(&spec.name).map(|i| self.modules.remove(i).1);
            let (mut module, inbox) = match existing {
                Some(module) if module.spec == *spec => {
                    changes.kept.push(spec.name.clone());
                    next.push((spec.name.clone(), module));
                    continue;
                }
                Some(mut module) => {
                    if module.running.is_some()
                        && let Some(component) = components.remove(&spec.name)
                    {
                        match self.swap(&mut module, spec, component, true).await? {
                            Swapped::Done => changes.swapped.push(spec.name.clone()),
                            Swapped::Kept(why) => {
                                changes.kept_old.push(format!("{} ({why})", spec.name));
                            }
                        }
                        next.push((spec.name.clone(), module));
                        continue;
                    }
                    let waiting = stop(&mut module).await;
                    let (tx, rx) = requeue(waiting, spec.queue_length, &mut module);
                    module.inbox = tx;
                    module.spec = spec.clone();
                    changes.restarted.push(spec.name.clone());
                    (module, rx)
                }
                None => {
                    let twin = self.io.twins.open(&spec.name).await?;
                    let (tx, rx) = mpsc::channel(spec.queue_length.max(1));
                    let metrics = Arc::new(ModuleMetrics::new(&spec.name));
                    metrics.watch_queue(&tx);
                    let module = Module {
                        spec: spec.clone(),
                        metrics,
                        inbox: tx,
                        twin,
                        storage: None,
                        running: None,
                        probation: None,
                        component: None,
                        retired: None,
                    };
                    changes.started.push(spec.name.clone());
                    (module, rx)
                }
            };
            // A module stopped in the manifest has no component here: its
            // queue closes, the router counts what it can no longer deliver,
            // and with no supervisor its state in the table is `stopped`.
            if let Some(component) = components.remove(&spec.name) {
                module.component = Some(component.clone());
                let (running, start) = self.start(spec, component, &mut module, inbox)?;
                module.running = Some(running);
                starts.push(start);
            }
            next.push((spec.name.clone(), module));
        }
        self.modules = next;
        self.routes = manifest.routes.clone();
        self.charts = manifest.metrics.charts.clone();
        self.publish_modules().await;
        let mut failed = Vec::new();
        for (name, start) in starts {
            match start.await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => failed.push((name, why)),
                Err(_) => failed.push((name, "its task ended".to_string())),
            }
        }
        let description = changes.describe(manifest, &failed, self.current.as_ref());
        self.current = Some(manifest.clone());
        let stored = self.stored.get().map(|(_, text)| text);
        load::prune(&self.artifacts, manifest, stored.as_deref());
        Ok(DeployOutcome {
            code: APPLIED,
            description,
            failed,
        })
    }

    /// The components of the modules that must (re)start for `manifest`:
    /// new or changed ones that should run. Loaded before anything changes,
    /// so that one that does not load refuses the whole deployment.
    fn load_changed(
        &self,
        manifest: &Manifest,
    ) -> Result<HashMap<String, LoadedComponent>, DeployError> {
        self.io.runtime.admits_modules(manifest.modules.len())?;
        let mut components = HashMap::new();
        for spec in &manifest.modules {
            let unchanged = self
                .position(&spec.name)
                .is_some_and(|i| self.modules[i].1.spec == *spec);
            if !unchanged && spec.status == DesiredStatus::Running {
                let component = load::component(&self.io.runtime, &self.artifacts, spec)?;
                components.insert(spec.name.clone(), component);
            }
        }
        Ok(components)
    }

    /// Stops the modules `manifest` no longer has; returns their names.
    async fn stop_gone(&mut self, manifest: &Manifest) -> Vec<String> {
        let gone: Vec<String> = self
            .modules
            .iter()
            .filter(|(n, _)| !manifest.modules.iter().any(|m| &m.name == n))
            .map(|(n, _)| n.clone())
            .collect();
        let mut stopped = Vec::new();
        for name in gone {
            if let Some(i) = self.position(&name) {
                let (_, mut module) = self.modules.remove(i);
                stop(&mut module).await;
                stopped.push(name);
            }
        }
        stopped
    }

    /// Tells the router, the counters and the agent what runs now.
    async fn publish_modules(&mut self) {
        let inboxes = self
            .modules
            .iter()
            .map(|(name, m)| {
                (
                    name.clone(),
                    ModuleInbox {
                        tx: m.inbox.clone(),
                        metrics: m.metrics.clone(),
                    },
                )
            })
            .collect();
        self.io.metrics.set_modules(
            self.modules
                .iter()
                .map(|(_, m)| m.metrics.clone())
                .collect(),
        );
        self.io.states.send_replace(
            self.modules
                .iter()
                .map(|(name, m)| {
                    let state = m.running.as_ref().map_or_else(
                        || lifecycle::fixed(ModuleState::stopped()),
                        |r| r.state.clone(),
                    );
                    (name.clone(), state)
                })
                .collect(),
        );
        let (done, applied) = oneshot::channel();
        let command = RouterCommand::Reconfigure {
            routes: self.routes.clone(),
            charts: self.charts.clone(),
            inboxes,
            done,
        };
        if self.io.router_commands.send(command).await.is_ok() {
            let _ = applied.await;
        }
        // The router delivers to the new queues now: what reached a retired
        // one meanwhile moves over.
        for (_, m) in &mut self.modules {
            if let Some(mut old) = m.retired.take() {
                move_over(&mut old, &m.inbox, m);
            }
        }
        let mut twins = BTreeMap::new();
        twins.insert(DEVICE_TWIN_ID.to_string(), self.io.device_twin.clone());
        let mut controls = HashMap::new();
        for (name, m) in &self.modules {
            twins.insert(name.clone(), m.twin.clone());
            if let Some(r) = &m.running {
                controls.insert(name.clone(), r.control.clone());
            }
        }
        let _ = self
            .io
            .agent
            .send(AgentCommand::Modules { twins, controls })
            .await;
    }
}

/// Stops a module's instance, if it runs; returns its queue with what waits
/// in it.
async fn stop(module: &mut Module) -> Option<mpsc::Receiver<Delivery>> {
    let running = module.running.take()?;
    let _ = running.stop.send(true);
    match running.task.await {
        Ok(inbox) => inbox,
        Err(e) => {
            tracing::error!(module = %module.spec.name, "the module task ended abnormally: {e}");
            None
        }
    }
}

/// The queue for a restarted module: the old one if its length is unchanged,
/// else a new one with what was waiting moved over (as much as fits). The old
/// one stays open as `module.retired` until the router has the new one.
fn requeue(
    waiting: Option<mpsc::Receiver<Delivery>>,
    length: usize,
    module: &mut Module,
) -> (mpsc::Sender<Delivery>, mpsc::Receiver<Delivery>) {
    match waiting {
        Some(rx) if module.spec.queue_length == length && !module.inbox.is_closed() => {
            (module.inbox.clone(), rx)
        }
        waiting => {
            let (tx, rx) = mpsc::channel(length.max(1));
            module.metrics.watch_queue(&tx);
            if let Some(mut old) = waiting {
                move_over(&mut old, &tx, module);
                module.retired = Some(old);
            }
            (tx, rx)
        }
    }
}

/// Moves what waits in `old` into `new`. A copy that does not fit is refused
/// to its producer, which routes it again.
fn move_over(old: &mut mpsc::Receiver<Delivery>, new: &mpsc::Sender<Delivery>, module: &Module) {
    while let Ok(d) = old.try_recv() {
        if let Err(mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d)) =
            new.try_send(d)
        {
            if let Some(r) = &d.receipt {
                r.fail();
            }
            module.metrics.dropped_queue_full();
        }
    }
}
