//! Crash safety with a real child process: leaf devices publish through a real
//! mosquitto, the gateway (`ganglion run`, ingest → `$upstream` → uplink) is
//! killed with SIGKILL, or stopped with SIGTERM as systemd does, under load,
//! and started again on the same data directory, and the cloud side must
//! still receive every message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // shared with the tests crate; not every helper is used here
#[path = "../../tests/src/broker.rs"]
mod broker;

use broker::Broker;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
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

/// A cloud-side subscriber with a persistent session.
async fn cloud(port: u16) -> mpsc::UnboundedReceiver<String> {
    let mut options = MqttOptions::new("crash-cloud", "127.0.0.1", port);
    options
        .set_clean_start(false)
        .set_session_expiry_interval(Some(3600));
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client
                        .subscribe("ganglion/gw-crash/messages/events", QoS::AtLeastOnce)
                        .await
                        .unwrap();
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.try_send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx
                        .send(String::from_utf8_lossy(&p.payload).into_owned())
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready.recv())
        .await
        .expect("subscribed");
    rx
}

/// A leaf device that publishes at QoS 1; returns once the broker acknowledged
/// every message.
async fn leaf(port: u16, range: std::ops::Range<usize>) {
    let mut options = MqttOptions::new(format!("leaf-{}", range.start), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let n = range.len();
    let publisher = tokio::spawn(async move {
        for i in range {
            client
                .publish("leaf/pump-7/data", QoS::AtLeastOnce, false, i.to_string())
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let mut acked = 0;
    while acked < n {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("the leaf lost its broker: {e}"),
        }
    }
    publisher.await.unwrap();
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
    Command::new("kill")
        .args([&format!("-{signal}"), &child.0.id().to_string()])
        .status()
        .unwrap();
    let stopped = wait_with_timeout(&mut child.0, Duration::from_secs(20))
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
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let stopped = wait_with_timeout(&mut child.0, Duration::from_secs(20));
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

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
