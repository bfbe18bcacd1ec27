//! The `$upstream` sink: the task that owns the durable queue and, when a cloud
//! connection is configured, what is in flight on it.
//!
//! - It takes the router's messages in batches and writes each batch to the
//!   store. Under the default flush policy it flushes the batch (group commit,
//!   within the policy's window) before it counts the messages as accepted;
//!   under the periodic one they count once written (see
//!   [`crate::store::flush`]). Observers see each message once it is accepted.
//! - While connected it keeps up to the in-flight window published, in queue
//!   order (priority, then arrival), and deletes each message only when the
//!   broker's PUBACK for it arrives. A dropped connection leaves everything
//!   queued; the next connection sends it again.
//! - It sweeps out expired messages.
//!
//! With no cloud connection the queue only fills; status shows its depth.

use crate::message::now_ms;
use crate::metrics::Metrics;
use crate::router::UpstreamMessage;
use crate::store::flush::FlushPolicy;
use crate::store::queue::{InFlight, QueueKey};
use crate::store::{Offer, Store, StoreError};
use crate::uplink::LinkEvent;
use crate::uplink::publish::{telemetry_topic, to_publish};
use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// The most messages written in one flush.
pub const ACCEPT_BATCH: usize = 256;
/// How often expired messages are swept out.
pub const EXPIRY_SWEEP: Duration = Duration::from_secs(30);

/// The store, lent to the blocking pool for each disk operation. Only this
/// task uses it; the mutex is how a blocking closure borrows it.
type Shared = Arc<Mutex<Store>>;

/// Runs `work` on the blocking pool, so that a flush never stalls the async
/// workers.
async fn with_store<T: Send + 'static>(
    store: &Shared,
    work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, String> {
    let store = store.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut guard = store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut guard)
    });
    match task.await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("the store operation did not finish: {e}")),
    }
}

/// The cloud connection as this task sees it.
struct Link {
    generation: u64,
    client: AsyncClient,
    in_flight: InFlight,
    /// The last key handed out on this connection; the next read starts after
    /// it. `None` rescans from the head (a new connection, or a message
    /// queued ahead of it, of a more urgent priority).
    cursor: Option<QueueKey>,
}

/// What the sink works with.
pub struct UpstreamIo {
    /// Messages from the router.
    pub rx: mpsc::Receiver<UpstreamMessage>,
    /// Events from the cloud connection, if one is configured, and the device
    /// id its topics use.
    pub link: Option<(mpsc::Receiver<LinkEvent>, String, u16)>,
    /// The gateway's counters.
    pub metrics: Arc<Metrics>,
    /// Who hears about each accepted message.
    pub observers: broadcast::Sender<UpstreamMessage>,
    /// When a batch is flushed, and whether acceptance waits for it.
    pub flush: FlushPolicy,
}

struct Sink {
    store: Shared,
    metrics: Arc<Metrics>,
    observers: broadcast::Sender<UpstreamMessage>,
    link: Option<Link>,
    topic: String,
    window: usize,
    flush: FlushPolicy,
    /// Messages received and not yet written: they wait for the group-commit
    /// window to close (or for the batch to fill).
    pending: Vec<UpstreamMessage>,
    /// When the pending batch is written, if there is one.
    commit_at: Option<tokio::time::Instant>,
}

impl Sink {
    fn publish_size(&self) {
        let guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        self.metrics
            .queue
            .set_size(guard.depth(), guard.used_bytes());
    }

    /// Takes a message from the router into the pending batch, and writes the
    /// batch when it is full or the policy has no window.
    async fn receive(&mut self, first: UpstreamMessage, rx: &mut mpsc::Receiver<UpstreamMessage>) {
        if self.pending.is_empty() {
            self.commit_at = Some(tokio::time::Instant::now() + self.flush.window());
        }
        self.pending.push(first);
        while self.pending.len() < ACCEPT_BATCH {
            match rx.try_recv() {
                Ok(m) => self.pending.push(m),
                Err(_) => break,
            }
        }
        if self.flush.window().is_zero() || self.pending.len() >= ACCEPT_BATCH {
            self.commit().await;
        }
    }

    /// Writes the pending batch (and flushes it, under the durable policy).
    async fn commit(&mut self) {
        self.commit_at = None;
        let batch = std::mem::take(&mut self.pending);
        if !batch.is_empty() {
            self.accept(batch).await;
        }
    }

