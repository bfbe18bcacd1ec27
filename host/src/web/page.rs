//! The local web page (`/`) and what feeds it: `/api/state`, the gateway
//! now as one JSON document, and `/api/events`, the same document every
//! [`EVENT_EVERY`] as server-sent events, each carrying only the chart
//! points the reader has not had yet (all of the last hour in the first).
//!
//! The page is one HTML file with its script and style inline, built into
//! the binary: no build step, no library, charts drawn as SVG. It reads;
//! it changes nothing. Its shell carries no data and is served without the
//! token; the data is not (the page sends the token from its address's
//! `#token=` fragment, which browsers never send to the server).

use super::Shared;
use super::process::ScrapeFigures;
use crate::metrics::series::Point;
use crate::metrics::{MetricsSnapshot, ModuleStatus};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// How often an open page is sent the gateway's state.
pub const EVENT_EVERY: Duration = Duration::from_secs(1);

/// How many event streams may be open at once (pages open on the gateway);
/// one more is answered 503.
pub const MAX_STREAMS: usize = 8;

/// The page.
const PAGE: &str = include_str!("page.html");

/// The gateway as the page shows it.
#[derive(Debug, Serialize)]
pub struct PageState {
    /// When it was read, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Each module.
    pub modules: Vec<ModuleRow>,
    /// Each route and how many messages took it (the page turns two
    /// readings into a rate).
    pub routes: Vec<RouteRow>,
    /// Messages that matched no route.
    pub unrouted: u64,
    /// The `$upstream` queue and the cloud link.
    pub upstream: UpstreamRow,
    /// The leaf-device session.
    pub ingest: crate::metrics::IngestSnapshot,
    /// Resident memory of the process, if the system says.
    pub resident_bytes: Option<u64>,
    /// The charted series, with their new points.
    pub series: Vec<SeriesRow>,
}

/// One module's line in the table.
#[derive(Debug, Serialize)]
pub struct ModuleRow {
    /// Its name.
    pub name: String,
    /// What it is doing.
    pub status: ModuleStatus,
    /// Instances made after the first.
    pub restarts: u64,
    /// Messages handed to it.
    pub received: u64,
    /// Messages it sent.
    pub sent: u64,
    /// Messages it refused or trapped on.
    pub failed: u64,
    /// Messages for it dropped (queue full or not running).
    pub dropped: u64,
    /// Calls that trapped.
    pub traps: u64,
    /// Messages waiting in its input queue.
    pub queued: u64,
    /// Its instance's linear memory.
    pub memory_bytes: u64,
    /// The limit on it.
    pub memory_limit_bytes: u64,
    /// Time spent in calls into it, in seconds.
    pub busy_seconds: f64,
}

/// One route's line.
#[derive(Debug, Serialize)]
pub struct RouteRow {
    /// Its name.
    pub name: String,
    /// Messages that took it.
    pub matched: u64,
}

/// The `$upstream` queue and the link to the cloud.
#[derive(Debug, Serialize)]
pub struct UpstreamRow {
    /// Whether the cloud connection is up.
    pub connected: bool,
    /// Why the last attempt failed, while it is down.
    pub link_error: Option<String>,
    /// Messages waiting.
    pub depth: u64,
    /// Bytes they take.
    pub bytes: u64,
    /// How long the oldest has existed, in seconds, if the sink answered.
    pub oldest_age_secs: Option<f64>,
    /// Messages accepted into the queue.
    pub accepted: u64,
    /// Messages the cloud broker acknowledged.
    pub delivered: u64,
    /// Messages refused because the queue was full.
    pub refused: u64,
    /// Messages that expired unsent.
    pub expired: u64,
    /// Messages dropped to make room.
    pub dropped: u64,
}

/// A charted series and its points.
#[derive(Debug, Serialize)]
pub struct SeriesRow {
    /// What names it across events: its route and path.
    pub key: String,
    /// The chart's title.
    pub title: String,
    /// The route it reads.
    pub route: String,
    /// The body path it reads.
    pub path: String,
    /// Its points since the reader's last event; the first may replace the
    /// reader's newest point (the same second, more values averaged in).
    pub points: Vec<Point>,
}

