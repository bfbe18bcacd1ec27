//! The `$upstream` sink: the task that owns the durable queue and, when a cloud
//! connection is configured, what is in flight on it.
//!
//! - It takes the router's messages in batches and appends each batch to the
//!   queue's log at once. Appending is a write into the kernel's page cache,
//!   done on this task; only the sync (`fdatasync`, the wait for the device)
//!   runs on the blocking pool, one at a time, while this task goes on
//!   appending and publishing. Under the default flush policy a message
//!   counts as accepted (its receipt released, observers told) once a sync
//!   covers it: a sync starts when a page's worth of records waits, or when
//!   the oldest has waited the policy's window (group commit), and the next
//!   one when it is done. Under the periodic policy a message counts once
//!   appended (see [`crate::store::flush`]).
//! - While connected it keeps up to the in-flight window published, in queue
//!   order (priority, then arrival), and deletes each message only when the
//!   broker's PUBACK for it arrives. A message may be published before its
//!   sync is done: a crash then loses nothing acknowledged, since its
//!   producer has no acknowledgement yet and sends it again. A dropped
//!   connection leaves everything queued; the next connection sends it again.
//! - It sweeps out expired messages.
//!
//! With no cloud connection the queue only fills; status shows its depth.

use crate::envelope::UpstreamMessage;
use crate::message::now_ms;
use crate::metrics::Metrics;
use crate::store::flush::FlushPolicy;
use crate::store::log::SyncJob;
use crate::store::queue::{InFlight, QueueKey};
use crate::store::{Offer, Store};
use crate::uplink::LinkEvent;
use crate::uplink::publish::{telemetry_topic, to_publish};
use crate::wait;
use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

/// The most messages appended in one write.
pub const ACCEPT_BATCH: usize = 256;
/// How often expired messages are swept out.
pub const EXPIRY_SWEEP: Duration = Duration::from_secs(30);
/// Once this many bytes wait for a sync it starts without waiting for the
/// window: a sync writes whole pages, so waiting past a page's worth of
/// records saves no writes.
pub const SYNC_BYTES: u64 = 4096;

/// A sync on the blocking pool, and how it went.
type Syncing = JoinHandle<(SyncJob, std::io::Result<()>)>;

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

/// The cloud link as the sink sees it, published on a `watch` channel whose
/// only writer is the sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Whether a connection is up.
    pub connected: bool,
    /// Why the last connection went down or failed (a refused certificate, a
    /// wrong password), until the next one is up.
    pub error: Option<String>,
}

/// A question to the sink (from the metrics endpoint): when the message that
/// has waited longest in the queue was made, in ms since the Unix epoch.
pub type OldestQuestion = oneshot::Sender<Option<u64>>;

/// How many questions may wait for the sink to answer.
pub const QUESTIONS: usize = 4;

/// What the sink works with.
pub struct UpstreamIo {
    /// Messages from the router.
    pub rx: mpsc::Receiver<UpstreamMessage>,
    /// Events from the cloud connection, if one is configured, and the device
    /// id its topics use.
    pub link: Option<(mpsc::Receiver<LinkEvent>, String, u16)>,
    /// The gateway's counters.
    pub metrics: Arc<Metrics>,
    /// Where the sink publishes the link's state.
    pub link_state: watch::Sender<LinkState>,
    /// Who hears about each accepted message.
    pub observers: broadcast::Sender<UpstreamMessage>,
    /// When a batch is flushed, and whether acceptance waits for it.
    pub flush: FlushPolicy,
    /// Questions about the queue, answered between the sink's other work.
    pub questions: mpsc::Receiver<OldestQuestion>,
}

/// Appended messages that count as accepted once a sync reaches `mark`.
struct Waiting {
    mark: u64,
    since: Instant,
    messages: Vec<UpstreamMessage>,
}

struct Sink {
    store: Store,
    metrics: Arc<Metrics>,
    link_state: watch::Sender<LinkState>,
    observers: broadcast::Sender<UpstreamMessage>,
    link: Option<Link>,
    topic: String,
    window: usize,
    flush: FlushPolicy,
    /// What waits for a sync, oldest first (durable policy only).
    waiting: VecDeque<Waiting>,
    /// The sync running, if one is.
    syncing: Option<Syncing>,
}

impl Sink {
    fn publish_size(&self) {
        self.metrics
            .queue
            .set_size(self.store.depth(), self.store.used_bytes());
    }

    /// Takes a message from the router, and whatever else is ready, and
    /// appends them.
    fn receive(&mut self, first: UpstreamMessage, rx: &mut mpsc::Receiver<UpstreamMessage>) {
        let mut batch = vec![first];
        while batch.len() < ACCEPT_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        self.accept(batch);
    }

