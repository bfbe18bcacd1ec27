//! The twin keeper: the one task that owns the twins' documents.
//!
//! Everything else holds a [`TwinHandle`]: it reads the twin's desired and
//! reported sections from `watch` channels the keeper writes, and sends the
//! keeper its changes as requests with a reply:
//!
//! - a module's reported patch (from its instance's `twin.report` import) is
//!   applied and answered at once, then stored; the keeper tells the agent
//!   what changed ([`ReportedChange`]) so that it routes a twin change
//!   notification and publishes the reported document;
//! - a desired document from the cloud (through the agent), or a desired
//!   patch (the module harness), is applied, stored, and then answered; the
//!   module's supervisor sees the new desired section on its handle.
//!
//! The keeper takes a batch of requests at a time and stores the twins the
//! batch changed with one flush.

use super::store::TwinStore;
use super::{DesiredOutcome, TwinDoc, TwinError};
use crate::protocol::twin::VersionedDoc;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How many twin requests may wait for the keeper.
pub const TWIN_REQUESTS: usize = 64;
/// How many requests the keeper handles before it stores what they changed.
pub const TWIN_BATCH: usize = 64;
/// How many reported changes may wait for the agent.
pub const REPORTED_CHANGES: usize = 256;

/// What a module's report could not do, said to the module.
const STOPPING: &str = "the gateway is stopping; the twin cannot change now";

/// A reported patch the keeper applied, for the agent to route and publish.
#[derive(Debug, Clone)]
pub struct ReportedChange {
    /// The twin (the module's name, or [`super::DEVICE_TWIN_ID`]).
    pub twin: Arc<str>,
    /// The patch as applied.
    pub patch: Map<String, Value>,
}

/// A change to a twin's desired section.
#[derive(Debug, Clone)]
pub enum DesiredChange {
    /// The whole desired document, as the cloud retains it.
    Replace(VersionedDoc),
    /// A merge patch, with its `$version` if it carries one.
    Patch(Value),
}

enum Request {
    Open {
        twin: String,
        reply: oneshot::Sender<Result<TwinHandle, TwinError>>,
    },
    Report {
        twin: Arc<str>,
        patch: Value,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Desired {
        twin: Arc<str>,
        change: DesiredChange,
        reply: oneshot::Sender<Result<DesiredOutcome, String>>,
    },
}

/// The way to the keeper, for those who open twins (the deployer, the
/// gateway for its device twin, the harness).
#[derive(Clone)]
pub struct Twins {
    requests: mpsc::Sender<Request>,
}

/// One twin, as its module's instances, its supervisor and the agent hold it.
#[derive(Clone)]
pub struct TwinHandle {
    id: Arc<str>,
    desired: watch::Receiver<Arc<VersionedDoc>>,
    reported: watch::Receiver<Arc<VersionedDoc>>,
    requests: mpsc::Sender<Request>,
}

impl std::fmt::Debug for TwinHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwinHandle").field("id", &self.id).finish()
    }
}

impl Twins {
    /// Starts the keeper. Twins are loaded from and stored in `store` if
    /// given (otherwise they live in memory); reported changes go to
    /// `changes` if given. The keeper ends when `shutdown` turns true (or
    /// its sender is gone), or when every handle and [`Twins`] is dropped.
    pub fn start(
        store: Option<TwinStore>,
        changes: Option<mpsc::Sender<ReportedChange>>,
        shutdown: Option<watch::Receiver<bool>>,
    ) -> (Twins, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(TWIN_REQUESTS);
        let keeper = Keeper {
            store,
            changes,
            requests: tx.downgrade(),
            twins: HashMap::new(),
        };
        let task = tokio::spawn(keeper.run(rx, shutdown));
        (Twins { requests: tx }, task)
    }

