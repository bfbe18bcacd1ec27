//! Hot swap: a module's new version is instantiated and initialised while
//! the old one keeps serving; only then is the old one stopped (after the
//! call it is in) and its input queue, with everything waiting in it, handed
//! to the new one. Nothing is lost or delivered twice, and the module's
//! storage and twin carry over.
//!
//! A new version whose `init` fails is never switched to: the old one keeps
//! running. One that traps more than [`PROBATION_TRAPS`] times within
//! [`PROBATION`] of the swap is swapped back to the previous version, and the
//! status says so.

use super::{
    DeployError, DeployRequest, Deployer, DeploymentSnapshot, Module, ROLLED_BACK, requeue, stop,
};
use crate::manifest::ModuleSpec;
use crate::metrics::ModuleMetrics;
use crate::runtime::LoadedComponent;
use crate::supervisor;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a swapped-in version is on probation.
pub const PROBATION: Duration = Duration::from_secs(60);
/// More traps than this during the probation roll the swap back.
pub const PROBATION_TRAPS: u64 = 3;
/// How often the probation looks at the trap count.
const PROBATION_CHECK: Duration = Duration::from_millis(100);

/// A swapped-in version on probation, and what to go back to.
pub(super) struct Probation {
    swap: u64,
    previous: ModuleSpec,
    component: LoadedComponent,
    watcher: JoinHandle<()>,
}

impl Drop for Probation {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// How a swap went.
pub(super) enum Swapped {
    /// The new version serves.
    Done,
    /// The new version did not start; the old one keeps serving.
    Kept(String),
}

/// Watches `metrics` for traps after swap `swap`, and asks for a rollback if
/// there are too many.
async fn watch(metrics: Arc<ModuleMetrics>, swap: u64, requests: mpsc::Sender<DeployRequest>) {
    let before = metrics.traps();
    let until = Instant::now() + PROBATION;
    while Instant::now() < until {
        tokio::time::sleep(PROBATION_CHECK).await;
        if metrics.traps().saturating_sub(before) > PROBATION_TRAPS {
            let _ = requests
                .send(DeployRequest::Rollback {
                    module: metrics.name.clone(),
                    swap,
                })
                .await;
            return;
        }
    }
}

impl Deployer {
    /// Swaps `module` (which runs) to `spec`. With `probation`, the new
    /// version is watched and rolled back if it keeps trapping.
    pub(super) async fn swap(
        &mut self,
        module: &mut Module,
        spec: &ModuleSpec,
        component: LoadedComponent,
        probation: bool,
    ) -> Result<Swapped, DeployError> {
        let instance = self.instance_spec(spec, component.clone(), module)?;
        let ready = match supervisor::start(&instance, &self.io.runtime).await {
            Ok(ready) => ready,
            Err(reason) => return Ok(Swapped::Kept(format!("its new version {reason}"))),
        };
        let previous = (module.spec.clone(), module.component.take());
        // The old instance finishes the call it is in; what waits stays queued.
        let waiting = stop(module).await;
        let (tx, rx) = requeue(waiting, spec.queue_length, module);
        module.inbox = tx;
        module.spec = spec.clone();
        module.component = Some(component);
        let (running, _) = self.spawn(instance, module, rx, Some(ready));
        module.running = Some(running);
        module.probation = None;
        if let (true, (previous, Some(old_component))) = (probation, previous) {
            self.swaps += 1;
            let watcher = tokio::spawn(watch(
                module.metrics.clone(),
                self.swaps,
                self.io.requests.clone(),
            ));
            module.probation = Some(Probation {
                swap: self.swaps,
                previous,
                component: old_component,
                watcher,
            });
        }
        Ok(Swapped::Done)
    }

    /// Swaps module `name` back to its previous version, if swap `swap` is
    /// still the latest, and reports it.
    pub(super) async fn roll_back(&mut self, name: &str, swap: u64) {
        let Some(i) = self.position(name) else { return };
        let mut module = self.modules.remove(i).1;
        let probation = match module.probation.take() {
            Some(p) if p.swap == swap => p,
            other => {
                module.probation = other;
                self.modules.insert(i, (name.to_string(), module));
                return;
            }
        };
        let why = format!(
            "rolled module `{name}` back to its previous version: the new one trapped more than {PROBATION_TRAPS} times within {} s of the swap",
            PROBATION.as_secs()
        );
        let outcome = self
            .swap(
                &mut module,
                &probation.previous.clone(),
                probation.component.clone(),
                false,
            )
            .await;
        let description = match outcome {
            Ok(Swapped::Done) => why,
            Ok(Swapped::Kept(e)) => {
                format!("{why}, but that failed ({e}); the new one keeps running")
            }
            Err(e) => format!("{why}, but that failed ({e}); the new one keeps running"),
        };
        self.modules.insert(i, (name.to_string(), module));
        self.publish_modules().await;
        tracing::error!(module = name, "{description}");
        let version = self.io.outcome.borrow().as_ref().map_or(0, |d| d.version);
        self.io.outcome.send_replace(Some(DeploymentSnapshot {
            version,
            code: ROLLED_BACK,
            description,
        }));
    }
}