    fn accept(&mut self, batch: Vec<UpstreamMessage>) {
        let report = match self.store.write(&batch) {
            Ok(report) => report,
            Err(e) => {
                for r in batch.iter().filter_map(|m| m.receipt.as_ref()) {
                    r.fail();
                }
                self.metrics.queue.store_error();
                tracing::error!("cannot queue messages for $upstream: {e}");
                return;
            }
        };
        // The depth counts the batch before any observer hears of it.
        self.publish_size();
        self.metrics.queue.dropped_oldest(report.dropped_oldest);
        if let Some(link) = self.link.as_mut()
            && let Some(cursor) = link.cursor
            && report
                .offers
                .iter()
                .any(|o| matches!(o, Offer::Accepted(k) if *k < cursor))
        {
            link.cursor = None;
        }
        let mut accepted = Vec::with_capacity(batch.len());
        for (offer, mut msg) in report.offers.iter().zip(batch) {
            match offer {
                Offer::Accepted(_) => accepted.push(msg),
                Offer::Refused => {
                    if let Some(r) = msg.receipt.take() {
                        r.fail();
                    }
                    self.metrics.queue.refused(1);
                }
            }
        }
        let refused = report.offers.len() - accepted.len();
        if report.dropped_oldest > 0 || refused > 0 {
            tracing::warn!(
                dropped_oldest = report.dropped_oldest,
                refused,
                "the $upstream queue is full"
            );
        }
        if accepted.is_empty() {
            return;
        }
        if self.flush.acknowledges_after_flush() {
            self.waiting.push_back(Waiting {
                mark: self.store.written(),
                since: Instant::now(),
                messages: accepted,
            });
        } else {
            self.release(accepted);
        }
    }

    /// Counts messages as accepted: their receipts are released and the
    /// observers hear of them.
    fn release(&mut self, messages: Vec<UpstreamMessage>) {
        self.metrics.upstream_accepted(messages.len() as u64);
        for mut msg in messages {
            // The producer hears about it when the receipt drops, not when an
            // observer gets round to it.
            let receipt = msg.receipt.take();
            let _ = self.observers.send(msg);
            drop(receipt);
        }
    }

    /// When the oldest waiting message must be synced by.
    fn sync_due(&self) -> Option<Instant> {
        let oldest = self.waiting.front()?;
        Some(oldest.since + self.flush.window())
    }

    /// Starts a sync on the blocking pool if none is running and one is
    /// due: `always` (the background tick), a page's worth waiting, or the
    /// oldest waiting message's window over.
    fn maybe_sync(&mut self, always: bool) {
        if self.syncing.is_some() {
            return;
        }
        let durable = self.flush.acknowledges_after_flush();
        let due = always
            || (durable && self.store.unsynced_bytes() >= SYNC_BYTES && !self.waiting.is_empty())
            || self.sync_due().is_some_and(|at| at <= Instant::now());
        if !due {
            return;
        }
        match self.store.plan_sync() {
            Ok(Some(job)) => {
                self.syncing = Some(tokio::task::spawn_blocking(move || {
                    let result = job.run();
                    (job, result)
                }));
            }
            Ok(None) => {
                // Nothing is left unsynced, so whatever waits is durable.
                let all = self.take_waiting(u64::MAX);
                self.release(all);
            }
            Err(e) => {
                self.metrics.queue.store_error();
                tracing::error!("cannot start a sync of the $upstream queue: {e}");
                self.fail_waiting(u64::MAX);
            }
        }
    }

    /// Applies a finished sync: what it covered is accepted, or, if it
    /// failed, refused (the kernel may have dropped the pages it could not
    /// write, so only the producer's copy is safe; it sends it again).
    fn synced(&mut self, done: Result<(SyncJob, std::io::Result<()>), JoinError>) {
        self.syncing = None;
        let (job, result) = match done {
            Ok(done) => done,
            Err(e) => {
                self.metrics.queue.store_error();
                tracing::error!("a sync of the $upstream queue did not finish: {e}");
                self.fail_waiting(u64::MAX);
                return;
            }
        };
        let mark = job.mark();
        self.store.sync_done(job, &result);
        if let Err(e) = result {
            self.metrics.queue.store_error();
            tracing::error!(
                "cannot sync the $upstream queue: {e}; what it held is refused, for its producers to send again"
            );
            self.fail_waiting(mark);
            return;
        }
        let durable = self.take_waiting(mark);
        self.release(durable);
    }