    async fn accept(&mut self, batch: Vec<UpstreamMessage>) {
        let receipts: Vec<_> = batch.iter().filter_map(|m| m.receipt.clone()).collect();
        let flush = self.flush.acknowledges_after_flush();
        let result = with_store(&self.store, move |s| {
            let report = if flush {
                s.accept(&batch)
            } else {
                s.write(&batch)
            };
            report.map(|r| (r, batch))
        })
        .await;
        if result.is_err() {
            for r in &receipts {
                r.fail();
            }
        }
        drop(receipts);
        match result {
            Ok((report, batch)) => {
                // The depth counts the batch before any observer hears of it.
                self.publish_size();
                self.metrics.queue.dropped_oldest(report.dropped_oldest);
                let mut accepted = 0;
                if let Some(link) = self.link.as_mut()
                    && let Some(cursor) = link.cursor
                    && report
                        .offers
                        .iter()
                        .any(|o| matches!(o, Offer::Accepted(k) if *k < cursor))
                {
                    link.cursor = None;
                }
                for (offer, mut msg) in report.offers.iter().zip(batch) {
                    // Durable (or refused) now: the producer hears about it when
                    // the receipt drops, not when an observer gets round to it.
                    let receipt = msg.receipt.take();
                    match offer {
                        Offer::Accepted(_) => {
                            accepted += 1;
                            let _ = self.observers.send(msg);
                        }
                        Offer::Refused => {
                            if let Some(r) = &receipt {
                                r.fail();
                            }
                            self.metrics.queue.refused(1);
                        }
                    }
                }
                self.metrics.upstream_accepted(accepted);
                if report.dropped_oldest > 0 || accepted < report.offers.len() as u64 {
                    tracing::warn!(
                        dropped_oldest = report.dropped_oldest,
                        refused = report.offers.len() as u64 - accepted,
                        "the $upstream queue is full"
                    );
                }
            }
            Err(e) => {
                self.metrics.queue.store_error();
                tracing::error!("cannot queue messages for $upstream: {e}");
            }
        }
    }

    /// Publishes queued messages until the in-flight window is full. It
    /// waits until a quarter of the window is free (or nothing is in flight),
    /// so that each read from the store fetches a batch.
    async fn fill(&mut self) {
        let Some(link) = &self.link else { return };
        let in_flight = link.in_flight.len();
        let room = self.window.saturating_sub(in_flight);
        if room == 0 || (in_flight > 0 && room < self.window / 4) {
            return;
        }
        let waiting = {
            let guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
            guard.depth()
        };
        if waiting <= in_flight as u64 {
            return;
        }
        let skip: HashSet<QueueKey> = link.in_flight.keys().copied().collect();
        let after = link.cursor;
        let batch = with_store(&self.store, move |s| {
            s.next_batch_after(after, room, |k| skip.contains(k))
        })
        .await;
        let (batch, expired) = match batch {
            Ok(b) => b,
            Err(e) => {
                self.metrics.queue.store_error();
                tracing::error!("cannot read the $upstream queue: {e}");
                return;
            }
        };
        self.metrics.queue.expired(expired);
        let Some(link) = &mut self.link else { return };
        let now = now_ms();
        for (key, record) in batch {
            let out = to_publish(&record, now);
            let properties = PublishProperties {
                payload_format_indicator: None,
                message_expiry_interval: Some(out.expiry_secs),
                topic_alias: None,
                response_topic: None,
                correlation_data: out.correlation_data.map(Into::into),
                user_properties: out.user_properties,
                subscription_identifiers: Vec::new(),
                content_type: out.content_type,
            };
            match link.client.try_publish_with_properties(
                self.topic.clone(),
                QoS::AtLeastOnce,
                false,
                out.payload,
                properties,
            ) {
                Ok(()) => {
                    link.in_flight.published(key);
                    link.cursor = Some(key);
                }
                Err(e) => {
                    tracing::debug!("the MQTT client is busy: {e}");
                    break;
                }
            }
        }
    }

