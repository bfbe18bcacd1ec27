//! Ingest: an MQTT 5 session to the gateway's local broker, where leaf devices
//! publish. Each configured topic filter (e.g. `sensors/+/telemetry`) becomes a
//! source of routed messages; the topic level under the filter's first `+` is
//! the message's `$connectionDeviceId`.
//!
//! A leaf's QoS 1 message is acknowledged to the broker only once every copy is
//! safe: flushed into the `$upstream` queue, or handled by the module it was
//! routed to with everything that call sent safe in turn (see
//! [`crate::receipt`]). The session is persistent, so whatever the gateway had
//! not acknowledged when it stopped or crashed, the broker delivers again when
//! it comes back.
//!
//! A message that a full queue refused is routed again after a short pause,
//! and newer ones wait behind it meanwhile (the broker would resend it only on
//! a new connection, with every unacknowledged message behind it). It goes
//! again, with the same message id, only to the sinks that refused it (or
//! whose chain of modules refused what it led to), so a route that took it
//! does not get it twice.

use crate::backoff;
use crate::envelope::{Envelope, Producer};
use crate::manifest::IngestConfig;
use crate::message::{IdGenerator, MAX_MESSAGE_BYTES, Message, new_message, stamp_from_device};
use crate::metrics::Metrics;
use crate::receipt::{Outcome, Receipt};
use crate::route::Sink;
use crate::wait;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// The largest packet ingest takes from the local broker.
pub const MAX_LEAF_PACKET: u32 = (MAX_MESSAGE_BYTES + 64 * 1024) as u32;

/// How many QoS 1 messages may wait for their acknowledgement: the receive
/// maximum the session asks the broker for.
pub const PENDING_ACKS: u16 = 256;

/// How many unacknowledged messages ingest holds before it stops reading
/// from the broker. The receive maximum should bound them, but mosquitto
/// 2.0 sends past it while acknowledgements flow (BENCHMARKS.md, section 3):
/// past this, what the broker sends waits in its queue and the socket.
pub const PENDING_LIMIT: usize = 4 * PENDING_ACKS as usize;

/// Ingest reads again once this few are pending.
const PENDING_RESUME: usize = PENDING_LIMIT / 2;

/// The session's keep-alive.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// While reading is paused, the event loop is still polled this often, so
/// that the session's keep-alive holds when nothing is acknowledged (a module
/// in backoff holding the oldest message).
const POKE: Duration = Duration::from_secs(10);

/// Turns a leaf device's PUBLISH into a message.
fn to_message(p: &Publish, device: &str, ids: &IdGenerator) -> Message {
    let mut msg = new_message(p.payload.to_vec());
    if let Some(props) = &p.properties {
        for (k, v) in &props.user_properties {
            msg.properties.push((k.clone(), v.clone()));
        }
        msg.system.content_type = props.content_type.clone();
        msg.system.correlation_id = props
            .correlation_data
            .as_ref()
            .map(|c| String::from_utf8_lossy(c).into_owned());
    }
    stamp_from_device(&mut msg, device, ids);
    msg
}

/// A leaf's QoS 1 publish waiting for its acknowledgement.
struct Pending {
    /// What the acknowledgement answers (its packet id; not its payload,
    /// which lives on in the message).
    ack: Publish,
    /// The message made from it once, so that it keeps its id when it is
    /// routed again; `None` when no topic filter selects it.
    message: Option<Message>,
    state: State,
}

/// Where a pending publish is.
enum State {
    /// Not routed (yet, or again): it arrived, or was refused, while
    /// routing was held back. When refused, only these sinks (`None`: every
    /// sink) take it again.
    Unrouted(Option<Vec<Sink>>),
    /// Routed; its receipt's outcome arrives here.
    Routed(oneshot::Receiver<Outcome>),
    /// Safe: it may be acknowledged once the ones before it are.
    Safe,
}

/// The packet id and QoS of `publish`, which are all an acknowledgement
/// needs.
fn ack_for(publish: &Publish) -> Publish {
    let mut ack = Publish::new("", publish.qos, Vec::new(), None);
    ack.pkid = publish.pkid;
    ack
}

/// What a refused publish is routed again to; a receipt dropped unsettled
/// (the gateway stopping) counts as refused by every sink.
fn again(outcome: Result<Outcome, oneshot::error::RecvError>) -> Option<Option<Vec<Sink>>> {
    match outcome {
        Ok(Outcome::Safe) => None,
        Ok(Outcome::RefusedBy(sinks)) => Some(Some(sinks)),
        Ok(Outcome::RefusedAll) | Err(_) => Some(None),
    }
}

/// The first pause before refused leaf messages are routed again.
const RETRY_FIRST: Duration = Duration::from_millis(2);

/// The longest pause between attempts to route refused leaf messages (a
/// module that stays full).
const RETRY_CAP: Duration = Duration::from_millis(200);

