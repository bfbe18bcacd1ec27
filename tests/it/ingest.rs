//! Leaf-device ingest from a real mosquitto: the topic names the device, the
//! MQTT 5 properties become message properties, and what a leaf published
//! while the gateway was down arrives when it comes back (the ingest session
//! is persistent, and nothing unsafe was acknowledged); a burst into a module
//! whose queue overflows arrives whole, each message once.

use crate::support::{body, collect_until, drain_for};
use ganglion::envelope::UpstreamMessage;
use ganglion::ingest::PENDING_LIMIT;
use ganglion::message::property;
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::RELAY;
use ganglion_tests::broker::Broker;
use ganglion_tests::eventually::{POLL, retry};
use ganglion_tests::leaf::{self, LeafMessage};
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast;

fn manifest(dir: &Path, broker: &Broker) -> Manifest {
    manifest_with(dir, broker, "")
}

/// The relay behind ingest, with `keys` added to its module section.
fn manifest_with(dir: &Path, broker: &Broker, keys: &str) -> Manifest {
    let text = format!(
        "[modules.relay]\npath = \"{}\"\n{keys}\n\n\
         [ingest]\nurl = \"{}\"\ntopics = [\"sensors/+/telemetry\"]\nclient-id = \"it-ingest\"\n\n\
         [routes]\n\
         leaf = \"FROM /messages/* WHERE $connectionDeviceId = 'pump-1' AND site = 'north' INTO BrokeredEndpoint('/modules/relay/inputs/in')\"\n\
         up = \"FROM /messages/modules/relay/* INTO $upstream\"\n",
        ganglion_tests::toml_path(RELAY),
        broker.url()
    );
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

/// Publishes `(topic, body)` pairs at QoS 1 with `site = north` as a user
/// property, and returns once the broker acknowledged all of them.
async fn leaf(port: u16, messages: &[(&str, &str)]) {
    let messages = messages
        .iter()
        .map(|(topic, text)| LeafMessage {
            properties: PublishProperties {
                user_properties: vec![("site".into(), "north".into())],
                content_type: Some("text/plain".into()),
                ..Default::default()
            },
            ..LeafMessage::new(topic, *text)
        })
        .collect();
    leaf::publish(port, "it-leaf", messages, 0).await;
}

/// A broker and a gateway on `dir` whose ingest session has subscribed, with
/// its upstream observer, the probes it took drained.
async fn ingesting(dir: &Path) -> (Broker, Gateway, broadcast::Receiver<UpstreamMessage>) {
    let broker = Broker::start(dir).unwrap();
    let m = manifest(dir, &broker);
    let mut gateway = Gateway::start_with(&m, &GatewayOptions::new(dir.join("data")))
        .await
        .unwrap();
    let mut up = gateway.subscribe_upstream();
    until_ingesting(&broker, &mut up).await;
    let _ = drain_for(&mut up, Duration::from_millis(200)).await;
    (broker, gateway, up)
}

/// Waits until the ingest session has subscribed (its first message passes).
async fn until_ingesting(broker: &Broker, rx: &mut broadcast::Receiver<UpstreamMessage>) {
    let rx = tokio::sync::Mutex::new(rx);
    retry(
        POLL,
        Duration::from_secs(20),
        "ingest to subscribe",
        || async {
            leaf(broker.port(), &[("sensors/pump-1/telemetry", "probe")]).await;
            let mut rx = rx.lock().await;
            tokio::time::timeout(Duration::from_millis(300), rx.recv())
                .await
                .map(drop)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topic_names_the_device_and_properties_travel() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, gateway, mut up) = ingesting(dir.path()).await;

    leaf(
        broker.port(),
        &[
            ("sensors/pump-2/telemetry", "other device"),
            ("sensors/pump-1/status", "not under the filter"),
            ("sensors/pump-1/telemetry", "21.5"),
        ],
    )
    .await;
    let got = collect_until(&mut up, Duration::from_secs(10), |g| !g.is_empty()).await;
    let more = drain_for(&mut up, Duration::from_millis(300)).await;
    assert_eq!(more.len(), 0, "only pump-1's telemetry is routed");
    let msg = &got[0].message;
    assert_eq!(body(&got[0]), "21.5");
    assert_eq!(property(msg, "site"), Some("north"));
    assert_eq!(msg.system.content_type.as_deref(), Some("text/plain"));
    // The relay module sent it on; it came from the device through the route.
    assert_eq!(msg.system.connection_module_id.as_deref(), Some("relay"));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_leaves_publish_while_the_gateway_is_down_arrives_later() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let m = manifest(dir.path(), &broker);
    let data = dir.path().join("data");
    let mut gateway = Gateway::start_with(&m, &GatewayOptions::new(&data))
        .await
        .unwrap();
    let mut up = gateway.subscribe_upstream();
    until_ingesting(&broker, &mut up).await;
    gateway.shutdown().await;

    let offline: Vec<String> = (0..50).map(|i| format!("offline-{i}")).collect();
    let batch: Vec<(&str, &str)> = offline
        .iter()
        .map(|b| ("sensors/pump-1/telemetry", b.as_str()))
        .collect();
    leaf(broker.port(), &batch).await;

    let mut gateway = Gateway::start_with(&m, &GatewayOptions::new(&data))
        .await
        .unwrap();
    let mut up = gateway.subscribe_upstream();
    let got = collect_until(&mut up, Duration::from_secs(20), |g| {
        g.iter().filter(|m| body(m).starts_with("offline-")).count() >= offline.len()
    })
    .await;
    let bodies: Vec<String> = got
        .iter()
        .map(body)
        .filter(|b| b.starts_with("offline-"))
        .collect();
    assert_eq!(bodies, offline, "all of them, in the order published");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_that_overflows_a_module_queue_arrives_whole_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let m = manifest_with(dir.path(), &broker, "queue-length = 1");
    let mut gateway = Gateway::start_with(&m, &GatewayOptions::new(dir.path().join("data")))
        .await
        .unwrap();
    let mut up = gateway.subscribe_upstream();
    until_ingesting(&broker, &mut up).await;
    let _ = drain_for(&mut up, Duration::from_millis(200)).await;

    const BURST: usize = 300;
    let bodies = burst(broker.port(), BURST).await;
    let got = collect_until(&mut up, Duration::from_secs(60), |g| g.len() >= BURST).await;
    let more = drain_for(&mut up, Duration::from_millis(500)).await;
    let mut seen: Vec<String> = got.iter().chain(&more).map(body).collect();
    seen.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(seen, expected, "every message, each exactly once");
    // The queue of one did overflow: refused messages were routed again.
    let relay = gateway.metrics().module("relay").unwrap().clone();
    assert!(relay.dropped_queue_full > 0, "{relay:?}");
    gateway.shutdown().await;
}

/// A burst far past the receive maximum. mosquitto 2.0 sends past it while
/// acknowledgements flow; ingest stops reading once [`PENDING_LIMIT`]
/// messages wait for theirs, rather than holding all the broker sends, and
/// every message still arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_burst_holds_no_more_than_the_pending_limit_and_arrives_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, gateway, mut up) = ingesting(dir.path()).await;

    const BURST: usize = 20_000;
    let collector = tokio::spawn(async move {
        collect_until(&mut up, Duration::from_secs(180), |g| g.len() >= BURST).await
    });
    let mut expected = burst(broker.port(), BURST).await;
    let mut seen: Vec<String> = collector.await.unwrap().iter().map(body).collect();
    seen.sort();
    expected.sort();
    assert!(seen == expected, "every message of the burst, each once");
    let ingest = gateway.metrics().ingest;
    assert!(ingest.active, "{ingest:?}");
    // Each poll of the event loop hands over at most one message, and a
    // paused session is polled once per keep-alive poke.
    assert!(
        ingest.peak_pending <= PENDING_LIMIT as u64 + 1,
        "{ingest:?}"
    );
    eprintln!("ingest after the burst: {ingest:?}");
    gateway.shutdown().await;
}

/// Publishes `n` readings `m0`, `m1`, ... from leaf `pump-1`; returns their
/// bodies.
async fn burst(port: u16, n: usize) -> Vec<String> {
    let bodies: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let messages: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| ("sensors/pump-1/telemetry", b.as_str()))
        .collect();
    leaf(port, &messages).await;
    bodies
}

