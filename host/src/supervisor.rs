//! The supervisor of one module: a task that owns the module's wasmtime `Store`, reads its
//! bounded input queue, fires its timers, calls the guest, and passes what the
//! guest sent to the router. Messages go to the guest in batches of what waits
//! for one input (`supervisor/deliver.rs`).
//!
//! A call that returns an error counts as failed and the module carries on. A
//! call that traps (including running past its CPU deadline or out of memory)
//! or exits ends the instance, and what that call sent is discarded.
//!
//! A delivered message's [`Receipt`](crate::receipt::Receipt) is held through the call on it and
//! passed on to every message that call sent, so that its producer hears it
//! is safe only once those are; a call that fails or traps on it, or sends
//! nothing, releases it (see [`crate::receipt`]). Whether and
//! when a new instance is made is the module's restart policy's decision (see
//! [`policy`]): while it waits (status `backoff`) messages for it wait in its
//! bounded queue, and when the queue is full the router drops and counts them.
//! A module its policy does not restart ends as `failed` or `stopped`, and its
//! queue closes, so the router counts what it can no longer deliver.
//!
//! The supervisor is the only writer of its module's lifecycle (status, last
//! start and exit, exit reason, traps): it publishes it on the `watch` channel
//! the deployer gave it ([`crate::lifecycle`]); its counters go to
//! [`crate::metrics`].

mod deliver;
pub mod policy;

use crate::envelope::{Delivery, Envelope, Producer};
use crate::lifecycle::{ExitReason, ModuleState, ModuleStatus};
use crate::metrics::ModuleMetrics;
use crate::runtime::grants::Grants;
use crate::runtime::storage::ModuleStorage;
use crate::runtime::{CallOutcome, Fault, Instance, Limits, LoadedComponent, MethodCall, Runtime};
use crate::twin::{TwinHandle, VERSION_KEY, diff};
use crate::wait;
use policy::{Next, Restart, Supervision};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// The default length of a module's input queue (`queue-length`).
pub const INPUT_QUEUE: usize = 256;
/// How many control calls (twin changes, direct methods) may wait for a module.
pub const CONTROL_QUEUE: usize = 16;

/// A call from the gateway's agent, outside the message flow.
#[derive(Debug)]
pub enum Control {
    /// The desired twin changed. The notice carries nothing: the supervisor
    /// tells the module the difference between what it told it last and the
    /// twin now, so a notice that finds the queue full can be dropped.
    TwinChanged,
    /// A direct method; the outcome goes to `reply`.
    Method {
        /// The method's name.
        name: String,
        /// The JSON payload.
        payload: String,
        /// Where the outcome goes.
        reply: oneshot::Sender<MethodCall>,
    },
}

/// What an instance is made from.
#[derive(Clone)]
pub struct InstanceSpec {
    /// The module's name.
    pub name: Arc<str>,
    /// The loaded component.
    pub component: LoadedComponent,
    /// The configuration passed to `init`.
    pub config: Vec<(String, String)>,
    /// Memory and CPU limits.
    pub limits: Limits,
    /// When and how soon an instance that ended is made again.
    pub restart: Restart,
    /// The module's key-value namespace, shared by every instance of it.
    pub storage: Option<ModuleStorage>,
    /// The module's twin, shared by every instance of it.
    pub twin: Option<TwinHandle>,
    /// The directories and environment variables it may see.
    pub grants: Grants,
}

/// The channels an instance task works with.
pub struct InstanceIo {
    /// Its input queue.
    pub inbox: mpsc::Receiver<Delivery>,
    /// Twin changes and direct methods from the agent.
    pub control: mpsc::Receiver<Control>,
    /// The router's queue.
    pub router: mpsc::Sender<Envelope>,
    /// Its counters.
    pub metrics: Arc<ModuleMetrics>,
    /// Where it publishes its lifecycle; the supervisor is its only writer.
    pub state: watch::Sender<ModuleState>,
    /// Turns true when the gateway stops.
    pub shutdown: watch::Receiver<bool>,
    /// Told once whether the first `init` succeeded.
    pub started: oneshot::Sender<Result<(), String>>,
}

/// How an instance's life ended.
enum Served {
    /// The gateway is stopping.
    Shutdown,
    /// The instance ended for this reason.
    Ended(ExitReason),
}

fn exit_reason(fault: Fault) -> ExitReason {
    match fault {
        Fault::Trap(_) => ExitReason::Trap(fault.to_string()),
        Fault::Deadline { .. } => ExitReason::Deadline(fault.to_string()),
        Fault::OutOfMemory { .. } => ExitReason::OutOfMemory(fault.to_string()),
        Fault::Exit(code) => ExitReason::Exit(code),
    }
}

