//! Messages flow through routes between real modules, and a trapping module is
//! isolated from the rest.

use crate::support::{body, collect_until, drain_for, manifest, start_all};
use ganglion::Gateway;
use ganglion::message::{new_message, property};
use ganglion::metrics::ModuleStatus;
use ganglion_tests::artifacts::{RELAY, TEMP_FILTER, TEMP_SENSOR, TRAPPER};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_module_a_reaches_module_b_through_a_route() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[("a", RELAY, &[("tag", "a")]), ("b", RELAY, &[("tag", "b")])],
        &[
            (
                "in",
                r#"FROM /messages/* WHERE $connectionDeviceId = "dev-1" INTO BrokeredEndpoint("/modules/a/inputs/in")"#,
            ),
            (
                "a-to-b",
                r#"FROM /messages/modules/a/outputs/output1 INTO BrokeredEndpoint("/modules/b/inputs/in")"#,
            ),
            ("b-up", "FROM /messages/modules/b/* INTO $upstream"),
        ],
    );
    let mut gw = start_all(&m, dir.path()).await;
    let mut up = gw.subscribe_upstream();
    gw.inject("dev-1", new_message(b"hello".to_vec()))
        .await
        .unwrap();
    // A device the first route does not select goes nowhere.
    gw.inject("dev-2", new_message(b"ignored".to_vec()))
        .await
        .unwrap();
    let got = collect_until(&mut up, WAIT, |g| !g.is_empty()).await;
    let msg = &got[0].message;
    assert_eq!(msg.body, b"hello");
    assert_eq!(property(msg, "relayed-by"), Some("a,b"));
    assert_eq!(msg.system.connection_module_id.as_deref(), Some("b"));
    assert_eq!(msg.system.output_name.as_deref(), Some("output1"));
    assert_eq!(got[0].route.as_ref(), "b-up");
    assert!(drain_for(&mut up, GRACE).await.is_empty());

    let snap = gw.shutdown().await;
    assert_eq!(snap.route("in").unwrap().matched, 1);
    assert_eq!(snap.route("a-to-b").unwrap().matched, 1);
    assert_eq!(snap.unrouted, 1, "the dev-2 message matched no route");
    for m in ["a", "b"] {
        let s = snap.module(m).unwrap();
        assert_eq!(
            (s.received, s.sent, s.status),
            (1, 1, ModuleStatus::Stopped)
        );
    }
}