    /// Takes the waiting messages that a sync up to `mark` covers.
    fn take_waiting(&mut self, mark: u64) -> Vec<UpstreamMessage> {
        let mut covered = Vec::new();
        while let Some(w) = self.waiting.pop_front_if(|w| w.mark <= mark) {
            covered.extend(w.messages);
        }
        covered
    }

    /// Refuses the waiting messages up to `mark`.
    fn fail_waiting(&mut self, mark: u64) {
        for r in self
            .take_waiting(mark)
            .iter()
            .filter_map(|m| m.receipt.as_ref())
        {
            r.fail();
        }
    }

    /// Publishes queued messages until the in-flight window is full. It
    /// waits until a quarter of the window is free (or nothing is in flight),
    /// so that each read from the store fetches a batch.
    fn fill(&mut self) {
        let Some(link) = &self.link else { return };
        let in_flight = link.in_flight.len();
        let room = self.window.saturating_sub(in_flight);
        if room == 0 || (in_flight > 0 && room < self.window / 4) {
            return;
        }
        if self.store.depth() <= in_flight as u64 {
            return;
        }
        let after = link.cursor;
        let in_flight = &link.in_flight;
        let batch = self
            .store
            .next_batch_after(after, room, |k| in_flight.contains(k));
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
    fn on_link(&mut self, events: Vec<LinkEvent>) {
        let mut done: Vec<QueueKey> = Vec::new();
        for event in events {
            match event {
                LinkEvent::Connected { generation, client } => {
                    self.metrics.queue.connected();
                    self.link_state.send_replace(LinkState {
                        connected: true,
                        error: None,
                    });
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
                    self.link_state.send_modify(|l| l.error = Some(reason));
                    if self
                        .link
                        .as_ref()
                        .is_some_and(|l| l.generation == generation)
                    {
                        self.link = None;
                        self.link_state.send_modify(|l| l.connected = false);
                    }
                }
            }
        }
        if !done.is_empty() {
            let n = done.len() as u64;
            let removed = self.store.remove_many(&done);
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
        link_state,
        observers,
        flush,
        mut questions,
    } = io;
    let mut asked = true;
    let (mut link_rx, topic, window) = match link {
        Some((rx, device, window)) => (Some(rx), telemetry_topic(&device), usize::from(window)),
        None => (None, String::new(), 0),
    };
    let mut sink = Sink {
        store,
        metrics,
        link_state,
        observers,
        link: None,
        topic,
        window,
        flush,
        waiting: VecDeque::new(),
        syncing: None,
    };
    tracing::info!(policy = %flush, "the $upstream queue's flush policy");
    sink.publish_size();
    let mut sweep = tokio::time::interval(EXPIRY_SWEEP);
    sweep.tick().await;
    // What no acceptance synced (removals; everything, under the periodic
    // policy) is synced this often.
    let mut background = tokio::time::interval(flush.background_flush());
    background.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    background.tick().await;
    loop {
        let due = match sink.syncing {
            None => sink.sync_due(),
            Some(_) => None,
        };
        tokio::select! {
            first = rx.recv() => {
                let Some(first) = first else { break };
                sink.receive(first, &mut rx);
            }
            () = wait::until(due) => {}
            done = wait::output(sink.syncing.as_mut()) => {
                sink.synced(done);
            }
            event = wait::recv(link_rx.as_mut()) => {
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
                sink.on_link(events);
            }
            question = questions.recv(), if asked => match question {
                Some(reply) => {
                    let _ = reply.send(sink.store.oldest_created_ms());
                }
                None => asked = false,
            },
            _ = background.tick() => sink.maybe_sync(true),
            _ = sweep.tick() => {
                match sink.store.expire() {
                    Ok(0) => {}
                    Ok(n) => {
                        sink.metrics.queue.expired(n);
                        tracing::info!(expired = n, "expired $upstream messages removed unsent");
                    }
                    Err(e) => tracing::error!("cannot sweep expired messages: {e}"),
                }
            }
        }
        sink.maybe_sync(false);
        sink.fill();
        sink.publish_size();
    }
    if let Some(syncing) = sink.syncing.take() {
        let done = syncing.await;
        sink.synced(done);
    }
    // The last flush, on this task: nothing else is left to run on it.
    match sink.store.flush() {
        Ok(()) => {
            let all = sink.take_waiting(u64::MAX);
            sink.release(all);
        }
        Err(e) => {
            tracing::error!("cannot flush the store at shutdown: {e}");
            sink.fail_waiting(u64::MAX);
        }
    }
}