/// Instantiates the module and runs `init`: what a hot swap does before it
/// retires the running instance.
pub async fn start(spec: &InstanceSpec, runtime: &Runtime) -> Result<Instance, ExitReason> {
    let mut instance = runtime
        .instantiate(
            spec.name.clone(),
            &spec.component,
            spec.limits,
            spec.storage.clone(),
            spec.twin.clone(),
            &spec.grants,
        )
        .await
        .map_err(|e| ExitReason::InitFailed(format!("instantiation failed: {}", e.root_cause())))?;
    match instance.init(&spec.config).await {
        CallOutcome::Done => Ok(instance),
        CallOutcome::GuestError(e) => Err(ExitReason::InitFailed(format!(
            "init returned an error: {e}"
        ))),
        CallOutcome::Trap(Fault::Trap(e)) => {
            Err(ExitReason::InitFailed(format!("init trapped: {e}")))
        }
        CallOutcome::Trap(fault @ Fault::Deadline { .. }) => {
            Err(ExitReason::Deadline(format!("in init: {fault}")))
        }
        CallOutcome::Trap(fault @ Fault::OutOfMemory { .. }) => {
            Err(ExitReason::OutOfMemory(format!("in init: {fault}")))
        }
        CallOutcome::Trap(Fault::Exit(code)) => Err(ExitReason::Exit(code)),
    }
}

/// One module's task state, apart from its instance.
struct Supervisor {
    name: Arc<str>,
    inbox: mpsc::Receiver<Delivery>,
    control: mpsc::Receiver<Control>,
    /// False once every control sender is gone.
    control_open: bool,
    router: mpsc::Sender<Envelope>,
    metrics: Arc<ModuleMetrics>,
    shutdown: watch::Receiver<bool>,
    twin: Option<TwinHandle>,
    /// The desired twin's version and properties as the module was last told.
    told: (u64, serde_json::Map<String, serde_json::Value>),
    /// Deliveries taken from the queue and not yet handled (see `deliver`).
    waiting: VecDeque<Delivery>,
}

impl Supervisor {
    /// Feeds `live` messages and timer ticks until it ends or the gateway
    /// stops.
    async fn serve(&mut self, live: &mut Instance) -> Served {
        // A module that starts is told its whole desired twin.
        let mut first = self.twin.as_ref().map(|t| {
            let desired = t.desired();
            self.told = (desired.version, desired.properties.clone());
            desired.to_payload()
        });
        loop {
            if *self.shutdown.borrow() {
                return Served::Shutdown;
            }
            // What an earlier instance left, or a call left for the next,
            // goes before the queue (after the desired twin).
            if first.is_none()
                && let Some(waiting) = self.waiting.pop_front()
            {
                if let Some(end) = self.deliver(live, waiting).await {
                    return end;
                }
                continue;
            }
            let due = live.next_timer();
            let outcome = tokio::select! {
                biased;
                _ = self.shutdown.changed() => return Served::Shutdown,
                desired = std::future::ready(first.take()), if first.is_some() => match desired {
                    Some(d) => {
                        let started = std::time::Instant::now();
                        let outcome = live.on_twin_desired(&d).await;
                        self.counted(live, started);
                        outcome
                    }
                    None => CallOutcome::Done,
                },
                control = self.control.recv(), if self.control_open => match control {
                    Some(Control::TwinChanged) => match self.desired_change() {
                        Some(patch) => {
                            let started = std::time::Instant::now();
                            let outcome = live.on_twin_desired(&patch).await;
                            self.counted(live, started);
                            outcome
                        }
                        None => CallOutcome::Done,
                    },
                    Some(Control::Method { name, payload, reply }) => {
                        let started = std::time::Instant::now();
                        let call = live.on_method(&name, &payload).await;
                        self.counted(live, started);
                        let outcome = match &call {
                            MethodCall::Trap(fault) => CallOutcome::Trap(fault.clone()),
                            _ => CallOutcome::Done,
                        };
                        let _ = reply.send(call);
                        outcome
                    }
                    None => {
                        self.control_open = false;
                        CallOutcome::Done
                    }
                },
                delivery = self.inbox.recv() => {
                    let Some(delivery) = delivery else { return Served::Shutdown };
                    if let Some(end) = self.deliver(live, delivery).await {
                        return end;
                    }
                    continue;
                }
                _ = wait::until(due) => {
                    let ids = live.take_due_timers(Instant::now());
                    let mut outcome = CallOutcome::Done;
                    for id in ids {
                        self.metrics.timer_call();
                        let started = std::time::Instant::now();
                        outcome = live.on_timer(id).await;
                        self.counted(live, started);
                        if matches!(outcome, CallOutcome::Trap(_)) {
                            break;
                        }
                    }
                    outcome
                }
            };
            match outcome {
                CallOutcome::Done => {}
                CallOutcome::GuestError(e) => {
                    self.metrics.failed();
                    tracing::warn!(module = %self.name, "call failed: {e}");
                }
                CallOutcome::Trap(fault) => {
                    let reason = exit_reason(fault);
                    if reason.is_failure() {
                        self.metrics.failed();
                    }
                    return self.ended_by(reason);
                }
            }
            self.forward(live).await;
        }
    }

    /// Counts a call into `live` that began at `started`: its time, the
    /// instance's memory after it, and what the supervisor still holds.
    fn counted(&self, live: &Instance, started: std::time::Instant) {
        self.metrics
            .call_took(started.elapsed(), live.memory_bytes(), live.memory_limit());
        self.metrics.set_held(self.waiting.len());
    }