    /// Applies link events; returns whether the window may have room.
    async fn on_link(&mut self, events: Vec<LinkEvent>) {
        let mut done: Vec<QueueKey> = Vec::new();
        for event in events {
            match event {
                LinkEvent::Connected { generation, client } => {
                    self.metrics.queue.set_connected(true);
                    self.link = Some(Link {
                        generation,
                        client,
                        in_flight: InFlight::default(),
                        cursor: None,
                    });
                }
                LinkEvent::Sent { generation, pkid } => {
                    if let Some(link) = self.link.as_mut().filter(|l| l.generation == generation) {
                        link.in_flight.sent(pkid);
                    }
                }
                LinkEvent::Acked { generation, pkid } => {
                    if let Some(link) = self.link.as_mut().filter(|l| l.generation == generation)
                        && let Some(key) = link.in_flight.acked(pkid)
                    {
                        done.push(key);
                    }
                }
                LinkEvent::Refused {
                    generation,
                    pkid,
                    reason,
                } => {
                    if let Some(link) = self.link.as_mut().filter(|l| l.generation == generation)
                        && link.in_flight.park(pkid).is_some()
                    {
                        self.metrics.queue.broker_refused();
                        tracing::error!(
                            "the broker refused a message ({reason}); it stays queued until the next connection"
                        );
                    }
                }
                LinkEvent::Disconnected {
                    generation, reason, ..
                } => {
                    self.metrics.queue.set_link_error(&reason);
                    if self
                        .link
                        .as_ref()
                        .is_some_and(|l| l.generation == generation)
                    {
                        self.link = None;
                        self.metrics.queue.set_connected(false);
                    }
                }
            }
        }
        if !done.is_empty() {
            let n = done.len() as u64;
            let removed = with_store(&self.store, move |s| s.remove_many(&done)).await;
            match removed {
                Ok(_) => self.metrics.queue.delivered(n),
                Err(e) => {
                    self.metrics.queue.store_error();
                    tracing::error!(
                        "cannot remove delivered messages: {e}; they will be sent again"
                    );
                }
            }
        }
    }
}

/// Runs the sink until the router drops its sender, then flushes.
pub async fn run(store: Store, io: UpstreamIo) {
    let UpstreamIo {
        mut rx,
        link,
        metrics,
        observers,
        flush,
    } = io;
    let (mut link_rx, topic, window) = match link {
        Some((rx, device, window)) => (Some(rx), telemetry_topic(&device), usize::from(window)),
        None => (None, String::new(), 0),
    };
    let mut sink = Sink {
        store: Arc::new(Mutex::new(store)),
        metrics,
        observers,
        link: None,
        topic,
        window,
        flush,
        pending: Vec::new(),
        commit_at: None,
    };
    tracing::info!(policy = %flush, "the $upstream queue's flush policy");
    sink.publish_size();
    let mut sweep = tokio::time::interval(EXPIRY_SWEEP);
    sweep.tick().await;
    // What no acceptance synced (removals; everything, under the periodic
    // policy) is synced this often.
    let mut sync = tokio::time::interval(flush.background_flush());
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sync.tick().await;
    loop {
        let commit_at = sink.commit_at;
        tokio::select! {
            first = rx.recv() => {
                let Some(first) = first else { break };
                sink.receive(first, &mut rx).await;
            }
            () = async { match commit_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                sink.commit().await;
            }
            event = async { match link_rx.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => {
                let Some(event) = event else {
                    link_rx = None;
                    continue;
                };
                let mut events = vec![event];
                if let Some(r) = link_rx.as_mut() {
                    while let Ok(e) = r.try_recv() {
                        events.push(e);
                    }
                }
                sink.on_link(events).await;
            }
            _ = sync.tick() => {
                if let Err(e) = with_store(&sink.store, Store::sync_queue).await {
                    sink.metrics.queue.store_error();
                    tracing::error!("cannot sync the $upstream queue: {e}");
                }
            }
            _ = sweep.tick() => {
                match with_store(&sink.store, Store::expire).await {
                    Ok(0) => {}
                    Ok(n) => {
                        sink.metrics.queue.expired(n);
                        tracing::info!(expired = n, "expired $upstream messages removed unsent");
                    }
                    Err(e) => tracing::error!("cannot sweep expired messages: {e}"),
                }
            }
        }
        sink.fill().await;
        sink.publish_size();
    }
    sink.commit().await;
    if let Err(e) = with_store(&sink.store, |s| s.flush()).await {
        tracing::error!("cannot flush the store at shutdown: {e}");
    }
}
