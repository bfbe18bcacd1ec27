//! Crash safety with a real child process: leaf devices publish through a real
//! mosquitto, the gateway (`ganglion run`, ingest → `$upstream` → uplink, or
//! ingest → a filter module → `$upstream` → uplink) is killed with SIGKILL, or
//! stopped with SIGTERM as systemd does, under load, and started again on the
//! same data directory, and the cloud side must still receive every message.

use ganglion_tests::broker::Broker;
use ganglion_tests::cloud::{self, Session};
use ganglion_tests::eventually::retry;
use ganglion_tests::leaf::{self, LeafMessage};
use ganglion_tests::process;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// A gateway child process, killed if the test ends early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn gateway(dir: &Path, broker: &Broker) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_ganglion"))
            .args(["run", "--flow-every", "0", "--device-id", "gw-crash"])
            .arg("--manifest")
            .arg(dir.join("manifest.toml"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--upstream")
            .arg(broker.url())
            .env("GANGLION_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start ganglion"),
    )
}

/// A cloud-side subscriber to the gateway's telemetry, with a persistent
/// session.
async fn cloud(port: u16) -> mpsc::UnboundedReceiver<String> {
    cloud::bodies(
        port,
        "crash-cloud",
        &cloud::events("gw-crash"),
        Session::Persistent,
    )
    .await
}

/// A leaf device that publishes at QoS 1; returns once the broker acknowledged
/// every message.
async fn leaf(port: u16, range: std::ops::Range<usize>) {
    leaf_with(port, range, |i| i.to_string(), 1).await;
}

/// [`leaf`], with message `i`'s body made by `body`, pausing 2 ms after every
/// `burst` messages.
async fn leaf_with(
    port: u16,
    range: std::ops::Range<usize>,
    body: fn(usize) -> String,
    burst: usize,
) {
    let client_id = format!("leaf-{}", range.start);
    let messages = range
        .map(|i| LeafMessage::new("leaf/pump-7/data", body(i)))
        .collect();
    leaf::publish(port, &client_id, messages, burst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_the_gateway_acknowledged() {
    stopped_under_load("KILL").await;
}

/// SIGTERM, as systemd stops the service (`packaging/ganglion.service`): the
/// gateway stops cleanly, well within the unit's stop timeout, and loses
/// nothing it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_cleanly_and_loses_nothing_acknowledged() {
    stopped_under_load("TERM").await;
}

/// The gateway stopped with `signal` mid-stream, then started again.
async fn stopped_under_load(signal: &str) {
    const N: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("manifest.toml"),
        format!(
            "[ingest]\nurl = \"{}\"\ntopics = [\"leaf/+/data\"]\nclient-id = \"gw-crash-ingest\"\n\n\
             [routes]\nall = \"FROM /messages/* INTO $upstream\"\n",
            broker.url()
        ),
    )
    .unwrap();
    let mut received = cloud(broker.port()).await;
    let mut child = gateway(dir.path(), &broker);
    // Let the ingest session subscribe before the first leaf message.
    tokio::time::sleep(Duration::from_secs(2)).await;

    eprintln!("crash test: gateway up, leaf publishing");
    let first = tokio::spawn(leaf(broker.port(), 0..N / 2));
    // Kill it mid-stream, once the cloud has seen some of it.
    let mut all = Vec::new();
    let first_seen = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .expect("the gateway forwards before it is killed")
        .unwrap();
    all.push(first_seen);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stopped = process::signal(&mut child.0, signal, Duration::from_secs(20))
        .expect("the gateway stops within 20 s (the unit allows 30)");
    if signal == "TERM" {
        assert!(
            stopped.success(),
            "a clean stop on SIGTERM under load: {stopped}"
        );
    }
    eprintln!("crash test: gateway stopped with SIG{signal}");
    first.await.unwrap();
    eprintln!("crash test: first half acknowledged by the broker");
    let mut child = gateway(dir.path(), &broker);
    leaf(broker.port(), N / 2..N).await;

    let mut distinct: HashSet<String> = all.iter().cloned().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while distinct.len() < N {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(body)) => {
                distinct.insert(body.clone());
                all.push(body);
            }
            _ => break,
        }
    }
    let stopped = process::signal(&mut child.0, "TERM", Duration::from_secs(20));
    let lost = N - distinct.len();
    eprintln!(
        "crash test: sent {N}, received {} ({} distinct), lost {lost}, duplicates {}",
        all.len(),
        distinct.len(),
        all.len() - distinct.len()
    );
    assert_eq!(lost, 0, "every acknowledged leaf message reaches the cloud");
    let mut seen = HashSet::new();
    let first_arrivals: Vec<usize> = all
        .iter()
        .filter(|b| seen.insert(b.as_str()))
        .map(|b| b.parse().unwrap())
        .collect();
    assert!(
        first_arrivals.windows(2).all(|w| w[0] < w[1]),
        "one leaf's messages reach the cloud in the order it sent them"
    );
    let status = stopped.expect("SIGTERM stops the gateway within 20 s");
    assert!(status.success(), "a clean stop on SIGTERM: {status}");
}

