//! The MQTT uplink against a real mosquitto: the durable queue drains in
//! priority order when the broker appears, and survives an outage under load.

use crate::support::{collect_until, queue_drained};
use ganglion::message::new_message;
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::RELAY;
use ganglion_tests::broker::Broker;
use ganglion_tests::cloud::{self, Session};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

pub(crate) use ganglion_tests::cloud::Received;

/// A cloud-side subscriber to every device's telemetry, with a persistent
/// session, so that it misses nothing across a broker restart.
pub(crate) async fn subscriber(port: u16) -> mpsc::UnboundedReceiver<Received> {
    cloud::subscribe(
        port,
        "cloud-backend",
        &cloud::events("+"),
        Session::Persistent,
    )
    .await
}

fn manifest(dir: &Path) -> Manifest {
    let text = format!(
        "[modules.relay]\npath = \"{}\"\n\n[routes]\n\
         normal = \"FROM /messages/* WHERE NOT is_defined(urgent) INTO $upstream\"\n\
         urgent = {{ route = \"FROM /messages/* WHERE urgent = 'yes' INTO $upstream\", priority = 0 }}\n",
        ganglion_tests::toml_path(RELAY)
    );
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

fn options(dir: &Path, broker: &Broker) -> GatewayOptions {
    let uplink = crate::support::fast_uplink(&broker.url(), "gw-1");
    {
        let mut o = GatewayOptions::new(dir.join("data"));
        o.uplink = Some(uplink);
        o
    }
}

fn numbered(i: usize, urgent: bool) -> ganglion::Message {
    let mut msg = new_message(format!("{i}").into_bytes());
    if urgent {
        msg.properties.push(("urgent".into(), "yes".into()));
    }
    msg
}

pub(crate) async fn receive(
    rx: &mut mpsc::UnboundedReceiver<Received>,
    n: usize,
    within: Duration,
) -> Vec<Received> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while got.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => got.push(m),
            _ => panic!("received {} of {n} messages", got.len()),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_drains_in_priority_order_when_the_broker_appears() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path()).unwrap();
    let mut cloud = subscriber(broker.port()).await;
    broker.stop();
    let mut gw = Gateway::start_with(&manifest(dir.path()), &options(dir.path(), &broker))
        .await
        .unwrap();
    let mut up = gw.subscribe_upstream();
    for i in 0..30 {
        gw.inject("dev", numbered(i, i % 3 == 0)).await.unwrap();
    }
    collect_until(&mut up, Duration::from_secs(30), |g| g.len() == 30).await;
    assert_eq!(
        gw.metrics().queue.depth,
        30,
        "queued while the broker is away"
    );
    broker.resume().unwrap();
    let got = receive(&mut cloud, 30, Duration::from_secs(30)).await;
    let order: Vec<usize> = got.iter().map(|r| r.body.parse().unwrap()).collect();
    let mut want: Vec<usize> = (0..30).filter(|i| i % 3 == 0).collect();
    want.extend((0..30).filter(|i| i % 3 != 0));
    assert_eq!(
        order, want,
        "priority 0 first, then the rest, each in arrival order"
    );
    let props: HashMap<&str, &str> = got[0]
        .properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(props.get("urgent"), Some(&"yes"));
    assert_eq!(props.get("$route"), Some(&"urgent"));
    assert_eq!(props.get("$connectionDeviceId"), Some(&"dev"));
    assert!(props.contains_key("$messageId"));
    queue_drained(&gw).await;
    let snap = gw.shutdown().await;
    assert_eq!((snap.queue.depth, snap.queue.delivered), (0, 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_message_arrives_across_a_30_second_outage_under_load() {
    const RATE_EVERY: Duration = Duration::from_millis(10);
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path()).unwrap();
    let mut cloud = subscriber(broker.port()).await;
    let mut gw = Gateway::start_with(&manifest(dir.path()), &options(dir.path(), &broker))
        .await
        .unwrap();
    let mut accepted_rx = gw.subscribe_upstream();
    let started = tokio::time::Instant::now();
    let mut sent = 0usize;
    let mut outage = None;
    // 3 s of load, a 30 s outage under load, 3 s more after the broker is back.
    while started.elapsed() < Duration::from_secs(36) {
        gw.inject("dev", numbered(sent, sent.is_multiple_of(4)))
            .await
            .unwrap();
        sent += 1;
        let t = started.elapsed();
        if outage.is_none() && t >= Duration::from_secs(3) {
            broker.stop();
            outage = Some(tokio::time::Instant::now());
        }
        if let Some(at) = outage
            && at.elapsed() >= Duration::from_secs(30)
            && !broker_running(&broker)
        {
            broker.resume().unwrap();
        }
        tokio::time::sleep(RATE_EVERY).await;
    }
    let accepted = collect_until(&mut accepted_rx, Duration::from_secs(30), |g| {
        g.len() == sent
    })
    .await;
    let accepted: HashSet<String> = accepted
        .iter()
        .map(|m| String::from_utf8_lossy(&m.message.body).into_owned())
        .collect();
    let mut received: Vec<(String, bool)> = Vec::new();
    let mut distinct = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while distinct.len() < accepted.len() {
        match tokio::time::timeout_at(deadline, cloud.recv()).await {
            Ok(Some(r)) => {
                let urgent = r
                    .properties
                    .iter()
                    .any(|(k, v)| k == "urgent" && v == "yes");
                distinct.insert(r.body.clone());
                received.push((r.body, urgent));
            }
            _ => panic!(
                "received {} of {} accepted messages",
                distinct.len(),
                accepted.len()
            ),
        }
    }
    let lost = accepted.difference(&distinct).count();
    let duplicates = received.len() - distinct.len();
    eprintln!(
        "outage test: sent {sent}, accepted {}, received {} ({} distinct), lost {lost}, duplicates {duplicates}",
        accepted.len(),
        received.len(),
        distinct.len()
    );
    assert_eq!(lost, 0);
    // Within each priority, first arrivals are in sending order.
    for urgent in [true, false] {
        let mut seen = HashSet::new();
        let firsts: Vec<usize> = received
            .iter()
            .filter(|(_, u)| *u == urgent)
            .filter(|(b, _)| seen.insert(b.clone()))
            .map(|(b, _)| b.parse().unwrap())
            .collect();
        assert!(
            firsts.windows(2).all(|w| w[0] < w[1]),
            "out of order (urgent = {urgent})"
        );
    }
    // The broker's last acknowledgements may still be on their way.
    queue_drained(&gw).await;
    let snap = gw.shutdown().await;
    assert_eq!(
        snap.queue.depth, 0,
        "every delivered message left the queue"
    );
}

fn broker_running(broker: &Broker) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", broker.port())).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_message_overtakes_a_backlog_that_is_draining() {
    const BACKLOG: usize = 5000;
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path()).unwrap();
    let mut cloud = subscriber(broker.port()).await;
    broker.stop();
    let mut gw = Gateway::start_with(&manifest(dir.path()), &options(dir.path(), &broker))
        .await
        .unwrap();
    let mut up = gw.subscribe_upstream();
    for i in 0..BACKLOG {
        gw.inject("dev", numbered(i, false)).await.unwrap();
    }
    collect_until(&mut up, Duration::from_secs(60), |g| g.len() == BACKLOG).await;
    broker.resume().unwrap();
    // The backlog is draining: send an urgent one now.
    let first = receive(&mut cloud, 1, Duration::from_secs(30)).await;
    assert_eq!(first[0].body, "0");
    gw.inject("dev", numbered(BACKLOG, true)).await.unwrap();
    let rest = receive(&mut cloud, BACKLOG, Duration::from_secs(60)).await;
    let position = rest
        .iter()
        .position(|r| r.body == BACKLOG.to_string())
        .expect("the urgent message arrives");
    let behind = rest[position + 1..]
        .iter()
        .filter(|r| r.body.parse::<usize>().unwrap() < BACKLOG)
        .count();
    assert!(
        behind > 0,
        "the urgent message overtook the rest of the backlog (it came at {position} of {})",
        rest.len()
    );
    gw.shutdown().await;
}