    /// The twin `twin`, loaded from the store the first time.
    pub async fn open(&self, twin: &str) -> Result<TwinHandle, TwinError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Open {
            twin: twin.to_string(),
            reply,
        };
        let stopped = || TwinError::Stopped {
            twin_id: twin.to_string(),
        };
        self.requests.send(request).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl TwinHandle {
    /// The twin's id (the module's name, or [`super::DEVICE_TWIN_ID`]).
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// The desired section now.
    pub fn desired(&self) -> Arc<VersionedDoc> {
        self.desired.borrow().clone()
    }

    /// The reported section now.
    pub fn reported(&self) -> Arc<VersionedDoc> {
        self.reported.borrow().clone()
    }

    /// Applies a reported patch (JSON text, an object); the error is for
    /// the module.
    pub async fn report(&self, patch: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(patch)
            .map_err(|e| format!("the reported patch is not JSON: {e}"))?;
        self.report_value(value).await
    }

    /// Applies a reported patch (a JSON object).
    pub async fn report_value(&self, patch: Value) -> Result<(), String> {
        let twin = self.id.clone();
        self.ask(|reply| Request::Report { twin, patch, reply })
            .await
    }

    /// Changes the desired section, and returns once that is stored.
    pub async fn change_desired(&self, change: DesiredChange) -> Result<DesiredOutcome, String> {
        let twin = self.id.clone();
        self.ask(|reply| Request::Desired {
            twin,
            change,
            reply,
        })
        .await
    }

    /// Sends the keeper the request `make` builds around its reply channel,
    /// and waits for the answer.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Request,
    ) -> Result<T, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(make(reply))
            .await
            .map_err(|_| STOPPING.to_string())?;
        answer.await.map_err(|_| STOPPING.to_string())?
    }
}

/// One twin as the keeper holds it.
struct Kept {
    doc: TwinDoc,
    desired: watch::Sender<Arc<VersionedDoc>>,
    reported: watch::Sender<Arc<VersionedDoc>>,
}

impl Kept {
    fn new(doc: TwinDoc) -> Kept {
        let (desired, _) = watch::channel(desired_of(&doc));
        let (reported, _) = watch::channel(reported_of(&doc));
        Kept {
            doc,
            desired,
            reported,
        }
    }
}

fn desired_of(doc: &TwinDoc) -> Arc<VersionedDoc> {
    Arc::new(VersionedDoc::new(doc.desired_version, doc.desired.clone()))
}

fn reported_of(doc: &TwinDoc) -> Arc<VersionedDoc> {
    Arc::new(VersionedDoc::new(
        doc.reported_version,
        doc.reported.clone(),
    ))
}

struct Keeper {
    store: Option<TwinStore>,
    changes: Option<mpsc::Sender<ReportedChange>>,
    /// For the handles it gives out; weak, so that the keeper ends once
    /// nobody can ask it anything.
    requests: mpsc::WeakSender<Request>,
    twins: HashMap<Arc<str>, Kept>,
}

/// A desired change's reply, sent once what it changed is stored.
type Answer = (
    oneshot::Sender<Result<DesiredOutcome, String>>,
    Result<DesiredOutcome, String>,
);