    /// The merge patch (with `$version`) from what the module was told last
    /// to its desired twin now, if that is newer; remembered as told.
    fn desired_change(&mut self) -> Option<String> {
        let twin = self.twin.as_ref()?;
        let desired = twin.desired();
        if desired.version <= self.told.0 {
            return None;
        }
        let mut patch = diff(&self.told.1, &desired.properties);
        patch.insert(VERSION_KEY.to_string(), desired.version.into());
        self.told = (desired.version, desired.properties.clone());
        Some(serde_json::Value::Object(patch).to_string())
    }

    /// Passes what the last call (a timer's, a method's, a twin change's:
    /// none carries a receipt) sent to the router.
    async fn forward(&self, live: &mut Instance) {
        for (output, message) in live.take_outbox() {
            self.metrics.sent();
            let from = Producer::Module {
                module: self.name.clone(),
                output,
            };
            let envelope = Envelope::new(from, message, None);
            if self.router.send(envelope).await.is_err() {
                break;
            }
        }
    }

    /// Waits until `at`; false if the gateway stops first.
    async fn back_off(&mut self, at: Instant) -> bool {
        if *self.shutdown.borrow() {
            return false;
        }
        tokio::select! {
            biased;
            _ = self.shutdown.changed() => false,
            _ = tokio::time::sleep_until(at) => true,
        }
    }
}

/// Publishes that an instance ended now, for `reason`.
fn ended(state: &watch::Sender<ModuleState>, reason: ExitReason) {
    state.send_modify(|s| {
        s.last_exit = Some(SystemTime::now());
        s.exit_reason = Some(reason);
    });
}

/// Runs a module until it is stopped (`io.shutdown`), or until its restart
/// policy gives up on it, starting with `ready`, an instance already
/// initialised (a hot swap's new version), if given. Stopped, it hands back its
/// input queue with what is still waiting in it, so that a restarted module
/// carries on from there; given up on, it closes the queue (the router then
/// counts what it can no longer deliver) and returns `None`.
pub async fn run_from(
    spec: InstanceSpec,
    runtime: Arc<Runtime>,
    io: InstanceIo,
    ready: Option<Instance>,
) -> Option<mpsc::Receiver<Delivery>> {
    let mut ready = ready;
    let InstanceIo {
        inbox,
        control,
        router,
        metrics,
        state,
        shutdown,
        started,
    } = io;
    let mut task = Supervisor {
        name: spec.name.clone(),
        inbox,
        control,
        control_open: true,
        router,
        metrics,
        shutdown,
        twin: spec.twin.clone(),
        told: Default::default(),
        waiting: VecDeque::new(),
    };
    let name = spec.name.clone();
    let mut started = Some(started);
    let mut supervision = Supervision::new(spec.restart);
    let set_status = |status| state.send_modify(|s| s.status = status);
    let status = loop {
        set_status(ModuleStatus::Starting);
        let instance = match ready.take() {
            Some(instance) => Ok(instance),
            None => start(&spec, &runtime).await,
        };
        let reason = match instance {
            Ok(mut live) => {
                supervision.started(Instant::now());
                state.send_modify(|s| {
                    s.status = ModuleStatus::Running;
                    s.last_start = Some(SystemTime::now());
                    s.digest = Some(spec.component.digest().to_string());
                });
                if let Some(started) = started.take() {
                    let _ = started.send(Ok(()));
                }
                match task.serve(&mut live).await {
                    Served::Shutdown => {
                        ended(&state, ExitReason::Shutdown);
                        break ModuleStatus::Stopped;
                    }
                    Served::Ended(reason) => {
                        if !matches!(reason, ExitReason::Exit(_)) {
                            state.send_modify(|s| s.traps += 1);
                        }
                        reason
                    }
                }
            }
            Err(reason) => {
                tracing::error!(module = %name, "module {reason}");
                reason
            }
        };
        let failed = reason.is_failure();
        let said = reason.to_string();
        ended(&state, reason);
        let next = supervision.ended(Instant::now(), failed);
        set_status(match next {
            Next::Restart { .. } => ModuleStatus::Backoff,
            Next::Fail => ModuleStatus::Failed,
            Next::Stop => ModuleStatus::Stopped,
        });
        // Still here only if the first start failed; told once the status
        // shows what comes next.
        if let Some(started) = started.take() {
            let _ = started.send(Err(said));
        }
        match next {
            Next::Restart { at, delay } => {
                tracing::warn!(module = %name, "restarting in {delay:?}");
                if !task.back_off(at).await {
                    break ModuleStatus::Stopped;
                }
                task.metrics.restarted();
            }
            Next::Fail => {
                tracing::error!(module = %name, "restart policy `never`: the module stays failed");
                break ModuleStatus::Failed;
            }
            Next::Stop => break ModuleStatus::Stopped,
        }
    };
    task.refuse_waiting();
    if let Some(storage) = &spec.storage
        && let Err(e) = storage.flush()
    {
        tracing::error!(module = %name, "cannot flush the module's storage: {e}");
    }
    set_status(status);
    let stopped_by_gateway = *task.shutdown.borrow();
    stopped_by_gateway.then_some(task.inbox)
}
