//! Counters for routes, modules and `$upstream`. Each counter is written by one
//! owner (the router, an instance task, the upstream task) and read by anyone as
//! a [`MetricsSnapshot`]. A module's lifecycle (status, restarts, last start and
//! exit, and why it exited) is written by its supervisor.

use serde::Serialize;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// What a module instance is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleStatus {
    /// Being instantiated and initialised.
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

impl ModuleStatus {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ModuleStatus::Starting,
            1 => ModuleStatus::Running,
            2 => ModuleStatus::Stopped,
            3 => ModuleStatus::Backoff,
            _ => ModuleStatus::Failed,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            ModuleStatus::Starting => 0,
            ModuleStatus::Running => 1,
            ModuleStatus::Stopped => 2,
            ModuleStatus::Backoff => 3,
            ModuleStatus::Failed => 4,
        }
    }
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

/// When a module's instance last started and ended, and why it ended.
#[derive(Debug, Default, Clone)]
struct Lifecycle {
    digest: Option<String>,
    last_start: Option<SystemTime>,
    last_exit: Option<SystemTime>,
    exit_reason: Option<ExitReason>,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn read(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// The counters of one module.
#[derive(Debug)]
pub struct ModuleMetrics {
    /// The module's name.
    pub name: String,
    status: AtomicU8,
    received: AtomicU64,
    failed: AtomicU64,
    sent: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_not_running: AtomicU64,
    traps: AtomicU64,
    restarts: AtomicU64,
    timer_calls: AtomicU64,
    lifecycle: Mutex<Lifecycle>,
}

impl ModuleMetrics {
    /// Zeroed counters for module `name`.
    pub fn new(name: &str) -> Self {
        ModuleMetrics {
            name: name.to_string(),
            status: AtomicU8::new(ModuleStatus::Starting.as_u8()),
            received: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_not_running: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            timer_calls: AtomicU64::new(0),
            lifecycle: Mutex::new(Lifecycle::default()),
        }
    }

    pub(crate) fn set_status(&self, status: ModuleStatus) {
        self.status.store(status.as_u8(), Ordering::Relaxed);
    }
    pub(crate) fn received(&self) {
        bump(&self.received);
    }
    pub(crate) fn failed(&self) {
        bump(&self.failed);
    }
    pub(crate) fn sent(&self) {
        bump(&self.sent);
    }
    pub(crate) fn dropped_queue_full(&self) {
        bump(&self.dropped_queue_full);
    }
    pub(crate) fn dropped_not_running(&self) {
        bump(&self.dropped_not_running);
    }
    /// How many times its instances trapped (including deadlines and memory
    /// exhaustion).
    pub fn traps(&self) -> u64 {
        read(&self.traps)
    }

    pub(crate) fn trapped(&self) {
        bump(&self.traps);
    }
    pub(crate) fn restarted(&self) {
        bump(&self.restarts);
    }
    pub(crate) fn timer_call(&self) {
        bump(&self.timer_calls);
    }
    fn lifecycle(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        // The guarded data is plain values, valid even if a writer panicked.
        self.lifecycle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    pub(crate) fn instance_started(&self, at: SystemTime, digest: &str) {
        let mut lifecycle = self.lifecycle();
        lifecycle.last_start = Some(at);
        if lifecycle.digest.as_deref() != Some(digest) {
            lifecycle.digest = Some(digest.to_string());
        }
    }
    pub(crate) fn instance_ended(&self, at: SystemTime, reason: ExitReason) {
        let mut lifecycle = self.lifecycle();
        lifecycle.last_exit = Some(at);
        lifecycle.exit_reason = Some(reason);
    }

    /// The module's current status.
    pub fn status(&self) -> ModuleStatus {
        ModuleStatus::from_u8(self.status.load(Ordering::Relaxed))
    }

    fn snapshot(&self) -> ModuleSnapshot {
        let lifecycle = self.lifecycle().clone();
        ModuleSnapshot {
            name: self.name.clone(),
            status: self.status(),
            received: read(&self.received),
            failed: read(&self.failed),
            sent: read(&self.sent),
            dropped_queue_full: read(&self.dropped_queue_full),
            dropped_not_running: read(&self.dropped_not_running),
            traps: read(&self.traps),
            restarts: read(&self.restarts),
            timer_calls: read(&self.timer_calls),
            digest: lifecycle.digest,
            last_start: lifecycle.last_start,
            last_exit: lifecycle.last_exit,
            exit_reason: lifecycle.exit_reason,
        }
    }
}

/// The counters of one route.
#[derive(Debug)]
pub struct RouteMetrics {
    /// The route's name.
    pub name: String,
    matched: AtomicU64,
}

impl RouteMetrics {
    /// Zeroed counters for route `name`.
    pub fn new(name: &str) -> Self {
        RouteMetrics {
            name: name.to_string(),
            matched: AtomicU64::new(0),
        }
    }

    pub(crate) fn matched(&self) {
        bump(&self.matched);
    }
}

/// All the gateway's counters.
#[derive(Debug)]
pub struct Metrics {
    /// Per module, in manifest order; replaced when a deployment changes the
    /// modules.
    modules: RwLock<Vec<Arc<ModuleMetrics>>>,
    /// Per route, in manifest order; replaced with the routes.
    routes: RwLock<Vec<Arc<RouteMetrics>>>,
    upstream: AtomicU64,
    unrouted: AtomicU64,
    /// The `$upstream` queue's counters.
    pub queue: QueueMetrics,
    /// The leaf ingest session's counters.
    pub ingest: IngestMetrics,
}

/// The counters of the durable `$upstream` queue, written by its owner.
#[derive(Debug, Default)]
pub struct QueueMetrics {
    depth: AtomicU64,
    bytes: AtomicU64,
    refused: AtomicU64,
    dropped_oldest: AtomicU64,
    expired: AtomicU64,
    store_errors: AtomicU64,
    delivered: AtomicU64,
    broker_refused: AtomicU64,
    connected: AtomicU8,
    link_error: Mutex<Option<String>>,
}

impl QueueMetrics {
    pub(crate) fn delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn broker_refused(&self) {
        bump(&self.broker_refused);
    }
    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(u8::from(up), Ordering::Relaxed);
        if up {
            *self.link_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
    pub(crate) fn set_link_error(&self, reason: &str) {
        *self.link_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
    }
    pub(crate) fn set_size(&self, depth: u64, bytes: u64) {
        self.depth.store(depth, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }
    pub(crate) fn refused(&self, n: u64) {
        self.refused.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn dropped_oldest(&self, n: u64) {
        self.dropped_oldest.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn expired(&self, n: u64) {
        self.expired.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn store_error(&self) {
        bump(&self.store_errors);
    }

    fn snapshot(&self) -> QueueSnapshot {
        QueueSnapshot {
            depth: read(&self.depth),
            bytes: read(&self.bytes),
            refused: read(&self.refused),
            dropped_oldest: read(&self.dropped_oldest),
            expired: read(&self.expired),
            store_errors: read(&self.store_errors),
            delivered: read(&self.delivered),
            broker_refused: read(&self.broker_refused),
            connected: self.connected.load(Ordering::Relaxed) == 1,
            link_error: self
                .link_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// The counters of the leaf ingest session, written by its task.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    active: AtomicBool,
    pending: AtomicU64,
    peak_pending: AtomicU64,
    read_pauses: AtomicU64,
}

impl IngestMetrics {
    pub(crate) fn started(&self) {
        self.active.store(true, Ordering::Relaxed);
    }
    pub(crate) fn set_pending(&self, n: usize) {
        let n = n as u64;
        self.pending.store(n, Ordering::Relaxed);
        self.peak_pending.fetch_max(n, Ordering::Relaxed);
    }
    pub(crate) fn read_paused(&self) {
        bump(&self.read_pauses);
    }

    fn snapshot(&self) -> IngestSnapshot {
        IngestSnapshot {
            active: self.active.load(Ordering::Relaxed),
            pending: read(&self.pending),
            peak_pending: read(&self.peak_pending),
            read_pauses: read(&self.read_pauses),
        }
    }
}

/// The leaf ingest session at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestSnapshot {
    /// Whether the manifest has an ingest session (the counters stay zero
    /// without one).
    pub active: bool,
    /// Leaf messages received and not yet acknowledged to the local broker.
    pub pending: u64,
    /// The most that were ever pending at once.
    pub peak_pending: u64,
    /// How many times ingest stopped reading from the local broker because
    /// too many messages were pending.
    pub read_pauses: u64,
}

/// The `$upstream` queue at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSnapshot {
    /// Messages waiting.
    pub depth: u64,
    /// Bytes their records take.
    pub bytes: u64,
    /// Messages refused because the quota was full (policy `reject`).
    pub refused: u64,
    /// Messages dropped to make room (policy `drop-oldest`).
    pub dropped_oldest: u64,
    /// Messages that expired unsent.
    pub expired: u64,
    /// Failed writes to the store (the messages were not accepted).
    pub store_errors: u64,
    /// Messages the cloud broker acknowledged (and that left the queue).
    pub delivered: u64,
    /// Messages the cloud broker refused (they stay queued).
    pub broker_refused: u64,
    /// Whether the cloud connection is up.
    pub connected: bool,
    /// Why the last attempt to reach the cloud broker failed, while it is
    /// not connected.
    pub link_error: Option<String>,
}

impl Metrics {
    /// Zeroed counters for these modules and routes.
    pub fn new<'a>(
        modules: impl IntoIterator<Item = &'a str>,
        routes: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Metrics {
            modules: RwLock::new(
                modules
                    .into_iter()
                    .map(|m| Arc::new(ModuleMetrics::new(m)))
                    .collect(),
            ),
            routes: RwLock::new(
                routes
                    .into_iter()
                    .map(|r| Arc::new(RouteMetrics::new(r)))
                    .collect(),
            ),
            upstream: AtomicU64::new(0),
            unrouted: AtomicU64::new(0),
            queue: QueueMetrics::default(),
            ingest: IngestMetrics::default(),
        }
    }

    pub(crate) fn upstream_accepted(&self, n: u64) {
        self.upstream.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn unrouted(&self) {
        bump(&self.unrouted);
    }

    /// The counters of every module, in manifest order.
    pub fn modules(&self) -> Vec<Arc<ModuleMetrics>> {
        self.modules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The counters of every route, in manifest order.
    pub fn routes(&self) -> Vec<Arc<RouteMetrics>> {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The counters of module `name`.
    pub fn module(&self, name: &str) -> Option<Arc<ModuleMetrics>> {
        self.modules().into_iter().find(|m| m.name == name)
    }

    /// Replaces the module counters (a deployment changed the modules; those
    /// that stay keep theirs).
    pub(crate) fn set_modules(&self, modules: Vec<Arc<ModuleMetrics>>) {
        *self.modules.write().unwrap_or_else(|p| p.into_inner()) = modules;
    }

    /// Replaces the route counters.
    pub(crate) fn set_routes(&self, routes: Vec<Arc<RouteMetrics>>) {
        *self.routes.write().unwrap_or_else(|p| p.into_inner()) = routes;
    }

    /// A copy of every counter, now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            modules: self.modules().iter().map(|m| m.snapshot()).collect(),
            routes: self
                .routes()
                .iter()
                .map(|r| RouteSnapshot {
                    name: r.name.clone(),
                    matched: read(&r.matched),
                })
                .collect(),
            upstream: read(&self.upstream),
            unrouted: read(&self.unrouted),
            queue: self.queue.snapshot(),
            ingest: self.ingest.snapshot(),
        }
    }
}

/// A module's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleSnapshot {
    /// The module's name.
    pub name: String,
    /// What it is doing.
    pub status: ModuleStatus,
    /// Messages delivered to it.
    pub received: u64,
    /// Calls that returned an error, trapped, or exited with a nonzero code.
    pub failed: u64,
    /// Messages it sent.
    pub sent: u64,
    /// Messages for it dropped because its input queue was full.
    pub dropped_queue_full: u64,
    /// Messages for it dropped because it was not running.
    pub dropped_not_running: u64,
    /// Calls that trapped (including CPU-deadline timeouts and memory
    /// exhaustion).
    pub traps: u64,
    /// Instances made after the first, whether or not their `init` succeeded.
    pub restarts: u64,
    /// Timer calls.
    pub timer_calls: u64,
    /// The content address of the component its last instance ran.
    pub digest: Option<String>,
    /// When an instance last started (its `init` succeeded).
    pub last_start: Option<SystemTime>,
    /// When an instance last ended or failed to start.
    pub last_exit: Option<SystemTime>,
    /// Why it ended.
    pub exit_reason: Option<ExitReason>,
}

/// A route's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSnapshot {
    /// The route's name.
    pub name: String,
    /// Messages that took the route.
    pub matched: u64,
}

/// Every counter at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Per module.
    pub modules: Vec<ModuleSnapshot>,
    /// Per route.
    pub routes: Vec<RouteSnapshot>,
    /// Messages accepted (durably queued) by `$upstream`.
    pub upstream: u64,
    /// The `$upstream` queue.
    pub queue: QueueSnapshot,
    /// The leaf ingest session.
    pub ingest: IngestSnapshot,
    /// Messages that matched no route.
    pub unrouted: u64,
}

impl MetricsSnapshot {
    /// The snapshot of module `name`.
    pub fn module(&self, name: &str) -> Option<&ModuleSnapshot> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// The snapshot of route `name`.
    pub fn route(&self, name: &str) -> Option<&RouteSnapshot> {
        self.routes.iter().find(|r| r.name == name)
    }
}