fn reading(temperature: f64) -> Vec<u8> {
    format!(
        r#"{{"machine":{{"temperature":{temperature},"pressure":1.2}},"ambient":{{"temperature":21.0,"humidity":25}},"timeCreated":"2026-11-27T00:00:00Z"}}"#
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_forwards_exactly_the_readings_above_its_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[("filter", TEMP_FILTER, &[("threshold", "25")])],
        &[
            (
                "to-filter",
                r#"FROM /messages/* WHERE is_defined($connectionDeviceId) INTO BrokeredEndpoint("/modules/filter/inputs/input1")"#,
            ),
            (
                "alerts",
                "FROM /messages/modules/filter/outputs/output1 INTO $upstream",
            ),
        ],
    );
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let temps: Vec<f64> = (0..60).map(|i| 20.0 + f64::from(i) * 0.25).collect();
    let above: Vec<f64> = temps.iter().copied().filter(|t| *t > 25.0).collect();
    assert!(!above.is_empty() && above.len() < temps.len());
    for t in &temps {
        let msg = new_message(reading(*t));
        gw.inject("machine-1", msg).await.unwrap();
    }
    let got = collect_until(&mut up, WAIT, |g| g.len() >= above.len()).await;
    assert!(
        drain_for(&mut up, GRACE).await.is_empty(),
        "more alerts than readings above 25"
    );
    let alert_temps: Vec<f64> = got
        .iter()
        .map(|m| {
            assert_eq!(property(&m.message, "MessageType"), Some("Alert"));
            let v: serde_json::Value = serde_json::from_slice(&m.message.body).unwrap();
            v["machine"]["temperature"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(
        alert_temps, above,
        "alerts in order, one per reading above the threshold"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_n_sensor_readings_with_k_above_the_threshold_k_alerts_arrive() {
    const N: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let n = N.to_string();
    let m = manifest(
        dir.path(),
        &[
            (
                "sensor",
                TEMP_SENSOR,
                &[
                    ("interval-ms", "10"),
                    ("messages", &n),
                    ("seed", "7"),
                    ("machine-temp-max", "40"),
                ],
            ),
            ("filter", TEMP_FILTER, &[("threshold", "25")]),
        ],
        &[
            (
                "raw",
                "FROM /messages/modules/sensor/outputs/temperatureOutput INTO $upstream",
            ),
            (
                "to-filter",
                r#"FROM /messages/modules/sensor/outputs/temperatureOutput INTO BrokeredEndpoint("/modules/filter/inputs/input1")"#,
            ),
            (
                "alerts",
                "FROM /messages/modules/filter/outputs/output1 INTO $upstream",
            ),
        ],
    );
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let count = |g: &[ganglion::envelope::UpstreamMessage], route: &str| {
        g.iter().filter(|m| m.route.as_ref() == route).count()
    };
    let mut got = collect_until(&mut up, WAIT, |g| count(g, "raw") == N).await;
    let k = got
        .iter()
        .filter(|m| m.route.as_ref() == "raw")
        .filter(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.message.body).unwrap();
            v["machine"]["temperature"].as_f64().unwrap() > 25.0
        })
        .count();
    assert!(
        k > 0 && k < N,
        "the seeded sensor should cross 25 °C: k = {k}"
    );
    let rest = collect_until(&mut up, WAIT, |g| {
        count(g, "alerts") + count(&got, "alerts") >= k
    })
    .await;
    got.extend(rest);
    got.extend(drain_for(&mut up, GRACE).await);
    assert_eq!(count(&got, "raw"), N, "the sensor stops after `messages`");
    assert_eq!(count(&got, "alerts"), k);
    for alert in got.iter().filter(|m| m.route.as_ref() == "alerts") {
        assert_eq!(
            property(&alert.message, "MessageType"),
            Some("Alert"),
            "{}",
            body(alert)
        );
        assert_eq!(
            alert.message.system.connection_module_id.as_deref(),
            Some("filter")
        );
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_module_is_isolated_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[("trapper", TRAPPER, &[]), ("relay", RELAY, &[])],
        &[
            (
                "to-trapper",
                r#"FROM /messages/* WHERE is_defined($connectionDeviceId) AND to = "trapper" INTO BrokeredEndpoint("/modules/trapper/inputs/in")"#,
            ),
            (
                "to-relay",
                r#"FROM /messages/* WHERE is_defined($connectionDeviceId) AND to = "relay" INTO BrokeredEndpoint("/modules/relay/inputs/in")"#,
            ),
            ("up", "FROM /messages/modules/* INTO $upstream"),
        ],
    );
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let send = |to: &'static str, text: &'static str| {
        let mut msg = new_message(text.as_bytes().to_vec());
        msg.properties.push(("to".into(), to.into()));
        msg
    };
    for (to, text) in [
        ("trapper", "one"),
        ("trapper", "trap"),
        ("relay", "beside"),
        ("trapper", "two"),
        ("trapper", "fail"),
        ("trapper", "three"),
    ] {
        gw.inject("dev", send(to, text)).await.unwrap();
    }
    let got = collect_until(&mut up, WAIT, |g| g.len() >= 5).await;
    let mut from_trapper: Vec<String> = got
        .iter()
        .filter(|m| m.message.system.connection_module_id.as_deref() == Some("trapper"))
        .map(body)
        .collect();
    from_trapper.extend(drain_for(&mut up, GRACE).await.iter().map(body));
    assert_eq!(
        from_trapper,
        ["one", "two", "fail", "three"],
        "what the trapping call sent is discarded; an error return keeps its sends"
    );
    assert!(
        got.iter().any(|m| body(m) == "beside"),
        "the module beside it kept working"
    );
    let snap = gw.shutdown().await;
    let t = snap.module("trapper").unwrap();
    assert_eq!((t.received, t.traps, t.failed, t.restarts), (5, 1, 2, 1));
    let r = snap.module("relay").unwrap();
    assert_eq!((r.received, r.sent, r.failed), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_whose_init_fails_is_reported_and_the_rest_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[
            (
                "sensor",
                TEMP_SENSOR,
                &[("machine-temp-min", "50"), ("machine-temp-max", "40")],
            ),
            ("relay", RELAY, &[]),
        ],
        &[
            (
                "to-relay",
                r#"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint("/modules/relay/inputs/in")"#,
            ),
            ("up", "FROM /messages/modules/relay/* INTO $upstream"),
        ],
    );
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let failed = gw.failed_to_start().to_vec();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "sensor");
    assert!(failed[0].1.contains("machine-temp-max"), "{}", failed[0].1);
    assert_eq!(
        gw.metrics().module("sensor").unwrap().status,
        ModuleStatus::Backoff,
        "on-failure (the default) tries it again after a backoff"
    );
    let mut up = gw.subscribe_upstream();
    gw.inject("dev", new_message(b"still routing".to_vec()))
        .await
        .unwrap();
    let got = collect_until(&mut up, WAIT, |g| !g.is_empty()).await;
    assert_eq!(body(&got[0]), "still routing");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_routes_to_one_sink_deliver_once_on_behalf_of_the_highest_priority() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[modules.relay]\npath = \"{}\"\n\n[routes]\n\
         low = \"FROM /messages/* INTO $upstream\"\n\
         high = {{ route = \"FROM /messages/* WHERE kind = 'urgent' INTO $upstream\", priority = 1, time-to-live-secs = 60 }}\n\
         mid = {{ route = \"FROM /messages/* WHERE kind = 'urgent' INTO $upstream\", priority = 4 }}\n",
        ganglion_tests::toml_path(RELAY)
    );
    let m = ganglion::Manifest::load(&ganglion_tests::write_manifest(dir.path(), &text)).unwrap();
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let mut urgent = new_message(b"fire".to_vec());
    urgent.properties.push(("kind".into(), "urgent".into()));
    gw.inject("dev", urgent).await.unwrap();
    gw.inject("dev", new_message(b"routine".to_vec()))
        .await
        .unwrap();
    let mut got = collect_until(&mut up, WAIT, |g| g.len() >= 2).await;
    got.extend(drain_for(&mut up, GRACE).await);
    assert_eq!(got.len(), 2, "each message reaches $upstream once");
    assert_eq!(
        (body(&got[0]).as_str(), got[0].route.as_ref()),
        ("fire", "high")
    );
    assert_eq!(got[0].priority, Some(1));
    assert_eq!(got[0].time_to_live, Some(Duration::from_secs(60)));
    assert_eq!(
        (body(&got[1]).as_str(), got[1].route.as_ref()),
        ("routine", "low")
    );
    assert_eq!((got[1].priority, got[1].time_to_live), (None, None));
    let snap = gw.shutdown().await;
    let matched: Vec<u64> = ["low", "high", "mid"]
        .iter()
        .map(|r| snap.route(r).unwrap().matched)
        .collect();
    assert_eq!(matched, [2, 1, 1], "every matching route is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_module_is_not_started_and_its_messages_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[modules.relay]\npath = \"{}\"\nstatus = \"stopped\"\n\n[routes]\n\
         in = 'FROM /messages/* WHERE is_defined($connectionDeviceId) INTO BrokeredEndpoint(\"/modules/relay/inputs/in\")'\n",
        ganglion_tests::toml_path(RELAY)
    );
    let m = ganglion::Manifest::load(&ganglion_tests::write_manifest(dir.path(), &text)).unwrap();
    let gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    assert_eq!(
        gw.metrics().module("relay").unwrap().status,
        ModuleStatus::Stopped
    );
    for _ in 0..3 {
        gw.inject("dev", new_message(b"x".to_vec())).await.unwrap();
    }
    let snap = gw.shutdown().await;
    let r = snap.module("relay").unwrap();
    assert_eq!((r.received, r.dropped_not_running), (0, 3));
}
