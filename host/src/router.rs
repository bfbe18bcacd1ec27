//! The router: the single owner of the routing table. It takes messages from a
//! bounded channel, matches them against the routes, and delivers each to every
//! distinct sink that one or more matching routes name.
//!
//! The router never waits on a module, so that routes that form a cycle can
//! never deadlock: a copy that finds a module's input queue full is refused
//! and counted (`dropped_queue_full`). A copy with a [`Receipt`] is refused to
//! its producer, which routes it again to that sink (see [`crate::receipt`]);
//! one without (a timer's send, an injected message) is dropped. The router
//! does wait on `$upstream`, which never sends back.

use crate::envelope::{Delivery, Envelope, UpstreamMessage};
use crate::message::Message;
use crate::metrics::series::{ChartSpec, Series};
use crate::metrics::{Metrics, ModuleMetrics, RouteMetrics};
use crate::receipt::Receipt;
use crate::route::{MessageView, Route, RouteSpec, Sink};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How many messages wait for the router before senders are held back.
pub const ROUTER_QUEUE: usize = 1024;

/// A module's input queue as the router sees it.
pub struct ModuleInbox {
    /// The queue.
    pub tx: mpsc::Sender<Delivery>,
    /// The module's counters.
    pub metrics: Arc<ModuleMetrics>,
}

/// A route with its sink resolved to an index.
struct Entry {
    name: Arc<str>,
    route: Route,
    /// The route's sink, as a receipt names it.
    sink: Arc<Sink>,
    target: Target,
    /// The priority as a sort key: unset sorts after 9.
    rank: u8,
    priority: Option<u8>,
    time_to_live: Option<Duration>,
    metrics: Arc<RouteMetrics>,
    /// The charted series read from the messages that take the route.
    series: Vec<Arc<Series>>,
}

#[derive(Clone, PartialEq, Eq)]
enum Target {
    Module(usize, Arc<str>),
    Upstream,
}

/// A change to the routing table, from the gateway's deployer.
pub enum RouterCommand {
    /// Route with `routes` from now on, delivering to `inboxes`.
    Reconfigure {
        /// The new routes.
        routes: Vec<RouteSpec>,
        /// The telemetry series charted from them.
        charts: Vec<ChartSpec>,
        /// Every module's input queue, by name.
        inboxes: Vec<(String, ModuleInbox)>,
        /// Told when the new table is in use.
        done: tokio::sync::oneshot::Sender<()>,
    },
}

/// How many routing-table changes may wait.
pub const ROUTER_COMMANDS: usize = 4;

/// The routing table and the queues it delivers to.
pub struct Router {
    entries: Vec<Entry>,
    inboxes: Vec<ModuleInbox>,
    upstream: mpsc::Sender<UpstreamMessage>,
    metrics: Arc<Metrics>,
}

impl Router {
    /// A router over `routes`, delivering to `inboxes` (by module name) and
    /// `upstream`. Every module a sink names must have an inbox; the manifest
    /// guarantees it, and a route whose module is missing is dropped with an
    /// error logged.
    pub fn new(
        routes: &[RouteSpec],
        inboxes: Vec<(String, ModuleInbox)>,
        upstream: mpsc::Sender<UpstreamMessage>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut router = Router {
            entries: Vec::new(),
            inboxes: Vec::new(),
            upstream,
            metrics,
        };
        router.reconfigure(routes, &[], inboxes);
        router
    }

