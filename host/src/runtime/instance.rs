//! [`Instance`]: one instantiated module, its store and its bindings, with a
//! method per export. Each call gets a fresh CPU budget, and its outcome tells an
//! ordinary error (a WIT `result`) apart from a [`Fault`] that ends the instance:
//! a trap, a CPU-deadline timeout, memory exhaustion or an exit.

use super::state::BatchCursor;
use super::world::WorldBindings;
use super::{Limits, ModuleState};
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

/// What an instance did with a batch of messages for one input.
#[derive(Debug, Default)]
pub struct Batch {
    /// What it sent, each with the index in the batch of the message it is
    /// for, and the output it leaves by.
    pub sent: Vec<(u32, String, Message)>,
    /// The messages it failed on (an ordinary error), with why.
    pub failed: Vec<(u32, String)>,
    /// How many messages it went through: the batch's length, unless a fault
    /// ended it; then the message at `done` is the one at fault, and those
    /// after it were not handled.
    pub done: usize,
    /// The fault that ended the instance, if one did. What was sent for the
    /// message at fault is not in `sent`.
    pub fault: Option<Fault>,
}

/// An instantiated module.
pub struct Instance {
    store: Store<ModuleState>,
    bindings: WorldBindings,
    ticks: u64,
    limits: Limits,
}

/// Calls export `$call` of whichever version `$bindings` is, with the store
/// and `$args`.
macro_rules! call_guest {
    ($self:ident, $call:ident ( $($arg:expr),* )) => {
        match &$self.bindings {
            WorldBindings::V0_1(b) => b
                .ganglion_module0_1_0_guest()
                .$call(&mut $self.store, $($arg),*)
                .await,
            WorldBindings::V0_2(b) => b
                .ganglion_module0_2_0_guest()
                .$call(&mut $self.store, $($arg),*)
                .await,
        }
    };
}

impl Instance {
    pub(super) fn new(
        store: Store<ModuleState>,
        bindings: WorldBindings,
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
        state.call_ms = None;
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

    /// The version of the module world the instance's component targets.
    pub fn world_version(&self) -> &'static str {
        self.bindings.version()
    }

    /// Calls `init(config)`.
    pub async fn init(&mut self, config: &[(String, String)]) -> CallOutcome {
        self.arm_deadline();
        let r = call_guest!(self, call_init(config));
        self.outcome(r)
    }

    /// Hands `messages` (for input `input`, in order) to the module: in one
    /// call of `on-messages` (0.2.0), or one call of `on-message` each
    /// (0.1.0, stopping at a fault). The outbox is left empty either way.
    pub async fn on_messages(&mut self, input: &str, messages: &[Message]) -> Batch {
        match &self.bindings {
            WorldBindings::V0_1(_) => self.one_by_one(input, messages).await,
            WorldBindings::V0_2(_) => self.batched(input, messages).await,
        }
    }

    /// 0.1.0: one `on-message` call per message.
    async fn one_by_one(&mut self, input: &str, messages: &[Message]) -> Batch {
        let mut batch = Batch::default();
        for (i, msg) in messages.iter().enumerate() {
            self.arm_deadline();
            let WorldBindings::V0_1(b) = &self.bindings else {
                break;
            };
            let r = b
                .ganglion_module0_1_0_guest()
                .call_on_message(&mut self.store, input, msg)
                .await;
            let sent = self.take_outbox();
            let index = i as u32;
            match self.outcome(r) {
                CallOutcome::Done => {}
                CallOutcome::GuestError(e) => batch.failed.push((index, e)),
                CallOutcome::Trap(fault) => {
                    batch.fault = Some(fault);
                    return batch;
                }
            }
            batch
                .sent
                .extend(sent.into_iter().map(|(output, m)| (index, output, m)));
            batch.done = i + 1;
        }
        batch
    }

    /// 0.2.0: one `on-messages` call for the batch; the module names each
    /// message it handles (`batch.handling`), which says what its sends are
    /// for and which message a trap is the fault of.
    async fn batched(&mut self, input: &str, messages: &[Message]) -> Batch {
        self.arm_deadline();
        // Each message the module names gets the budget of one call afresh
        // (`batch.handling`).
        self.store.data_mut().batch = Some(BatchCursor {
            len: messages.len() as u32,
            budget: self.ticks,
            ..BatchCursor::default()
        });
        let WorldBindings::V0_2(b) = &self.bindings else {
            return Batch::default();
        };
        let r = b
            .ganglion_module0_2_0_guest()
            .call_on_messages(&mut self.store, input, messages)
            .await;
        let cursor = self.store.data_mut().batch.take().unwrap_or_default();
        let mut sent = self.take_outbox();
        let (culprit, start) = (cursor.current().unwrap_or(0), cursor.start());
        let BatchCursor { marks, failed, .. } = cursor;
        let mut batch = Batch {
            failed,
            ..Batch::default()
        };
        match r {
            Ok(()) => batch.done = messages.len(),
            Err(e) => {
                // The message named last is at fault (the first, if none
                // was named): what was sent for it goes; what was sent
                // before stands.
                batch.done = culprit as usize;
                // The trap is the failure of the message at fault.
                let done = batch.done;
                batch.failed.retain(|(i, _)| (*i as usize) < done);
                sent.truncate(start);
                batch.fault = Some(self.fault(&e));
            }
        }
        batch.sent = attribute(sent, &marks);
        batch
    }

    /// Calls `on-timer(id)`.
    pub async fn on_timer(&mut self, id: u32) -> CallOutcome {
        self.arm_deadline();
        let r = call_guest!(self, call_on_timer(id));
        self.outcome(r)
    }

    /// Calls `on-twin-desired(patch)`.
    pub async fn on_twin_desired(&mut self, patch: &str) -> CallOutcome {
        self.arm_deadline();
        let r = call_guest!(self, call_on_twin_desired(patch));
        self.outcome(r)
    }

    /// Calls `on-method(name, payload)`.
    pub async fn on_method(&mut self, name: &str, payload: &str) -> MethodCall {
        self.arm_deadline();
        let r = match &self.bindings {
            WorldBindings::V0_1(b) => b
                .ganglion_module0_1_0_guest()
                .call_on_method(&mut self.store, name, payload)
                .await
                .map(|r| r.map_err(|e| (e.status, e.message))),
            WorldBindings::V0_2(b) => b
                .ganglion_module0_2_0_guest()
                .call_on_method(&mut self.store, name, payload)
                .await
                .map(|r| r.map_err(|e| (e.status, e.message))),
        };
        match r {
            Ok(Ok(answer)) => MethodCall::Answered(answer),
            Ok(Err((status, message))) => MethodCall::Failed { status, message },
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

    /// The most linear memory the instance may have.
    pub fn memory_limit(&self) -> usize {
        self.limits.memory_bytes
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

/// Each of `sent` with the index of the message it was sent for: the last
/// mark at or before it (message 0 before the first mark).
fn attribute(sent: Vec<(String, Message)>, marks: &[(u32, usize)]) -> Vec<(u32, String, Message)> {
    let mut mark = 0;
    let mut index = 0;
    sent.into_iter()
        .enumerate()
        .map(|(at, (output, msg))| {
            while mark < marks.len() && marks[mark].1 <= at {
                index = marks[mark].0;
                mark += 1;
            }
            (index, output, msg)
        })
        .collect()
}
