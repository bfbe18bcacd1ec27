//! Predictive maintenance, end to end, on the real fan-health component: a
//! reading whose predicted remaining life is under 24 h makes a
//! `purchase-order` that a route sends to `$upstream` at priority 0. Made
//! while the cloud is unreachable, it survives a restart of the gateway, and
//! when the link returns it is delivered before the routine predictions
//! queued ahead of it. The module harness, given the same component, makes
//! the same predictions to the bit as the gateway did.

use crate::support::{body, collect_until, queue_drained};
use crate::uplink::{receive, subscriber};
use ganglion::gateway::COMPILED_DIR;
use ganglion::harness::ModuleHarness;
use ganglion::message::{new_message, property};
use ganglion::runtime::alloc::AllocationChoice;
use ganglion::runtime::grants::Grants;
use ganglion::runtime::{Runtime, RuntimeOptions};
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::FAN_HEALTH;
use ganglion_tests::broker::Broker;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A held-out reading (from `ml/models/golden.json`) without an injected
/// fault whose scikit-learn RUL satisfies `wanted`.
fn reading(wanted: impl Fn(f64) -> bool) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/models/golden.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["fault"] == "none" && wanted(c["rul_hours"].as_f64().unwrap()))
        .expect("a golden case");
    json!({
        "device": "fan-7",
        "temperature": case["temperature"],
        "vibration": case["vibration"],
        "pressure": case["pressure"],
        "hours": case["hours"],
    })
}

fn manifest(dir: &Path) -> Manifest {
    let text = format!(
        "[modules.fan-health]\npath = \"{}\"\n\n[routes]\n\
         readings = \"FROM /messages/* WHERE is_defined($connectionDeviceId) INTO BrokeredEndpoint('/modules/fan-health/inputs/in')\"\n\
         predictions = {{ route = \"FROM /messages/modules/fan-health/outputs/output1 INTO $upstream\", priority = 5 }}\n\
         orders = {{ route = \"FROM /messages/modules/fan-health/outputs/orders INTO $upstream\", priority = 0, time-to-live-secs = 604800 }}\n",
        ganglion_tests::toml_path(FAN_HEALTH)
    );
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

fn options(dir: &Path, broker: &Broker) -> GatewayOptions {
    let mut o = GatewayOptions::new(dir.join("data"));
    o.uplink = Some(crate::support::fast_uplink(&broker.url(), "gw-pm"));
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_order_made_offline_survives_a_restart_and_goes_first_when_the_link_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path()).unwrap();
    let mut cloud = subscriber(broker.port()).await;
    broker.stop();
    let m = manifest(dir.path());

    let mut gw = Gateway::start_with(&m, &options(dir.path(), &broker))
        .await
        .unwrap();
    assert!(
        gw.failed_to_start().is_empty(),
        "{:?}",
        gw.failed_to_start()
    );
    let mut up = gw.subscribe_upstream();
    let healthy = reading(|rul| rul > 200.0);
    let dying = reading(|rul| rul < 10.0);
    for body in [&healthy, &healthy, &healthy, &dying] {
        gw.inject("fan-7", new_message(body.to_string().into_bytes()))
            .await
            .unwrap();
    }
    let queued = collect_until(&mut up, Duration::from_secs(30), |g| {
        g.iter()
            .any(|m| property(&m.message, "MessageType") == Some("purchase-order"))
    })
    .await;
    let mut predictions: Vec<String> = queued
        .iter()
        .filter(|m| property(&m.message, "MessageType") == Some("Prediction"))
        .map(body)
        .collect();
    if predictions.len() < 4 {
        let rest = collect_until(&mut up, Duration::from_secs(30), |g| {
            g.len() >= 4 - predictions.len()
        })
        .await;
        predictions.extend(rest.iter().map(body));
    }
    let snap = gw.shutdown().await;
    assert_eq!(snap.queue.depth, 5, "4 predictions and the order, offline");

    // The same component in the module harness, on the machine code the
    // gateway compiled (same engine settings), predicts the same bits.
    let runtime = Runtime::with_options(RuntimeOptions {
        cache: Some(&dir.path().join("data").join(COMPILED_DIR)),
        allocation: AllocationChoice::Auto.decide(1, 0, None),
        deadlines: true,
    })
    .unwrap();
    let mut harness = ModuleHarness::load_in(
        Arc::new(runtime),
        "fan-health",
        Path::new(FAN_HEALTH),
        &[],
        &Grants::default(),
    )
    .await
    .unwrap();
    for (reading, in_gateway) in [&healthy, &healthy, &healthy, &dying]
        .iter()
        .zip(&predictions)
    {
        let out = harness
            .send("in", &new_message(reading.to_string().into_bytes()))
            .await
            .unwrap();
        let (_, msg) = out.iter().find(|(o, _)| o == "output1").unwrap();
        assert_eq!(
            &String::from_utf8_lossy(&msg.body),
            in_gateway,
            "the harness and the gateway predict the same"
        );
    }

    // Restarted while still offline: the queue is as it was.
    let gw = Gateway::start_with(&m, &options(dir.path(), &broker))
        .await
        .unwrap();
    assert_eq!(gw.metrics().queue.depth, 5);

    // The link returns: the order goes first, then the predictions.
    broker.resume().unwrap();
    let got = receive(&mut cloud, 5, Duration::from_secs(30)).await;
    let kind = |i: usize| {
        got[i]
            .properties
            .iter()
            .find(|(k, _)| k == "MessageType")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(kind(0).as_deref(), Some("purchase-order"), "{got:?}");
    let order: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(order["device"], "fan-7", "{order}");
    assert!((1..5).all(|i| kind(i).as_deref() == Some("Prediction")));
    // Each is deleted from the queue on its PUBACK.
    queue_drained(&gw).await;
    let snap = gw.shutdown().await;
    assert_eq!((snap.queue.depth, snap.queue.delivered), (0, 5));
}