impl PageState {
    /// The state from `snapshot` and `process`, with each series' points
    /// from the second `since[key]` (from the start when missing); `since` is
    /// moved on to each series' newest point.
    fn new(
        snapshot: MetricsSnapshot,
        process: &ScrapeFigures,
        series: &[Arc<crate::metrics::series::Series>],
        since: &mut HashMap<String, u64>,
    ) -> PageState {
        let time_ms = crate::message::now_ms();
        let q = &snapshot.queue;
        PageState {
            time_ms,
            modules: snapshot
                .modules
                .iter()
                .map(|m| ModuleRow {
                    name: m.name.clone(),
                    status: m.status,
                    restarts: m.restarts,
                    received: m.received,
                    sent: m.sent,
                    failed: m.failed,
                    dropped: m.dropped_queue_full + m.dropped_not_running,
                    traps: m.traps,
                    queued: m.usage.queued,
                    memory_bytes: m.usage.memory_bytes,
                    memory_limit_bytes: m.usage.memory_limit_bytes,
                    busy_seconds: m.usage.busy_nanos as f64 / 1e9,
                })
                .collect(),
            routes: snapshot
                .routes
                .iter()
                .map(|r| RouteRow {
                    name: r.name.clone(),
                    matched: r.matched,
                })
                .collect(),
            unrouted: snapshot.unrouted,
            upstream: UpstreamRow {
                connected: q.connected,
                link_error: q.link_error.clone(),
                depth: q.depth,
                bytes: q.bytes,
                oldest_age_secs: process.oldest_queued_secs,
                accepted: snapshot.upstream,
                delivered: q.delivered,
                refused: q.refused,
                expired: q.expired,
                dropped: q.dropped_oldest,
            },
            ingest: snapshot.ingest.clone(),
            resident_bytes: process.resident_bytes,
            series: series
                .iter()
                .map(|s| {
                    let key = format!("{}|{}", s.spec.route, s.spec.path.text);
                    let from = since.get(&key).copied().unwrap_or(0);
                    let points = s.points_since(from, time_ms);
                    if let Some(last) = points.last() {
                        since.insert(key.clone(), last.t);
                    }
                    SeriesRow {
                        key,
                        title: s.spec.title.clone(),
                        route: s.spec.route.clone(),
                        path: s.spec.path.text.clone(),
                        points,
                    }
                })
                .collect(),
        }
    }
}

impl Shared {
    /// The gateway's state now, for a reader that has had each series up to
    /// `since`.
    async fn page_state(&self, since: &mut HashMap<String, u64>) -> PageState {
        let process = ScrapeFigures {
            oldest_queued_secs: self.sources.oldest_age().await,
            ..ScrapeFigures::now()
        };
        let series = self.sources.metrics.series();
        PageState::new(self.sources.snapshot(), &process, &series, since)
    }
}

/// `GET /`: the page.
pub(super) async fn index() -> Html<&'static str> {
    Html(PAGE)
}

/// `GET /api/state`: the state now, with each series' last hour.
pub(super) async fn state(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = shared.check(&headers) {
        return refused;
    }
    let state = shared.page_state(&mut HashMap::new()).await;
    json(&state)
}

/// `GET /api/events`: the state every [`EVENT_EVERY`] until the gateway
/// stops, as server-sent events named `state`; at most [`MAX_STREAMS`] at
/// once.
pub(super) async fn events(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = shared.check(&headers) {
        return refused;
    }
    let Ok(permit) = shared.streams.clone().try_acquire_owned() else {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_STREAMS} pages are open on this gateway already\n"),
        )
            .into_response();
    };
    let mut ticks = tokio::time::interval(EVENT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = shared.stop.clone();
    // The permit lives as long as the stream.
    let start = (shared, ticks, HashMap::new(), permit);
    let stream =
        futures_util::stream::unfold(start, move |(shared, mut ticks, mut since, permit)| {
            let mut stop = stop.clone();
            async move {
                tokio::select! {
                    _ = stop.wait_for(|stopped| *stopped) => return None,
                    _ = ticks.tick() => {}
                }
                let state = shared.page_state(&mut since).await;
                let event = match serde_json::to_string(&state) {
                    Ok(data) => Event::default().event("state").data(data),
                    Err(e) => Event::default().event("error").data(e.to_string()),
                };
                Some((Ok::<_, Infallible>(event), (shared, ticks, since, permit)))
            }
        });
    // The first tick is at once; a page that closes ends the stream at the
    // next write.
    Sse::new(stream).into_response()
}

fn json(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the state: {e}\n"),
        )
            .into_response(),
    }
}
