//! [`Instance`]: one instantiated module, its store and its bindings, with a
//! method per export. Each call gets a fresh CPU budget, and its outcome tells an
//! ordinary error (a WIT `result`) apart from a trap.

use super::ModuleState;
use super::bindings::Module as ModuleBindings;
use crate::message::Message;
use tokio::time::Instant;
use wasmtime::Store;

/// The trap raised when a call runs past its CPU deadline.
#[derive(Debug, thiserror::Error)]
#[error("the call ran past its deadline of {0} epoch ticks")]
pub struct DeadlineExceeded(pub u64);

/// How a call into a module ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// It returned `ok`.
    Done,
    /// It returned an error; the module is fine and can take the next call.
    GuestError(String),
    /// It trapped (or ran out of time); the instance must not be called again.
    Trap(String),
}

/// Describes a trap for an operator: the deadline, the trap code, or the root
/// cause.
fn describe_trap(e: &wasmtime::Error) -> String {
    if let Some(d) = e.downcast_ref::<DeadlineExceeded>() {
        return d.to_string();
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return format!("trap: {trap}");
    }
    e.root_cause().to_string()
}

fn outcome(result: Result<Result<(), String>, wasmtime::Error>) -> CallOutcome {
    match result {
        Ok(Ok(())) => CallOutcome::Done,
        Ok(Err(e)) => CallOutcome::GuestError(e),
        Err(e) => CallOutcome::Trap(describe_trap(&e)),
    }
}

/// An instantiated module.
pub struct Instance {
    store: Store<ModuleState>,
    bindings: ModuleBindings,
    ticks: u64,
}

impl Instance {
    pub(super) fn new(store: Store<ModuleState>, bindings: ModuleBindings, ticks: u64) -> Self {
        Instance {
            store,
            bindings,
            ticks,
        }
    }

    /// Gives the next call a fresh CPU budget.
    fn arm_deadline(&mut self) {
        self.store.data_mut().ticks_left = self.ticks;
        self.store.set_epoch_deadline(1);
    }

    /// Calls `init(config)`.
    pub async fn init(&mut self, config: &[(String, String)]) -> CallOutcome {
        self.arm_deadline();
        let r = self
            .bindings
            .ganglion_module_guest()
            .call_init(&mut self.store, config)
            .await;
        outcome(r)
    }

    /// Calls `on-message(input, msg)`.
    pub async fn on_message(&mut self, input: &str, msg: &Message) -> CallOutcome {
        self.arm_deadline();
        let r = self
            .bindings
            .ganglion_module_guest()
            .call_on_message(&mut self.store, input, msg)
            .await;
        outcome(r)
    }

    /// Calls `on-timer(id)`.
    pub async fn on_timer(&mut self, id: u32) -> CallOutcome {
        self.arm_deadline();
        let r = self
            .bindings
            .ganglion_module_guest()
            .call_on_timer(&mut self.store, id)
            .await;
        outcome(r)
    }

    /// Takes what the module sent since the last take, with the outputs. After
    /// a trap, discard it.
    pub fn take_outbox(&mut self) -> Vec<(String, Message)> {
        std::mem::take(&mut self.store.data_mut().outbox)
    }

    /// When the module's earliest timer is due.
    pub fn next_timer(&self) -> Option<Instant> {
        self.store.data().timers.next_due()
    }

    /// Takes the ids of the timers due at `now`, rescheduling repeating ones.
    pub fn take_due_timers(&mut self, now: Instant) -> Vec<u32> {
        self.store.data_mut().timers.take_due(now)
    }
}