/// A leaf device that publishes [`reading`]s at QoS 1, about 4,000 a second,
/// until `stop`; returns how many, once the broker acknowledged them all.
async fn leaf_until(port: u16, stop: Arc<AtomicBool>) -> usize {
    let mut options = MqttOptions::new("leaf-readings", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let publisher = tokio::spawn(async move {
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            client
                .publish("leaf/pump-7/data", QoS::AtLeastOnce, false, reading(i))
                .await
                .unwrap();
            i += 1;
            if i.is_multiple_of(8) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        i
    });
    let mut acked = 0;
    // The event loop sends what the publisher queues and reads the PUBACKs;
    // a keep-alive ping ends a poll within 5 s when nothing else comes.
    while !publisher.is_finished() {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("the leaf lost its broker: {e}"),
        }
    }
    let n = publisher.await.unwrap();
    while acked < n {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("the leaf lost its broker: {e}"),
        }
    }
    n
}

/// Reading `i`: even ones are above temp-filter's threshold of 25 and go on to
/// the cloud, odd ones end at the filter.
fn reading(i: usize) -> String {
    let temperature = if i.is_multiple_of(2) { 30.5 } else { 20.5 };
    format!("{{\"machine\":{{\"temperature\":{temperature}}},\"seq\":{i}}}")
}

/// The `seq` of a reading the cloud received.
fn seq(body: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["seq"].as_i64().unwrap()
}

/// A small xorshift generator, seeded from the clock (printed, to replay a
/// failure): the moments of the kills.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        range.start + self.0 % (range.end - range.start)
    }
}

/// The common deployment, leaf → filter module → `$upstream`, killed with
/// SIGKILL five times at random moments while a leaf publishes: a leaf
/// message is acknowledged only once what the filter sent for it is durable
/// (or the filter dropped it), so every reading above the threshold that the
/// broker took reaches the cloud. Redeliveries of what was not acknowledged
/// yet come as duplicates, which are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_kills_under_load_through_a_module_lose_no_acknowledged_reading() {
    const KILLS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("manifest.toml"),
        format!(
            "[modules.filter]\npath = \"{}\"\nconfig = {{ threshold = 25 }}\n\n\
             [ingest]\nurl = \"{}\"\ntopics = [\"leaf/+/data\"]\nclient-id = \"gw-crash-ingest\"\n\n\
             [routes]\n\
             leaf = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint('/modules/filter/inputs/in')\"\n\
             up = \"FROM /messages/modules/filter/* INTO $upstream\"\n",
            ganglion_tests::toml_path(ganglion_tests::artifacts::TEMP_FILTER),
            broker.url()
        ),
    )
    .unwrap();
    let mut received = cloud(broker.port()).await;
    let mut child = gateway(dir.path(), &broker);
    // Probes (seq -1) until one comes through: the session has subscribed.
    let probed = tokio::sync::Mutex::new(&mut received);
    let probe = retry(
        Duration::ZERO,
        Duration::from_secs(60),
        "ingest to subscribe",
        || async {
            leaf_with(
                broker.port(),
                0..1,
                |_| "{\"machine\":{\"temperature\":99},\"seq\":-1}".to_string(),
                1,
            )
            .await;
            match tokio::time::timeout(Duration::from_millis(500), probed.lock().await.recv()).await
            {
                Ok(Some(body)) => Ok(body),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let mut all = vec![probe];

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill test: seed {seed}");
    let mut moments = Moments(seed);
    // About 4,000 readings a second, so that each kill finds some in the
    // filter's queue, in its call, or on their way to the disk.
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = tokio::spawn(leaf_until(broker.port(), stop.clone()));
    for kill in 0..KILLS {
        // Forwarding again (after a restart: through the new process) ...
        let body = tokio::time::timeout(Duration::from_secs(60), received.recv())
            .await
            .expect("the gateway forwards again after its restart")
            .unwrap();
        all.push(body);
        // ... then killed at a random moment.
        let after = moments.next_ms(20..700);
        tokio::time::sleep(Duration::from_millis(after)).await;
        process::signal(&mut child.0, "KILL", Duration::from_secs(20)).expect("SIGKILL ends it");
        eprintln!("kill test: kill {} after {after} ms", kill + 1);
        while let Ok(body) = received.try_recv() {
            all.push(body);
        }
        child = gateway(dir.path(), &broker);
    }
    stop.store(true, Ordering::Relaxed);
    let n = publisher.await.unwrap();
    eprintln!("kill test: the broker acknowledged all {n} readings");

    let expected: HashSet<i64> = (0..n as i64).filter(|i| i % 2 == 0).collect();
    let mut distinct: HashSet<i64> = all.iter().map(|b| seq(b)).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !expected.is_subset(&distinct) {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(body)) => {
                distinct.insert(seq(&body));
                all.push(body);
            }
            _ => break,
        }
    }
    // Whatever else is on its way (redeliveries), for the count.
    while let Ok(Some(body)) = tokio::time::timeout(Duration::from_secs(1), received.recv()).await {
        distinct.insert(seq(&body));
        all.push(body);
    }
    let stopped = process::signal(&mut child.0, "TERM", Duration::from_secs(20));
    let lost: Vec<i64> = {
        let mut lost: Vec<i64> = expected.difference(&distinct).copied().collect();
        lost.sort();
        lost
    };
    eprintln!(
        "kill test: {KILLS} kills, {} readings forwarded by the filter, {} received ({} distinct), lost {}, duplicates {}",
        expected.len(),
        all.len(),
        distinct.len(),
        lost.len(),
        all.len() - distinct.len()
    );
    assert!(lost.is_empty(), "acknowledged readings lost: {lost:?}");
    assert!(
        distinct
            .iter()
            .all(|s| *s == -1 || (s % 2 == 0 && (*s as usize) < n)),
        "only readings above the threshold reach the cloud"
    );
    let status = stopped.expect("SIGTERM stops the gateway within 20 s");
    assert!(status.success(), "a clean stop on SIGTERM: {status}");
}