impl Keeper {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut shutdown: Option<watch::Receiver<bool>>,
    ) {
        let mut batch = Vec::with_capacity(TWIN_BATCH);
        loop {
            let stop = async {
                match shutdown.as_mut() {
                    Some(s) => {
                        let _ = s.wait_for(|stop| *stop).await;
                    }
                    None => std::future::pending().await,
                }
            };
            let first = tokio::select! {
                biased;
                _ = stop => None,
                request = requests.recv() => request,
            };
            let Some(first) = first else { break };
            batch.push(first);
            while batch.len() < TWIN_BATCH
                && let Ok(more) = requests.try_recv()
            {
                batch.push(more);
            }
            let mut touched = BTreeSet::new();
            let mut answers = Vec::new();
            for request in batch.drain(..) {
                self.handle(request, &mut touched, &mut answers);
            }
            self.save(touched).await;
            for (reply, outcome) in answers {
                let _ = reply.send(outcome);
            }
        }
    }

    fn handle(
        &mut self,
        request: Request,
        touched: &mut BTreeSet<Arc<str>>,
        answers: &mut Vec<Answer>,
    ) {
        match request {
            Request::Open { twin, reply } => {
                let _ = reply.send(self.open(&twin));
            }
            Request::Report { twin, patch, reply } => {
                let outcome = self.report(&twin, patch);
                if outcome.is_ok() {
                    touched.insert(twin);
                }
                let _ = reply.send(outcome);
            }
            Request::Desired {
                twin,
                change,
                reply,
            } => {
                let outcome = self.desired(&twin, change);
                if let Ok(DesiredOutcome::Applied { .. }) = outcome {
                    touched.insert(twin);
                }
                answers.push((reply, outcome));
            }
        }
    }

    fn open(&mut self, twin: &str) -> Result<TwinHandle, TwinError> {
        let requests = self.requests.upgrade().ok_or_else(|| TwinError::Stopped {
            twin_id: twin.to_string(),
        })?;
        let (id, kept) = match self.twins.get_key_value(twin) {
            Some((id, kept)) => (id.clone(), kept),
            None => {
                let doc = match &self.store {
                    Some(store) => store.load(twin)?,
                    None => TwinDoc::default(),
                };
                let id: Arc<str> = Arc::from(twin);
                let kept = self.twins.entry(id.clone()).or_insert(Kept::new(doc));
                (id, &*kept)
            }
        };
        Ok(TwinHandle {
            id,
            desired: kept.desired.subscribe(),
            reported: kept.reported.subscribe(),
            requests,
        })
    }

    fn report(&mut self, twin: &Arc<str>, patch: Value) -> Result<(), String> {
        let kept = self
            .twins
            .get_mut(twin)
            .ok_or_else(|| format!("the twin `{twin}` is not open"))?;
        let permit = match &self.changes {
            Some(changes) => Some(changes.try_reserve().map_err(|_| {
                "reported changes arrive faster than the gateway stores them; report again later"
                    .to_string()
            })?),
            None => None,
        };
        let Value::Object(map) = &patch else {
            return Err("the reported patch must be a JSON object".to_string());
        };
        let map = map.clone();
        kept.doc
            .apply_reported_patch(&patch)
            .map_err(|e| e.to_string())?;
        kept.reported.send_replace(reported_of(&kept.doc));
        if let Some(permit) = permit {
            permit.send(ReportedChange {
                twin: twin.clone(),
                patch: map,
            });
        }
        Ok(())
    }

    fn desired(
        &mut self,
        twin: &Arc<str>,
        change: DesiredChange,
    ) -> Result<DesiredOutcome, String> {
        let kept = self
            .twins
            .get_mut(twin)
            .ok_or_else(|| format!("the twin `{twin}` is not open"))?;
        let outcome = match change {
            DesiredChange::Replace(doc) => kept
                .doc
                .replace_desired(&Value::Object(doc.properties), doc.version),
            DesiredChange::Patch(patch) => kept.doc.apply_desired_patch(&patch, None),
        }
        .map_err(|e| e.to_string())?;
        if let DesiredOutcome::Applied { .. } = outcome {
            kept.desired.send_replace(desired_of(&kept.doc));
        }
        Ok(outcome)
    }

    /// Stores `touched` with one flush, on the blocking pool.
    async fn save(&self, touched: BTreeSet<Arc<str>>) {
        let Some(store) = &self.store else { return };
        if touched.is_empty() {
            return;
        }
        let docs: Vec<(Arc<str>, TwinDoc)> = touched
            .into_iter()
            .filter_map(|id| self.twins.get(&id).map(|k| (id, k.doc.clone())))
            .collect();
        let store = store.clone();
        let saved = tokio::task::spawn_blocking(move || store.save_all(&docs)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("cannot store the twins: {e}"),
            Err(e) => tracing::error!("the twin store did not finish: {e}"),
        }
    }
}
