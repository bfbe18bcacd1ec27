//! Durability, end to end with a real mosquitto and a real sled store:
//!
//! - **broker raw**: a QoS 1 publisher → mosquitto → a QoS 1 subscriber, the
//!   baseline measured in the same run;
//! - **accepted**: messages per second made durable in the `$upstream` queue
//!   (written and flushed; an observer hears of each only then);
//! - **drain**: messages per second delivered from a full queue once the
//!   broker is reachable (each deleted on its PUBACK), as a ratio against the
//!   broker raw rate.
//!
//! Run with `cargo bench -p ganglion-benches --bench durability` (or
//! `cargo xtask bench`, which puts the table into `BENCHMARKS.md`): a sample
//! per run, `RUNS` runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ganglion::message::new_message;
use ganglion::uplink::UplinkConfig;
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_benches::results::{Row, Table};
use ganglion_tests::broker::Broker;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::path::Path;
use std::time::{Duration, Instant};

const MESSAGES: usize = 20_000;
const RUNS: usize = 3;
const READING: &str = r#"{"machine":{"temperature":26.3,"pressure":1.9},"ambient":{"temperature":21.2,"humidity":25},"timeCreated":"2026-11-27T10:00:00.000Z"}"#;

/// A subscriber that counts what arrives on `topic`; returns when `n` did.
async fn subscriber(port: u16, topic: &str) -> tokio::sync::oneshot::Receiver<Instant> {
    let mut options = MqttOptions::new(format!("bench-sub-{}", rand_id()), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _client = client;
        let mut ready_tx = Some(ready_tx);
        let mut got = 0;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(_))) => {
                    got += 1;
                    if got == MESSAGES {
                        let _ = done_tx.send(Instant::now());
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("bench subscriber: {e}"),
            }
        }
    });
    ready.await.unwrap();
    done
}

fn rand_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Broker raw: messages per second, publisher to subscriber, QoS 1.
async fn broker_raw(broker: &Broker) -> f64 {
    let done = subscriber(broker.port(), "bench/raw").await;
    let mut options = MqttOptions::new(
        format!("bench-pub-{}", rand_id()),
        "127.0.0.1",
        broker.port(),
    );
    options.set_outgoing_inflight_upper_limit(65);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let start = Instant::now();
    for _ in 0..MESSAGES {
        client
            .publish("bench/raw", QoS::AtLeastOnce, false, READING)
            .await
            .unwrap();
    }
    let end = done.await.unwrap();
    MESSAGES as f64 / (end - start).as_secs_f64()
}

fn manifest(dir: &Path) -> Manifest {
    let text = "[routes]\nall = \"FROM /messages/* INTO $upstream\"\n";
    Manifest::load(&ganglion_tests::write_manifest(dir, text)).unwrap()
}

/// Accepted: messages per second made durable, with no cloud connection.
async fn accepted(dir: &Path) -> f64 {
    let mut gw = Gateway::start_with(&manifest(dir), &GatewayOptions::new(dir.join("data")))
        .await
        .unwrap();
    let mut observed = gw.subscribe_upstream();
    let counter = tokio::spawn(async move {
        let mut n = 0;
        while n < MESSAGES {
            match observed.recv().await {
                Ok(_) => n += 1,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => n += k as usize,
                Err(e) => panic!("observer: {e}"),
            }
        }
        Instant::now()
    });
    let start = Instant::now();
    for _ in 0..MESSAGES {
        gw.inject("bench", new_message(READING)).await.unwrap();
    }
    let end = counter.await.unwrap();
    let snap = gw.shutdown().await;
    assert_eq!(snap.queue.depth, MESSAGES as u64, "all of them queued");
    MESSAGES as f64 / (end - start).as_secs_f64()
}

/// Drain: messages per second from the full queue to the subscriber.
async fn drain(dir: &Path, broker: &Broker) -> f64 {
    let done = subscriber(broker.port(), "ganglion/bench-gw/messages/events").await;
    let mut options = GatewayOptions::new(dir.join("data"));
    options.uplink = Some(UplinkConfig::from_url(&broker.url(), "bench-gw").unwrap());
    let start = Instant::now();
    let gw = Gateway::start_with(&manifest(dir), &options).await.unwrap();
    let end = done.await.unwrap();
    gw.shutdown().await;
    MESSAGES as f64 / (end - start).as_secs_f64()
}

fn main() {
    ganglion::allocator::configure();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut raw, mut acc, mut drn) = (vec![], vec![], vec![]);
    runtime.block_on(async {
        for run in 0..RUNS {
            let dir = tempfile::tempdir().unwrap();
            let broker = Broker::start(dir.path()).unwrap();
            let r = broker_raw(&broker).await;
            let a = accepted(dir.path()).await;
            let d = drain(dir.path(), &broker).await;
            eprintln!("run {run}: broker raw {r:.0}/s, accepted {a:.0}/s, drain {d:.0}/s");
            raw.push(r);
            acc.push(a);
            drn.push(d);
        }
    });
    let rows = vec![
        Row::new(
            "broker raw: publisher → mosquitto → subscriber",
            "msg/s",
            raw,
        ),
        Row::new("accepted into the durable queue (flushed)", "msg/s", acc)
            .against("broker raw: publisher → mosquitto → subscriber", None),
        Row::new(
            "drain after an outage: queue → mosquitto → subscriber",
            "msg/s",
            drn,
        )
        .against("broker raw: publisher → mosquitto → subscriber", None),
    ];
    Table {
        id: "durability".into(),
        rows,
        notes: vec![format!(
            "{MESSAGES} messages of {} B per run, QoS 1 throughout, {RUNS} runs.",
            READING.len()
        )],
    }
    .publish()
    .unwrap();
}
