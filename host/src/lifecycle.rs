//! A module's lifecycle as its supervisor tells it: what the module is doing,
//! when its instance last started and ended, and why. The supervisor is the
//! only writer, on a `watch` channel the deployer makes at each start; the
//! deployer, owner of the set of modules, publishes the receivers as the
//! [`ModuleStates`] table, which the agent (status, direct methods), the
//! gateway (its snapshots) and a hot swap's probation read.

use serde::Serialize;
use std::fmt;
use std::time::SystemTime;
use tokio::sync::watch;

/// What a module instance is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleStatus {
    /// Being instantiated and initialised.
    #[default]
    Starting,
    /// Taking messages.
    Running,
    /// Waiting to be restarted after it ended; messages for it wait in its
    /// queue.
    Backoff,
    /// Stopped: the gateway shut it down, the manifest says `stopped`, or it
    /// exited cleanly and its restart policy does not restart it.
    Stopped,
    /// Failed, and its restart policy (`never`) does not restart it.
    Failed,
}

/// Why a module instance ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum ExitReason {
    /// It trapped: a panic in the guest, or an invalid operation.
    Trap(String),
    /// A call ran past its CPU deadline.
    Deadline(String),
    /// It trapped after growing its memory past its limit was refused.
    OutOfMemory(String),
    /// It could not be instantiated, or its `init` returned an error.
    InitFailed(String),
    /// It exited (WASI `exit`) with this code.
    Exit(i32),
    /// The gateway stopped it.
    Shutdown,
}

impl ExitReason {
    /// Whether it counts as a failure for the restart policy: everything but an
    /// exit with code 0 and a shutdown.
    pub fn is_failure(&self) -> bool {
        !matches!(self, ExitReason::Exit(0) | ExitReason::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Trap(d) => write!(f, "trapped: {d}"),
            ExitReason::Deadline(d) => write!(f, "ran past its CPU deadline: {d}"),
            ExitReason::OutOfMemory(d) => write!(f, "ran out of memory: {d}"),
            ExitReason::InitFailed(d) => write!(f, "failed to start: {d}"),
            ExitReason::Exit(code) => write!(f, "exited with code {code}"),
            ExitReason::Shutdown => write!(f, "stopped by the gateway"),
        }
    }
}

/// A module's lifecycle, as its supervisor last published it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleState {
    /// What it is doing.
    pub status: ModuleStatus,
    /// The content address of the component its last instance ran.
    pub digest: Option<String>,
    /// When an instance last started (its `init` succeeded).
    pub last_start: Option<SystemTime>,
    /// When an instance last ended or failed to start.
    pub last_exit: Option<SystemTime>,
    /// Why it ended.
    pub exit_reason: Option<ExitReason>,
    /// How many instances of this supervisor ended in a trap (a CPU deadline
    /// and memory exhaustion included; a WASI `exit` is not a trap).
    pub traps: u64,
}

impl ModuleState {
    /// The state of a module the manifest says is `stopped`, which has no
    /// supervisor.
    pub fn stopped() -> ModuleState {
        ModuleState {
            status: ModuleStatus::Stopped,
            ..ModuleState::default()
        }
    }
}

/// Every module of the deployment with the receiver of its state, in
/// manifest order.
pub type ModuleStates = Vec<(String, watch::Receiver<ModuleState>)>;

/// The state of module `name` in `states`, now.
pub fn state_of(states: &ModuleStates, name: &str) -> Option<ModuleState> {
    states
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, state)| state.borrow().clone())
}

/// A receiver that reads `state` for ever (its sender is gone): for a module
/// with no supervisor.
pub fn fixed(state: ModuleState) -> watch::Receiver<ModuleState> {
    watch::channel(state).1
}
