//! [`Instance`]: one instantiated module, its store and its bindings, with a
//! method per export. Each call gets a fresh CPU budget, and its outcome tells an
//! ordinary error (a WIT `result`) apart from a [`Fault`] that ends the instance:
//! a trap, a CPU-deadline timeout, memory exhaustion or an exit.

use super::{Limits, ModuleState};
use crate::bindings::Module as ModuleBindings;
use crate::message::Message;
use std::fmt;
use tokio::time::Instant;
use wasmtime::Store;

/// The trap raised when a call runs past its CPU deadline.
#[derive(Debug, thiserror::Error)]
#[error("the call ran past its deadline of {0} epoch ticks")]
pub struct DeadlineExceeded(pub u64);

/// What ended an instance during a call. After one, the instance must not be
/// called again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A trap: the trap code or the root cause.
    Trap(String),
    /// The call ran past its CPU deadline (in milliseconds).
    Deadline {
        /// The deadline.
        deadline_ms: u128,
    },
    /// It trapped after a memory growth past its limit was refused.
    OutOfMemory {
        /// The limit.
        limit_bytes: usize,
        /// The trap that followed.
        trap: String,
    },
    /// The guest called WASI `exit` with this code.
    Exit(i32),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Trap(t) => write!(f, "{t}"),
            Fault::Deadline { deadline_ms } => {
                write!(f, "the call ran past its CPU deadline of {deadline_ms} ms")
            }
            Fault::OutOfMemory { limit_bytes, trap } => write!(
                f,
                "growing its memory past the limit of {} MiB was refused, then {trap}",
                limit_bytes / (1024 * 1024)
            ),
            Fault::Exit(code) => write!(f, "the module exited with code {code}"),
        }
    }
}

/// How a call into a module ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// It returned `ok`.
    Done,
    /// It returned an error; the module is fine and can take the next call.
    GuestError(String),
    /// It trapped, ran out of time or memory, or exited: the instance must not
    /// be called again.
    Trap(Fault),
}

/// How a direct method call into a module ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodCall {
    /// The module answered with this JSON.
    Answered(String),
    /// The module returned an error with a status.
    Failed {
        /// The status.
        status: u16,
        /// The module's message.
        message: String,
    },
    /// The call ended the instance.
    Trap(Fault),
}

/// Describes a trap for an operator: the trap code, or the root cause.
fn describe_trap(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return format!("trap: {trap}");
    }
    e.root_cause().to_string()
}

/// An instantiated module.
pub struct Instance {
    store: Store<ModuleState>,
    bindings: ModuleBindings,
    ticks: u64,
    limits: Limits,
}

impl Instance {
    pub(super) fn new(
        store: Store<ModuleState>,
        bindings: ModuleBindings,
        ticks: u64,
        limits: Limits,
    ) -> Self {
        Instance {
            store,
            bindings,
            ticks,
            limits,
        }
    }

    /// Gives the next call a fresh CPU budget, and forgets refused growths.
    fn arm_deadline(&mut self) {
        let state = self.store.data_mut();
        state.ticks_left = self.ticks;
        state.limiter.growth_refused = false;
        self.store.set_epoch_deadline(1);
    }

    /// Tells an ordinary error apart from each kind of fault.
    fn outcome(&self, result: Result<Result<(), String>, wasmtime::Error>) -> CallOutcome {
        match result {
            Ok(Ok(())) => CallOutcome::Done,
            Ok(Err(e)) => CallOutcome::GuestError(e),
            Err(e) => CallOutcome::Trap(self.fault(&e)),
        }
    }

    /// Which kind of fault ended a call.
    fn fault(&self, e: &wasmtime::Error) -> Fault {
        if e.downcast_ref::<DeadlineExceeded>().is_some() {
            Fault::Deadline {
                deadline_ms: self.limits.call_deadline.as_millis(),
            }
        } else if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Fault::Exit(exit.0)
        } else if self.store.data().limiter.growth_refused {
            Fault::OutOfMemory {
                limit_bytes: self.limits.memory_bytes,
                trap: describe_trap(e),
            }
        } else {
            Fault::Trap(describe_trap(e))
        }
    }

    /// Calls `init(config)`.
    pub async fn init(&mut self, config: &[(String, String)]) -> CallOutcome {
        self.arm_deadline();
        let r = self
            .bindings
            .ganglion_module_guest()
            .call_init(&mut self.store, config)
            .await;
        self.outcome(r)
    }

    /// Calls `on-message(input, msg)`.
    pub async fn on_message(&mut self, input: &str, msg: &Message) -> CallOutcome {
        self.arm_deadline();
        let r = self
            .bindings
            .ganglion_module_guest()
            .call_on_message(&mut self.store, input, msg)
            .await;
        self.outcome(r)
    }

    /// Calls `on-timer(id)`.
    pub async fn on_timer(&mut self, id: u32) -> CallOutcome {
        self.arm_deadline();
        let r = self
            .bindings
            .ganglion_module_guest()
            .call_on_timer(&mut self.store, id)
            .await;
        self.outcome(r)
    }

    /// Calls `on-twin-desired(patch)`.
    pub async fn on_twin_desired(&mut self, patch: &str) -> CallOutcome {
        self.arm_deadline();
        let r = self
            .bindings
            .ganglion_module_guest()
            .call_on_twin_desired(&mut self.store, patch)
            .await;
        self.outcome(r)
    }

    /// Calls `on-method(name, payload)`.
    pub async fn on_method(&mut self, name: &str, payload: &str) -> MethodCall {
        self.arm_deadline();
        let r = self
            .bindings
            .ganglion_module_guest()
            .call_on_method(&mut self.store, name, payload)
            .await;
        match r {
            Ok(Ok(answer)) => MethodCall::Answered(answer),
            Ok(Err(e)) => MethodCall::Failed {
                status: e.status,
                message: e.message,
            },
            Err(e) => MethodCall::Trap(self.fault(&e)),
        }
    }

    /// Takes what the module sent since the last take, with the outputs. After
    /// a trap, discard it.
    pub fn take_outbox(&mut self) -> Vec<(String, Message)> {
        std::mem::take(&mut self.store.data_mut().outbox)
    }

    /// The bytes of linear memory the instance has (what it started with and
    /// every growth granted since).
    pub fn memory_bytes(&self) -> usize {
        self.store.data().limiter.memory_bytes
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
