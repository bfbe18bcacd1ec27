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
use crate::lifecycle::ModuleState;
use crate::manifest::ModuleSpec;
use crate::runtime::LoadedComponent;
use crate::supervisor;
use std::time::Duration;
use tokio::sync::{mpsc, watch as signal};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a swapped-in version is on probation.
pub const PROBATION: Duration = Duration::from_secs(60);
/// More traps than this during the probation roll the swap back.
pub const PROBATION_TRAPS: u64 = 3;

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

/// Watches the new version's lifecycle (`state`, from its supervisor) after
/// swap `swap` of module `name`, and asks for a rollback if it traps more than
/// [`PROBATION_TRAPS`] times within [`PROBATION`].
async fn watch(
    mut state: signal::Receiver<ModuleState>,
    name: String,
    swap: u64,
    requests: mpsc::Sender<DeployRequest>,
) {
    let until = Instant::now() + PROBATION;
    loop {
        if state.borrow_and_update().traps > PROBATION_TRAPS {
            let _ = requests
                .send(DeployRequest::Rollback { module: name, swap })
                .await;
            return;
        }
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(until) => return,
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
        let state = running.state.clone();
        module.running = Some(running);
        module.probation = None;
        if let (true, (previous, Some(old_component))) = (probation, previous) {
            self.swaps += 1;
            let watcher = tokio::spawn(watch(
                state,
                spec.name.clone(),
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
