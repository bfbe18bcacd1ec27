//! The bench's MQTT side: the messages (bodies, sequence numbers, user
//! properties), the rumqttc subscriber and publisher (QoS 1), and the phases
//! run with them: a burst, a paced phase, and the probe that waits until the
//! gateway forwards.
//!
//! A phase knows how many copies of each message the subscriber should get
//! (an [`Expected`] function: one through the broker alone, one or none
//! through the filter, one or two when every leaf message also goes straight
//! to `$upstream`). A copy is told apart from another of the same message by
//! the `$route` user property the uplink adds (the baseline's have none), so a
//! copy that arrives again is counted as a duplicate, never as another copy.

use super::{BURST_LIMIT, LEAF_TOPIC, MESSAGES, PHASE_TIMEOUT};
use ganglion_benches::reading;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The user property that carries the send time (ns since the bench began).
const SENT: &str = "sentNs";
/// The user property that carries the bench's sequence number.
const SEQ: &str = "seq";
/// The user property in which the uplink names the route of a copy.
const ROUTE: &str = "$route";

/// How many copies of message `seq` the subscriber should get.
pub type Expected = fn(u64) -> usize;

/// A paced phase's rate and length.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Messages per second.
    pub rate: u32,
    /// How long it publishes, s.
    pub secs: u32,
}

impl Pace {
    /// How many messages the phase publishes.
    pub fn messages(self) -> u32 {
        self.rate * self.secs
    }
}

/// The two bodies the leaf alternates: one above the threshold, one below,
/// of the same length.
pub fn bodies() -> [Vec<u8>; 2] {
    let above = reading(26.5);
    let below = reading(23.5);
    assert_eq!(above.len(), below.len());
    [above, below]
}

/// What the subscriber saw of one message.
pub struct Arrival {
    at: Instant,
    /// The bench's sequence number; a readiness probe has none.
    seq: Option<u64>,
    /// The route that made this copy (`$route`); none through the broker
    /// alone.
    route: Option<String>,
    /// The send time, in the latency phases.
    sent_ns: Option<u64>,
}

/// A client id no other client of this broker has.
fn client_id(role: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "bench-{role}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reserves `n` sequence numbers for a phase: no two phases share one, so a
/// late duplicate of one phase is never taken for a message of another.
fn sequence(n: usize) -> Range<u64> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = NEXT.fetch_add(n as u64, Ordering::Relaxed);
    start..start + n as u64
}

/// Message `seq`'s body: even ones are above the threshold, odd ones below.
fn body_of(bodies: &[Vec<u8>; 2], seq: u64) -> Vec<u8> {
    bodies[(seq % 2) as usize].clone()
}

/// Through the broker alone: every message, once.
pub fn once(_seq: u64) -> usize {
    1
}

/// Through the filter: the readings above the threshold (even `seq`), once.
pub fn forwarded(seq: u64) -> usize {
    usize::from(seq.is_multiple_of(2))
}

/// Through the filter and straight to `$upstream`: every message straight,
/// and the ones above the threshold once more through the filter.
pub fn forwarded_and_straight(seq: u64) -> usize {
    1 + forwarded(seq)
}

/// How many copies the subscriber should get of the messages `seqs`.
fn copies(seqs: &Range<u64>, expected: Expected) -> usize {
    seqs.clone().map(expected).sum()
}

/// The user properties of a bench message.
fn properties(seq: u64, sent_ns: Option<u64>) -> PublishProperties {
    let mut user_properties = vec![(SEQ.to_string(), seq.to_string())];
    if let Some(sent) = sent_ns {
        user_properties.push((SENT.to_string(), sent.to_string()));
    }
    PublishProperties {
        user_properties,
        ..Default::default()
    }
}