    /// Replaces the routing table. Route counters carry over by route name,
    /// and a series' points by its route and path.
    fn reconfigure(
        &mut self,
        routes: &[RouteSpec],
        charts: &[ChartSpec],
        inboxes: Vec<(String, ModuleInbox)>,
    ) {
        let metrics = &self.metrics;
        let old_counters = metrics.routes();
        let old_series = metrics.series();
        let series: Vec<Arc<Series>> = charts
            .iter()
            .map(|chart| {
                old_series
                    .iter()
                    .find(|s| s.spec.route == chart.route && s.spec.path == chart.path)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Series::new(chart.clone())))
            })
            .collect();
        let mut counters = Vec::with_capacity(routes.len());
        let mut entries = Vec::with_capacity(routes.len());
        for spec in routes {
            let (name, route) = (&spec.name, &spec.route);
            let target = match &route.sink {
                Sink::Upstream => Target::Upstream,
                Sink::ModuleInput(m, input) => match inboxes.iter().position(|(n, _)| n == m) {
                    Some(i) => Target::Module(i, Arc::from(input.as_str())),
                    None => {
                        tracing::error!(route = %name, module = %m, "route names a module that is not deployed; route disabled");
                        continue;
                    }
                },
            };
            let metrics = old_counters
                .iter()
                .find(|r| r.name == *name)
                .cloned()
                .unwrap_or_else(|| Arc::new(RouteMetrics::new(name)));
            counters.push(metrics.clone());
            entries.push(Entry {
                name: Arc::from(name.as_str()),
                route: route.clone(),
                sink: Arc::new(route.sink.clone()),
                target,
                rank: spec.priority.unwrap_or(u8::MAX),
                priority: spec.priority,
                time_to_live: spec.time_to_live,
                metrics,
                series: series
                    .iter()
                    .filter(|s| s.spec.route == *name)
                    .cloned()
                    .collect(),
            });
        }
        self.metrics.set_routes(counters);
        self.metrics.set_series(series);
        self.entries = entries;
        self.inboxes = inboxes.into_iter().map(|(_, inbox)| inbox).collect();
    }

    /// Routes messages until every sender is gone, taking routing-table
    /// changes from `commands` between messages.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Envelope>,
        mut commands: mpsc::Receiver<RouterCommand>,
    ) {
        let mut commands_open = true;
        loop {
            tokio::select! {
                biased;
                command = commands.recv(), if commands_open => match command {
                    Some(RouterCommand::Reconfigure { routes, charts, inboxes, done }) => {
                        self.reconfigure(&routes, &charts, inboxes);
                        let _ = done.send(());
                    }
                    None => commands_open = false,
                },
                envelope = rx.recv() => match envelope {
                    Some(envelope) => self.route(envelope).await,
                    None => return,
                },
            }
        }
    }

    async fn route(&mut self, envelope: Envelope) {
        let Envelope {
            from,
            message,
            receipt,
            only_to,
        } = envelope;
        let view = MessageView::new(&message);
        let origin = from.origin();
        // One delivery per distinct sink, on behalf of the matching route with
        // the highest priority.
        let mut targets: Vec<(usize, &Target)> = Vec::new();
        let wanted = |sink: &Sink| only_to.as_ref().is_none_or(|only| only.contains(sink));
        for (i, entry) in self.entries.iter().enumerate() {
            if wanted(&entry.sink) && entry.route.accepts(origin, &view) {
                entry.metrics.matched();
                for series in &entry.series {
                    if let Some(value) = view.number(&series.spec.path) {
                        series.record(crate::message::now_ms(), value);
                    }
                }
                match targets.iter_mut().find(|(_, t)| *t == &entry.target) {
                    Some(slot) if entry.rank < self.entries[slot.0].rank => slot.0 = i,
                    Some(_) => {}
                    None => targets.push((i, &entry.target)),
                }
            }
        }
        drop(view);
        if targets.is_empty() {
            self.metrics.unrouted();
            return;
        }
        let last = targets.len() - 1;
        let mut message = Some(message);
        let plan: Vec<(usize, Target)> = targets.into_iter().map(|(i, t)| (i, t.clone())).collect();
        for (n, (entry, target)) in plan.into_iter().enumerate() {
            let msg = if n == last {
                message.take()
            } else {
                message.clone()
            };
            let Some(msg) = msg else { break };
            let e = &self.entries[entry];
            let receipt = receipt.as_ref().map(|r| r.for_sink(&e.sink));
            match target {
                Target::Module(i, input) => self.deliver(i, input, msg, receipt),
                Target::Upstream => {
                    let up = UpstreamMessage {
                        route: e.name.clone(),
                        priority: e.priority,
                        time_to_live: e.time_to_live,
                        message: msg,
                        receipt,
                    };
                    if let Err(mpsc::error::SendError(up)) = self.upstream.send(up).await {
                        if let Some(r) = &up.receipt {
                            r.fail();
                        }
                        tracing::warn!("$upstream is closed; message dropped");
                    }
                }
            }
        }
    }

    fn deliver(&self, module: usize, input: Arc<str>, message: Message, receipt: Option<Receipt>) {
        let inbox = &self.inboxes[module];
        let delivery = Delivery {
            input,
            message,
            receipt,
        };
        match inbox.tx.try_send(delivery) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(refused)) => {
                if let Some(r) = &refused.receipt {
                    r.fail();
                }
                inbox.metrics.dropped_queue_full();
                tracing::debug!(module = %inbox.metrics.name, "input queue full; message dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // Its restart policy gave up on it: no retry would ever be
                // taken, so the copy is dropped and counted, and its receipt
                // released, not refused (a refusal would hold the producer's
                // later messages back).
                inbox.metrics.dropped_not_running();
                tracing::debug!(module = %inbox.metrics.name, "module not running; message dropped");
            }
        }
    }
}