/// A leaf message goes to `$upstream` straight and through a relay whose queue
/// holds one. When the relay's queue refuses a copy, the message goes again
/// to the relay only, with the id it had: the straight route gets each
/// message once, and the relay's copy carries the same id as the straight one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_copy_goes_again_only_where_it_was_refused_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let text = format!(
        "[modules.relay]\npath = \"{}\"\nqueue-length = 1\n\n\
         [ingest]\nurl = \"{}\"\ntopics = [\"sensors/+/telemetry\"]\nclient-id = \"it-ingest-2\"\n\n\
         [routes]\n\
         leaf = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint('/modules/relay/inputs/in')\"\n\
         straight = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO $upstream\"\n\
         relayed = \"FROM /messages/modules/relay/* INTO $upstream\"\n",
        ganglion_tests::toml_path(RELAY),
        broker.url()
    );
    let m = Manifest::load(&ganglion_tests::write_manifest(dir.path(), &text)).unwrap();
    let mut gateway = Gateway::start_with(&m, &GatewayOptions::new(dir.path().join("data")))
        .await
        .unwrap();
    let mut up = gateway.subscribe_upstream();
    until_ingesting(&broker, &mut up).await;
    let _ = drain_for(&mut up, Duration::from_millis(300)).await;

    const BURST: usize = 300;
    let bodies = burst(broker.port(), BURST).await;
    let got = collect_until(&mut up, Duration::from_secs(60), |g| g.len() >= 2 * BURST).await;
    let more = drain_for(&mut up, Duration::from_millis(500)).await;
    let all: Vec<_> = got.iter().chain(&more).collect();
    let of_route = |route: &str| {
        let mut copies: Vec<(String, Option<String>)> = all
            .iter()
            .filter(|m| &*m.route == route)
            .map(|m| (body(m), m.message.system.message_id.clone()))
            .collect();
        copies.sort();
        copies
    };
    let (straight, relayed) = (of_route("straight"), of_route("relayed"));
    let mut expected = bodies.clone();
    expected.sort();
    let names = |copies: &[(String, Option<String>)]| -> Vec<String> {
        copies.iter().map(|(b, _)| b.clone()).collect()
    };
    assert_eq!(
        names(&straight),
        expected,
        "the straight route: each message once"
    );
    assert_eq!(
        names(&relayed),
        expected,
        "through the relay: each message once"
    );
    assert!(straight.iter().all(|(_, id)| id.is_some()));
    assert_eq!(
        straight, relayed,
        "both copies of a message carry its one id"
    );
    let relay = gateway.metrics().module("relay").unwrap().clone();
    assert!(
        relay.dropped_queue_full > 0,
        "the relay's queue did refuse: {relay:?}"
    );
    gateway.shutdown().await;
}