/// A QoS 1 subscriber to `topic`; returns once the broker granted it, with
/// every arrival from then on.
pub async fn subscriber(port: u16, topic: &str) -> mpsc::UnboundedReceiver<Arrival> {
    let mut options = MqttOptions::new(client_id("sub"), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _client = client;
        let mut ready_tx = Some(ready_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(r) = ready_tx.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let at = Instant::now();
                    let props = p.properties.map(|p| p.user_properties).unwrap_or_default();
                    let find = |key: &str| {
                        props
                            .iter()
                            .find(|(k, _)| k == key)
                            .map(|(_, v)| v.parse::<u64>().unwrap())
                    };
                    let route = props
                        .iter()
                        .find(|(k, _)| k == ROUTE)
                        .map(|(_, v)| v.clone());
                    let arrival = Arrival {
                        at,
                        seq: find(SEQ),
                        route,
                        sent_ns: find(SENT),
                    };
                    if tx.send(arrival).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // The broker is stopped at the end of each run; a phase that
                // misses its messages fails on its own timeout.
                Err(_) => return,
            }
        }
    });
    ready.await.unwrap();
    rx
}

/// A connected QoS 1 publisher (in-flight window 65, as the durability bench).
pub async fn publisher(port: u16) -> AsyncClient {
    let mut options = MqttOptions::new(client_id("pub"), "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_outgoing_inflight_upper_limit(65);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut ready_tx = Some(ready_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(r) = ready_tx.take() {
                        let _ = r.send(());
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    ready.await.unwrap();
    client
}

/// What a phase's subscriber got: the first arrival of each expected copy,
/// and how many copies arrived again.
struct Collected {
    first: Vec<Arrival>,
    duplicates: usize,
    /// Whether every expected message arrived before the deadline.
    complete: bool,
}

/// Waits until every copy of the messages `seqs` that `expected` counts has
/// arrived, or until `deadline`; anything else (probes, late copies of an
/// earlier phase) is skipped. A copy is a message's sequence number and its
/// route.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Arrival>,
    seqs: &Range<u64>,
    expected: Expected,
    deadline: Instant,
    what: &str,
) -> Collected {
    let n = copies(seqs, expected);
    let mut seen: HashSet<(u64, Option<String>)> = HashSet::with_capacity(n);
    let mut routes: HashMap<u64, usize> = HashMap::with_capacity(n);
    let mut got = Collected {
        first: Vec::with_capacity(n),
        duplicates: 0,
        complete: false,
    };
    let deadline = tokio::time::Instant::from_std(deadline);
    while got.first.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(a)) => match a.seq {
                Some(s) if seqs.contains(&s) => {
                    if seen.insert((s, a.route.clone())) {
                        let copies = routes.entry(s).or_default();
                        *copies += 1;
                        assert!(
                            *copies <= expected(s),
                            "{what}: message {s} came by {copies} routes, {} expected \
                             (the last: {:?})",
                            expected(s),
                            a.route
                        );
                        got.first.push(a);
                    } else {
                        got.duplicates += 1;
                    }
                }
                _ => {}
            },
            Ok(None) => panic!(
                "{what}: the subscriber stopped after {} of {n}",
                got.first.len()
            ),
            Err(_) => return got,
        }
    }
    got.complete = true;
    got
}

/// Lets late copies of `seqs` arrive until the subscriber has been quiet for
/// half a second; returns how many came.
pub async fn settle(rx: &mut mpsc::UnboundedReceiver<Arrival>, seqs: &Range<u64>) -> usize {
    let mut late = 0;
    while let Ok(Some(a)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        if a.seq.is_some_and(|s| seqs.contains(&s)) {
            late += 1;
        }
    }
    late
}

/// What a burst measured.
pub struct Burst {
    /// MESSAGES / (arrival of the last expected copy − first publish); when
    /// `capped`, MESSAGES / BURST_LIMIT, which is more than the true figure.
    pub rate: f64,
    /// How many copies the subscriber was to get (and, unless capped, got).
    pub delivered: usize,
    /// Copies that arrived more than once (counted until the subscriber was
    /// quiet again, unless capped).
    pub duplicates: usize,
    /// Whether the burst ran into BURST_LIMIT before every message arrived.
    pub capped: bool,
}

