//! The supervisor of one module: a task that owns the module's wasmtime `Store`, reads its
//! bounded input queue, fires its timers, calls the guest, and passes what the
//! guest sent to the router.
//!
//! A call that returns an error counts as failed and the module carries on. A
//! call that traps (including running past its CPU deadline or out of memory)
//! counts as failed, discards what that call sent, and the instance is made
//! afresh and initialised again. If that fails, the module is marked failed and
//! its queue closes, so the router counts what it can no longer deliver.

use crate::metrics::{ModuleMetrics, ModuleStatus};
use crate::router::{Delivery, Envelope, Producer};
use crate::runtime::storage::ModuleStorage;
use crate::runtime::{CallOutcome, Instance, Limits, LoadedComponent, Runtime};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// The default length of a module's input queue.
pub const INPUT_QUEUE: usize = 256;

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
    /// The module's key-value namespace, shared by every instance of it.
    pub storage: Option<ModuleStorage>,
}

/// The channels an instance task works with.
pub struct InstanceIo {
    /// Its input queue.
    pub inbox: mpsc::Receiver<Delivery>,
    /// The router's queue.
    pub router: mpsc::Sender<Envelope>,
    /// Its counters.
    pub metrics: Arc<ModuleMetrics>,
    /// Turns true when the gateway stops.
    pub shutdown: watch::Receiver<bool>,
    /// Told once whether the first `init` succeeded.
    pub started: oneshot::Sender<Result<(), String>>,
}

/// Instantiates the module and runs `init`.
async fn start(spec: &InstanceSpec, runtime: &Runtime) -> Result<Instance, String> {
    let mut instance = runtime
        .instantiate(
            spec.name.clone(),
            &spec.component,
            spec.limits,
            spec.storage.clone(),
        )
        .await
        .map_err(|e| format!("instantiation failed: {}", e.root_cause()))?;
    match instance.init(&spec.config).await {
        CallOutcome::Done => Ok(instance),
        CallOutcome::GuestError(e) => Err(format!("init returned an error: {e}")),
        CallOutcome::Trap(e) => Err(format!("init trapped: {e}")),
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Runs a module instance until shutdown, or until it fails for good.
pub async fn run(spec: InstanceSpec, runtime: Arc<Runtime>, io: InstanceIo) {
    let InstanceIo {
        mut inbox,
        router,
        metrics,
        mut shutdown,
        started,
    } = io;
    let name = spec.name.clone();
    let mut live = match start(&spec, &runtime).await {
        Ok(live) => {
            metrics.set_status(ModuleStatus::Running);
            let _ = started.send(Ok(()));
            live
        }
        Err(e) => {
            tracing::error!(module = %name, "module failed to start: {e}");
            metrics.set_status(ModuleStatus::Failed);
            let _ = started.send(Err(e));
            return;
        }
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        let due = live.next_timer();
        let outcome = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            delivery = inbox.recv() => {
                let Some(delivery) = delivery else { break };
                metrics.received();
                live.on_message(&delivery.input, &delivery.message).await
            }
            _ = sleep_until(due) => {
                let ids = live.take_due_timers(Instant::now());
                let mut outcome = CallOutcome::Done;
                for id in ids {
                    metrics.timer_call();
                    outcome = live.on_timer(id).await;
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
                metrics.failed();
                tracing::warn!(module = %name, "call failed: {e}");
            }
            CallOutcome::Trap(e) => {
                metrics.failed();
                metrics.trapped();
                tracing::error!(module = %name, "module trapped: {e}; discarding what the call sent and restarting it");
                match start(&spec, &runtime).await {
                    Ok(fresh) => {
                        metrics.restarted();
                        live = fresh;
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(module = %name, "module failed to restart: {e}");
                        metrics.set_status(ModuleStatus::Failed);
                        return;
                    }
                }
            }
        }
        for (output, message) in live.take_outbox() {
            metrics.sent();
            let envelope = Envelope {
                from: Producer::Module {
                    module: name.clone(),
                    output,
                },
                message,
                receipt: None,
            };
            if router.send(envelope).await.is_err() {
                break;
            }
        }
    }
    if let Some(storage) = &spec.storage
        && let Err(e) = storage.flush()
    {
        tracing::error!(module = %name, "cannot flush the module's storage: {e}");
    }
    metrics.set_status(ModuleStatus::Stopped);
}