/// Resolves when the oldest pending publish has its outcome. An unrouted
/// one has none until it is routed.
async fn oldest_outcome(pending: &mut VecDeque<Pending>) -> Outcome {
    match pending.front_mut().map(|p| &mut p.state) {
        Some(State::Routed(outcome)) => outcome.await.unwrap_or(Outcome::RefusedAll),
        Some(State::Safe) => Outcome::Safe,
        Some(State::Unrouted(_)) | None => std::future::pending().await,
    }
}

/// A leaf publish as a message, or `None` when no topic filter selects it.
fn select(config: &IngestConfig, ids: &IdGenerator, publish: &Publish) -> Option<Message> {
    let topic = String::from_utf8_lossy(&publish.topic);
    let Some(device) = config.topics.iter().find_map(|t| t.device(&topic)) else {
        tracing::debug!(%topic, "a message on a topic no filter selects");
        return None;
    };
    Some(to_message(publish, device, ids))
}

/// Routes a pending publish (again, to `only_to`, after a refusal): its state
/// becomes routed, or safe when there is nothing to keep safe. `Err` when the
/// gateway is stopping.
async fn route(
    router: &mpsc::Sender<Envelope>,
    shutdown: &mut watch::Receiver<bool>,
    p: &mut Pending,
    only_to: Option<Vec<Sink>>,
) -> Result<(), Ended> {
    let Some(message) = &p.message else {
        p.state = State::Safe;
        return Ok(());
    };
    let device = message
        .system
        .connection_device_id
        .clone()
        .unwrap_or_default();
    let (receipt, outcome) = Receipt::new();
    let mut envelope = Envelope::new(Producer::Device(device), message.clone(), Some(receipt));
    envelope.only_to = only_to;
    tokio::select! {
        _ = shutdown.changed() => Err(Ended::Shutdown),
        sent = router.send(envelope) => match sent {
            Ok(()) => {
                p.state = State::Routed(outcome);
                Ok(())
            }
            Err(_) => Err(Ended::Shutdown),
        }
    }
}

/// Routes again every pending publish that is unrouted or known to have
/// been refused, in order, to the sinks that refused it; the others keep
/// waiting for their outcome.
async fn route_again(
    router: &mpsc::Sender<Envelope>,
    shutdown: &mut watch::Receiver<bool>,
    pending: &mut VecDeque<Pending>,
) -> Result<(), Ended> {
    for p in pending.iter_mut() {
        let only_to = match &mut p.state {
            State::Unrouted(only_to) => only_to.take(),
            State::Safe => continue,
            State::Routed(outcome) => match outcome.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => continue,
                Ok(outcome) => match again(Ok(outcome)) {
                    Some(only_to) => only_to,
                    None => {
                        p.state = State::Safe;
                        continue;
                    }
                },
                Err(oneshot::error::TryRecvError::Closed) => None,
            },
        };
        route(router, shutdown, p, only_to).await?;
    }
    Ok(())
}

/// Why one connection to the local broker ended.
enum Ended {
    /// The gateway is stopping.
    Shutdown,
    /// The connection failed or must be renewed; retry after a backoff.
    Retry(String),
}

/// Runs the ingest session until shutdown.
pub async fn run(
    config: IngestConfig,
    router: mpsc::Sender<Envelope>,
    ids: Arc<IdGenerator>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    metrics.ingest.started();
    let mut failures = 0u32;
    loop {
        let session = Session {
            config: &config,
            router: &router,
            ids: &ids,
            metrics: &metrics,
        };
        let reason = match session.connection(&mut shutdown, &mut failures).await {
            Ended::Shutdown => return,
            Ended::Retry(reason) => reason,
        };
        metrics.ingest.set_connected(false);
        let retry_in = backoff::RECONNECT.jittered(failures, backoff::jitter());
        failures = failures.saturating_add(1);
        tracing::warn!(host = %config.host, port = config.port, "local broker session: {reason}; reconnecting in {retry_in:?}");
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(retry_in) => {}
        }
    }
}

/// What one connection works with.
struct Session<'a> {
    config: &'a IngestConfig,
    router: &'a mpsc::Sender<Envelope>,
    ids: &'a IdGenerator,
    metrics: &'a Metrics,
}