/// Publishes `MESSAGES` messages as fast as the client takes them, and waits
/// for the expected copies for at most BURST_LIMIT.
pub async fn burst(
    client: &AsyncClient,
    topic: &str,
    rx: &mut mpsc::UnboundedReceiver<Arrival>,
    expected: Expected,
    what: &str,
) -> Burst {
    let bodies = bodies();
    let seqs = sequence(MESSAGES);
    let start = Instant::now();
    for seq in seqs.clone() {
        client
            .publish_with_properties(
                topic,
                QoS::AtLeastOnce,
                false,
                body_of(&bodies, seq),
                properties(seq, None),
            )
            .await
            .unwrap();
    }
    let got = collect(rx, &seqs, expected, start + BURST_LIMIT, what).await;
    let delivered = copies(&seqs, expected);
    if !got.complete {
        eprintln!(
            "{what}: {} of {delivered} forwarded copies arrived within {BURST_LIMIT:?}",
            got.first.len(),
        );
        return Burst {
            rate: MESSAGES as f64 / BURST_LIMIT.as_secs_f64(),
            delivered,
            duplicates: got.duplicates,
            capped: true,
        };
    }
    let end = got.first.iter().map(|a| a.at).max().unwrap();
    Burst {
        rate: MESSAGES as f64 / (end - start).as_secs_f64(),
        delivered,
        duplicates: got.duplicates + settle(rx, &seqs).await,
        capped: false,
    }
}

/// Publishes `pace.rate` messages a second for `pace.secs` s from a thread of
/// its own (sleeping to each message's due time, so no core spins), each with
/// its send time; returns the latency of each expected copy, in ms (so as
/// many as the subscriber was to get).
pub async fn paced(
    client: &AsyncClient,
    topic: &str,
    rx: &mut mpsc::UnboundedReceiver<Arrival>,
    expected: Expected,
    pace: Pace,
    origin: Instant,
    what: &str,
) -> Vec<f64> {
    let seqs = sequence(pace.messages() as usize);
    let period = Duration::from_secs(1) / pace.rate;
    let (client, topic, handle, to_send) = (
        client.clone(),
        topic.to_string(),
        tokio::runtime::Handle::current(),
        seqs.clone(),
    );
    let sender = std::thread::spawn(move || {
        let bodies = bodies();
        let start = Instant::now();
        for (i, seq) in to_send.enumerate() {
            let due = start + period * i as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let sent = origin.elapsed().as_nanos() as u64;
            handle
                .block_on(client.publish_with_properties(
                    topic.as_str(),
                    QoS::AtLeastOnce,
                    false,
                    body_of(&bodies, seq),
                    properties(seq, Some(sent)),
                ))
                .unwrap();
        }
    });
    let got = collect(rx, &seqs, expected, Instant::now() + PHASE_TIMEOUT, what).await;
    assert!(
        got.complete,
        "{what}: {} of {} copies arrived within {PHASE_TIMEOUT:?}",
        got.first.len(),
        copies(&seqs, expected)
    );
    tokio::task::spawn_blocking(move || sender.join().unwrap())
        .await
        .unwrap();
    got.first
        .iter()
        .map(|a| {
            let sent = a
                .sent_ns
                .unwrap_or_else(|| panic!("{what}: the `{SENT}` user property was lost"));
            let at = (a.at - origin).as_nanos() as u64;
            at.saturating_sub(sent) as f64 / 1e6
        })
        .collect()
}

/// Publishes a reading above the threshold, with no sequence number, every
/// 200 ms until one comes through the gateway; then lets the stragglers in.
pub async fn until_ready(client: &AsyncClient, rx: &mut mpsc::UnboundedReceiver<Arrival>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "the gateway never forwarded a probe"
        );
        client
            .publish(LEAF_TOPIC, QoS::AtLeastOnce, false, reading(30.0))
            .await
            .unwrap();
        let tick = tokio::time::Instant::now() + Duration::from_millis(200);
        if let Ok(Some(a)) = tokio::time::timeout_at(tick, rx.recv()).await {
            assert!(
                a.seq.is_none(),
                "a bench message arrived before it was sent"
            );
            break;
        }
    }
    settle(rx, &(0..0)).await;
}
