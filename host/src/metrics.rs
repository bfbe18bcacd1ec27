//! Counters for routes, modules and `$upstream`. Each counter is written by one
//! owner (the router, an instance task, the upstream task) and read by anyone as
//! a [`MetricsSnapshot`]. A module's lifecycle (status, last start and exit, and
//! why it exited) is not a counter: its supervisor publishes it
//! ([`crate::lifecycle`]), and [`MetricsSnapshot::with_states`] joins the two.

pub mod series;
mod usage;

pub use crate::lifecycle::{ExitReason, ModuleStatus};
use crate::lifecycle::{ModuleStates, state_of};
use serde::Serialize;
use series::Series;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use usage::Usage;
pub use usage::{CALL_BUCKETS_US, UsageSnapshot};

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
    received: AtomicU64,
    failed: AtomicU64,
    sent: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_not_running: AtomicU64,
    traps: AtomicU64,
    restarts: AtomicU64,
    timer_calls: AtomicU64,
    usage: Usage,
}

impl ModuleMetrics {
    /// Zeroed counters for module `name`.
    pub fn new(name: &str) -> Self {
        ModuleMetrics {
            name: name.to_string(),
            received: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_not_running: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            timer_calls: AtomicU64::new(0),
            usage: Usage::default(),
        }
    }

    /// Counts a call into the module that took `took`, and the instance's
    /// memory after it.
    pub(crate) fn call_took(&self, took: std::time::Duration, memory: usize, limit: usize) {
        self.usage.call_took(took);
        self.usage.set_memory(memory, limit);
    }
    /// How many messages its supervisor holds, taken from the queue and not
    /// yet handed to an instance.
    pub(crate) fn set_held(&self, n: usize) {
        self.usage.set_held(n);
    }
    /// Reads the depth of the module's input queue from `inbox` (held
    /// weakly: the metrics do not keep the queue open).
    pub(crate) fn watch_queue<T: Send + 'static>(&self, inbox: &tokio::sync::mpsc::Sender<T>) {
        let weak = inbox.downgrade();
        self.usage.watch_queue(Box::new(move || {
            weak.upgrade()
                .map_or(0, |s| s.max_capacity() - s.capacity())
        }));
    }

    pub(crate) fn received_many(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
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
    /// Its counters, with the lifecycle fields at their defaults until
    /// [`MetricsSnapshot::with_states`] fills them.
    fn snapshot(&self) -> ModuleSnapshot {
        ModuleSnapshot {
            name: self.name.clone(),
            status: ModuleStatus::Starting,
            received: read(&self.received),
            failed: read(&self.failed),
            sent: read(&self.sent),
            dropped_queue_full: read(&self.dropped_queue_full),
            dropped_not_running: read(&self.dropped_not_running),
            traps: read(&self.traps),
            restarts: read(&self.restarts),
            timer_calls: read(&self.timer_calls),
            digest: None,
            last_start: None,
            last_exit: None,
            exit_reason: None,
            usage: self.usage.snapshot(),
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
    /// The charted telemetry series, in manifest order; replaced with the
    /// routes.
    series: RwLock<Vec<Arc<Series>>>,
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
    connects: AtomicU64,
}

impl QueueMetrics {
    pub(crate) fn delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn broker_refused(&self) {
        bump(&self.broker_refused);
    }
    /// Counts a connection to the cloud broker made (the first and every
    /// reconnection).
    pub(crate) fn connected(&self) {
        bump(&self.connects);
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
            connects: read(&self.connects),
            connected: false,
            link_error: None,
        }
    }
}

/// The counters of the leaf ingest session, written by its task.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    active: AtomicBool,
    connected: AtomicBool,
    connects: AtomicU64,
    pending: AtomicU64,
    peak_pending: AtomicU64,
    read_pauses: AtomicU64,
}

impl IngestMetrics {
    pub(crate) fn started(&self) {
        self.active.store(true, Ordering::Relaxed);
    }
    /// The session to the local broker is up (counted) or down.
    pub(crate) fn set_connected(&self, up: bool) {
        if up {
            bump(&self.connects);
        }
        self.connected.store(up, Ordering::Relaxed);
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
            connected: self.connected.load(Ordering::Relaxed),
            connects: read(&self.connects),
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
    /// Whether the session to the local broker is up.
    pub connected: bool,
    /// Sessions to the local broker made (the first and every reconnection).
    pub connects: u64,
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
    /// Connections to the cloud broker made (the first and every
    /// reconnection).
    pub connects: u64,
    /// Whether the cloud connection is up (from the sink's link state; false
    /// in [`Metrics::snapshot`] alone).
    pub connected: bool,
    /// Why the last attempt to reach the cloud broker failed, while it is
    /// not connected (from the sink's link state).
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
            series: RwLock::new(Vec::new()),
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

    /// The charted series, in manifest order.
    pub fn series(&self) -> Vec<Arc<Series>> {
        self.series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the charted series.
    pub(crate) fn set_series(&self, series: Vec<Arc<Series>>) {
        *self.series.write().unwrap_or_else(|p| p.into_inner()) = series;
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
    /// What its calls cost, its memory and its queue (not in the status
    /// document; the metrics endpoint shows it).
    #[serde(skip)]
    pub usage: UsageSnapshot,
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
    /// The snapshot with each module's lifecycle (status, digest, last start
    /// and exit, exit reason) filled from `states`, as its supervisor last
    /// published it.
    pub fn with_states(mut self, states: &ModuleStates) -> MetricsSnapshot {
        for m in &mut self.modules {
            if let Some(state) = state_of(states, &m.name) {
                m.status = state.status;
                m.digest = state.digest;
                m.last_start = state.last_start;
                m.last_exit = state.last_exit;
                m.exit_reason = state.exit_reason;
            }
        }
        self
    }

    /// The snapshot of module `name`.
    pub fn module(&self, name: &str) -> Option<&ModuleSnapshot> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// The snapshot of route `name`.
    pub fn route(&self, name: &str) -> Option<&RouteSnapshot> {
        self.routes.iter().find(|r| r.name == name)
    }
}