impl Session<'_> {
    /// One connection: subscribes, routes what arrives, and acknowledges
    /// each QoS 1 publish, in arrival order, once its receipt says it is
    /// safe. When one was refused (a module's input queue was full), routing
    /// is held back for a pause that doubles up to [`RETRY_CAP`] while
    /// refusals go on, then the refused ones and those that arrived meanwhile
    /// are routed again.
    ///
    /// The acknowledgements go out through the event loop, and it reads
    /// whatever the broker sent whenever it is polled. So it is polled
    /// whenever fewer than [`PENDING_LIMIT`] messages are pending; past that
    /// it is left alone (except for a poke every [`POKE`] for the
    /// keep-alive) until they come down to [`PENDING_RESUME`], which needs
    /// no polling: the receipts settle on their own, and their
    /// acknowledgements wait to be written until reading resumes.
    async fn connection(&self, shutdown: &mut watch::Receiver<bool>, failures: &mut u32) -> Ended {
        let config = self.config;
        let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
        options
            .set_network_options(crate::uplink::network_options())
            .set_clean_start(false)
            .set_session_expiry_interval(Some(u32::MAX))
            .set_manual_acks(true)
            .set_receive_maximum(Some(PENDING_ACKS))
            // Room for the largest message a route takes, with its
            // properties; the broker does not send larger ones.
            .set_max_packet_size(Some(MAX_LEAF_PACKET))
            .set_keep_alive(KEEP_ALIVE);
        let (client, mut eventloop) =
            AsyncClient::new(options, usize::from(PENDING_ACKS) + config.topics.len());
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut acks: VecDeque<Publish> = VecDeque::new();
        // After a refusal: when to route the refused (and newly arrived)
        // messages again, and the pause after that if one is refused again.
        let mut retry: Option<tokio::time::Instant> = None;
        let mut pause = RETRY_FIRST;
        // Whether the event loop is polled, and when it last returned.
        let mut reading = true;
        let mut poking = false;
        let mut polled = tokio::time::Instant::now();
        loop {
            if reading && pending.len() >= PENDING_LIMIT {
                reading = false;
                self.metrics.ingest.read_paused();
                tracing::debug!(
                    pending = pending.len(),
                    "the local broker sends past the receive maximum; reading paused"
                );
            } else if !reading && pending.len() <= PENDING_RESUME {
                reading = true;
            }
            self.metrics.ingest.set_pending(pending.len());
            tokio::select! {
                // First: once the gateway stops, receipts that the stop drops
                // (with module queues) must not be taken for safe ones.
                biased;
                _ = shutdown.changed() => return Ended::Shutdown,
                _ = wait::until(retry), if retry.is_some() => {
                    retry = None;
                    if let Err(ended) = route_again(self.router, shutdown, &mut pending).await {
                        return ended;
                    }
                }
                outcome = oldest_outcome(&mut pending), if retry.is_none() => {
                    if let Some(only_to) = again(Ok(outcome)) {
                        // Refused (a full queue). Hold routing back for a
                        // pause, so that the module drains its queue, then
                        // route this one and what was refused or arrived
                        // meanwhile again. The acknowledgements wait, since
                        // MQTT sends them in order.
                        tracing::debug!(?pause, "a leaf message was not taken (a full queue?); routing it again");
                        if let Some(head) = pending.front_mut() {
                            head.state = State::Unrouted(only_to);
                        }
                        retry = Some(tokio::time::Instant::now() + pause);
                        pause = (pause * 2).min(RETRY_CAP);
                        continue;
                    }
                    pause = RETRY_FIRST;
                    let Some(p) = pending.pop_front() else { continue };
                    acks.push_back(p.ack);
                    send_acks(&client, &mut acks);
                }
                _ = tokio::time::sleep_until(polled + POKE), if !reading && !poking => poking = true,
                event = eventloop.poll(), if reading || poking => {
                    poking = false;
                    polled = tokio::time::Instant::now();
                    send_acks(&client, &mut acks);
                    match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            *failures = 0;
                            self.metrics.ingest.set_connected(true);
                            for t in &config.topics {
                                if let Err(e) = client.try_subscribe(t.filter.clone(), QoS::AtLeastOnce) {
                                    return Ended::Retry(format!("cannot subscribe to `{}`: {e}", t.filter));
                                }
                            }
                            tracing::info!(host = %config.host, port = config.port, "ingesting from the local broker");
                        }
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            let at_least_once = publish.qos != QoS::AtMostOnce;
                            let message = select(config, self.ids, &publish);
                            let mut p = Pending { ack: ack_for(&publish), message, state: State::Unrouted(None) };
                            drop(publish);
                            // While refused messages wait, newer ones wait
                            // behind them.
                            if (retry.is_none() || !at_least_once)
                                && let Err(ended) = route(self.router, shutdown, &mut p, None).await
                            {
                                return ended;
                            }
                            if at_least_once {
                                pending.push_back(p);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => return Ended::Retry(e.to_string()),
                    }
                }
            }
        }
    }
}

/// Hands the event loop as many acknowledgements as its request channel
/// takes; the rest wait for the next turn (each poll drains the channel).
fn send_acks(client: &AsyncClient, acks: &mut VecDeque<Publish>) {
    while let Some(publish) = acks.front() {
        if client.try_ack(publish).is_err() {
            return;
        }
        acks.pop_front();
    }
}
