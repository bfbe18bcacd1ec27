//! The gateway's local HTTP endpoint: `/metrics`, every counter in the
//! Prometheus text format, for a scraper on the gateway or the plant
//! network, and `/`, a web page of the modules, routes, the cloud link and
//! charts of telemetry, updated live. Off unless the manifest's `[metrics]`
//! or `--metrics-addr` names an address; [`access`] says who may read it.
//!
//! The server (axum over hyper) runs as one task beside the gateway's; it
//! owns no state, and reads the counters, the modules' lifecycle and the
//! cloud link's state the way [`crate::gateway::Gateway::metrics`] does
//! (through [`Sources`]).
//!
//! - `access.rs`: the address, the bearer token, and the rule that a
//!   non-loopback address needs one or an explicit `allow-anonymous`.
//! - `prometheus.rs`: the exposition format, and the metric names.
//! - `page.rs` (and `page.html`): the web page and its JSON and event
//!   stream.
//! - `process.rs`: what is measured of the process at each request.

pub mod access;
pub mod page;
pub mod process;
pub mod prometheus;

pub use access::{EndpointConfig, Token};

use crate::lifecycle::ModuleStates;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::upstream::{LinkState, OldestQuestion};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address could not be bound.
    #[error("metrics endpoint: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration is refused (an exposed address without a token).
    #[error("metrics endpoint: {0}")]
    Config(String),
}

/// What the endpoint reads: the counters, each module's lifecycle and the
/// cloud link's state, joined into one snapshot.
#[derive(Clone)]
pub(crate) struct Sources {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) states: watch::Receiver<ModuleStates>,
    pub(crate) link: watch::Receiver<LinkState>,
    /// Asks the `$upstream` sink about its queue.
    pub(crate) upstream: mpsc::Sender<OldestQuestion>,
}

impl Sources {
    /// Every counter, each module's lifecycle and the link's state, now.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let mut snapshot = self.metrics.snapshot().with_states(&self.states.borrow());
        let link = self.link.borrow();
        snapshot.queue.connected = link.connected;
        snapshot.queue.link_error = link.error.clone();
        snapshot
    }

    /// How long the message that has waited longest in the `$upstream`
    /// queue has existed, in seconds, as the sink answers (within
    /// [`ANSWER_WITHIN`]); 0 for an empty queue, `None` if the sink does not
    /// answer in time.
    pub(crate) async fn oldest_age(&self) -> Option<f64> {
        let (reply, answer) = oneshot::channel();
        self.upstream.try_send(reply).ok()?;
        let created = tokio::time::timeout(ANSWER_WITHIN, answer)
            .await
            .ok()?
            .ok()?;
        Some(created.map_or(0.0, |ms| {
            crate::message::now_ms().saturating_sub(ms) as f64 / 1000.0
        }))
    }
}

/// How long a scrape waits for the `$upstream` sink's answer (it answers
/// between its other work; a sync of the disk can hold it).
pub const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// A running endpoint.
pub(crate) struct Endpoint {
    /// The address it listens on (the port chosen, if 0 was asked for).
    pub(crate) addr: SocketAddr,
    /// Tells the server, and every open event stream, to stop.
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Endpoint {
    /// Binds `config.addr` and serves `sources` until [`Endpoint::stop`].
    pub(crate) async fn start(
        config: &EndpointConfig,
        sources: Sources,
    ) -> Result<Endpoint, WebError> {
        let bind_error = |source| WebError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TcpListener::bind(config.addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            sources,
            token: config.token.clone(),
            stop: stopped.clone(),
            streams: Arc::new(tokio::sync::Semaphore::new(page::MAX_STREAMS)),
        });
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/", get(page::index))
            .route("/api/state", get(page::state))
            .route("/api/events", get(page::events))
            .with_state(shared);
        let mut stopped = stopped;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!("metrics endpoint on {addr} stopped: {e}");
            }
        });
        tracing::info!(
            "metrics endpoint on http://{addr}/metrics (the web page on http://{addr}/; {})",
            if config.token.is_some() {
                "bearer token required"
            } else {
                "no token"
            }
        );
        Ok(Endpoint { addr, stop, task })
    }

    /// Stops serving: the listener closes, open event streams end, and the
    /// requests being answered finish (within [`FINISH_WITHIN`], or they
    /// are cut off).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(FINISH_WITHIN, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// How long a stopping endpoint waits for the requests it is answering.
pub const FINISH_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// What every request handler reads.
struct Shared {
    sources: Sources,
    token: Option<Token>,
    /// True once the endpoint stops.
    stop: watch::Receiver<bool>,
    /// The event streams that may still open.
    streams: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// `Err` with a 401 if the request does not carry the token.
    fn check(&self, headers: &HeaderMap) -> Result<(), Response> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
        if token.accepts(given) {
            return Ok(());
        }
        Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response())
    }
}

/// `GET /metrics`.
async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = shared.check(&headers) {
        return refused;
    }
    let process = process::ScrapeFigures {
        oldest_queued_secs: shared.sources.oldest_age().await,
        ..process::ScrapeFigures::now()
    };
    let body = prometheus::render(&shared.sources.snapshot(), &process);
    ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], body).into_response()
}
