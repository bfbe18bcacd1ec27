//! The operator's tools (`ganglion twin`, `invoke`, `status`, `monitor`, as
//! the library the CLI is a thin layer over) against a real mosquitto: first
//! with no gateway (the retained documents are the cloud-side state), then
//! with a real gateway running the `twin-probe` component.

use ganglion::operator::method::{self, MethodRequest};
use ganglion::operator::twin::{self, desired_topic};
use ganglion::operator::{BrokerSettings, OperatorError, Session, monitor, status};
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::TWIN_PROBE;
use ganglion_tests::broker::Broker;
use ganglion_tests::eventually::retry;
use serde_json::{Map, Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// How often a test retries a request to the gateway.
const PAUSE: Duration = Duration::from_millis(200);

/// How long the tests wait for retained documents: the local broker sends
/// them at once.
const WAIT: Duration = Duration::from_millis(300);

async fn session(broker: &Broker) -> Session {
    Session::connect(&BrokerSettings::new(&broker.url()))
        .await
        .unwrap()
}

fn patch(value: Value) -> Map<String, Value> {
    twin::parse_patch(&value.to_string()).unwrap()
}

async fn set(broker: &Broker, device: &str, twin_id: &str, p: Value) -> Result<u64, OperatorError> {
    let mut s = session(broker).await;
    let result = twin::set_desired(&mut s, device, twin_id, &patch(p), WAIT).await;
    s.disconnect().await;
    result.map(|doc| doc.version)
}

async fn get(broker: &Broker, device: &str, twin_id: &str) -> twin::TwinSides {
    let mut s = session(broker).await;
    let sides = twin::read_twin(&mut s, device, twin_id, WAIT)
        .await
        .unwrap();
    s.disconnect().await;
    sides
}

#[tokio::test]
async fn twin_set_twice_then_get_shows_the_merged_desired_document() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let first = json!({"threshold": 30, "window": {"seconds": 60, "slide": 5}});
    assert_eq!(set(&broker, "gw-1", "filter", first).await.unwrap(), 1);
    let second = json!({"threshold": null, "window": {"slide": null}, "mode": "fast"});
    assert_eq!(set(&broker, "gw-1", "filter", second).await.unwrap(), 2);

    let sides = get(&broker, "gw-1", "filter").await;
    assert_eq!(
        sides.to_json(),
        json!({
            "desired": {"$version": 2, "window": {"seconds": 60}, "mode": "fast"},
            "reported": {"$version": 0},
        })
    );
    assert!(sides.desired.published && !sides.reported.published);
    // The device twin and another device are separate documents.
    assert_eq!(get(&broker, "gw-1", "$device").await.desired.version, 0);
    assert_eq!(get(&broker, "gw-2", "filter").await.desired.version, 0);
    assert_eq!(
        set(&broker, "gw-1", "$device", json!({"a": 1}))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn twin_set_over_the_limits_is_refused_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    set(
        &broker,
        "gw-1",
        "filter",
        json!({"big": "x".repeat(20_000)}),
    )
    .await
    .unwrap();
    let mut watcher = session(&broker).await;
    watcher
        .subscribe(&[desired_topic("gw-1", "filter")])
        .await
        .unwrap();

    let over = json!({"more": "y".repeat(20_000)});
    let e = set(&broker, "gw-1", "filter", over).await.unwrap_err();
    assert!(matches!(e, OperatorError::TwinRefused { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("nothing was published") && text.contains("bytes"),
        "{text}"
    );
    let e = set(&broker, "gw-1", "filter", json!({"bad.key": 1}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("desired.bad.key"), "{e}");

    // The watcher sees the retained version 1 only, nothing new.
    let deadline = Instant::now() + Duration::from_millis(500);
    while let Some(incoming) = watcher.next_publish(Some(deadline)).await.unwrap() {
        assert!(incoming.retain, "published: {incoming:?}");
    }
    watcher.disconnect().await;
    assert_eq!(get(&broker, "gw-1", "filter").await.desired.version, 1);
}

#[tokio::test]
async fn invoke_with_no_gateway_says_the_gateway_did_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let mut s = session(&broker).await;
    // Nothing subscribes: mosquitto says so in the PUBACK, and the call ends
    // at once.
    let request = MethodRequest::new("gw-1", "filter", "reset", "{}", 5).unwrap();
    let started = Instant::now();
    let e = method::invoke(&mut s, &request).await.unwrap_err();
    assert!(matches!(e, OperatorError::NoAnswer { .. }), "{e:?}");
    assert!(e.to_string().contains("offline"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));

    s.disconnect().await;
}

#[tokio::test]
async fn status_of_an_unknown_device_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let mut s = session(&broker).await;
    let e = status::read_status(&mut s, "nobody", WAIT)
        .await
        .unwrap_err();
    assert!(matches!(e, OperatorError::NoStatus { .. }), "{e:?}");
    assert!(
        e.to_string().contains("no status for device `nobody`"),
        "{e}"
    );

    s.disconnect().await;
}

/// A gateway running `twin-probe` as module `probe`, on `broker`.
async fn gateway(dir: &std::path::Path, broker: &Broker, device: &str) -> Gateway {
    let text = format!(
        "[modules.probe]\npath = \"{}\"\n\n[routes]\n\
         twins = \"FROM /twinChangeNotifications INTO $upstream\"\n",
        ganglion_tests::toml_path(TWIN_PROBE)
    );
    let m = Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap();
    let uplink = crate::support::fast_uplink(&broker.url(), device);
    let options = {
        let mut o = GatewayOptions::new(dir.join("data"));
        o.uplink = Some(uplink);
        o
    };
    Gateway::start_with(&m, &options).await.unwrap()
}

/// Reads the twin until `want` holds, for up to 20 s.
async fn until_twin(
    broker: &Broker,
    device: &str,
    want: impl Fn(&twin::TwinSides) -> bool,
) -> twin::TwinSides {
    let want = &want;
    retry(
        PAUSE,
        Duration::from_secs(20),
        "the twin as wanted",
        || async move {
            let sides = get(broker, device, "probe").await;
            if want(&sides) {
                Ok(sides)
            } else {
                Err(sides.to_json())
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twin_set_reaches_the_module_and_twin_get_shows_its_report_also_after_offline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let gw = gateway(dir.path(), &broker, "gw-op").await;
    set(&broker, "gw-op", "probe", json!({"threshold": 30}))
        .await
        .unwrap();
    let sides = until_twin(&broker, "gw-op", |s| {
        s.reported.to_json()["seen"]["threshold"] == 30
    })
    .await;
    assert_eq!(sides.desired.version, 1);
    gw.shutdown().await;

    // Offline, the operator changes the twin twice.
    set(&broker, "gw-op", "probe", json!({"threshold": 31}))
        .await
        .unwrap();
    set(&broker, "gw-op", "probe", json!({"mode": "fast"}))
        .await
        .unwrap();
    let gw = gateway(dir.path(), &broker, "gw-op").await;
    let sides = until_twin(&broker, "gw-op", |s| {
        s.reported.to_json()["seen"] == json!({"threshold": 31, "mode": "fast"})
    })
    .await;
    assert_eq!(sides.desired.version, 3);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_status_and_monitor_against_a_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let mut m = session(&broker).await;
    monitor::start(&mut m, "gw-op").await.unwrap();
    let gw = gateway(dir.path(), &broker, "gw-op").await;
    let s = session(&broker).await;

    // The gateway subscribes as it connects: retry until it answers.
    let request = MethodRequest::new("gw-op", "probe", "echo", r#"{"hard": true}"#, 7).unwrap();
    let shared = tokio::sync::Mutex::new(s);
    let response = retry(
        PAUSE,
        Duration::from_secs(20),
        "the method's answer",
        || async { method::invoke(&mut *shared.lock().await, &request).await },
    )
    .await;
    let mut s = shared.into_inner();
    assert_eq!(response.status, 200);
    assert_eq!(response.payload, json!({"hard": true}));
    assert!(response.is_success());
    let request = MethodRequest::new("gw-op", "nope", "x", "{}", 7).unwrap();
    let response = method::invoke(&mut s, &request).await.unwrap();
    assert_eq!(response.status, 404);
    assert!(!response.is_success());
    assert!(
        response.message().unwrap().contains("nope"),
        "{:?}",
        response.message()
    );

    let found = status::read_status(&mut s, "gw-op", WAIT).await.unwrap();
    assert_eq!(found.online, Some(true));
    let text = status::render(&found);
    assert!(text.starts_with("device gw-op: online"), "{text}");
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("probe "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row.get(1..3), Some(&["running", "0"][..]), "{text}");

    // A report shows in the monitor, both as the reported document and as the
    // telemetry its twin change notification became.
    set(&broker, "gw-op", "probe", json!({"threshold": 5}))
        .await
        .unwrap();
    let (mut reported, mut telemetry) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(reported && telemetry) {
        let event = tokio::time::timeout_at(deadline, monitor::next_event(&mut m, "gw-op"))
            .await
            .expect("monitor events")
            .unwrap();
        let line = event.to_json("T");
        if line["event"] == "reported" && line["document"]["seen"]["threshold"] == 5 {
            reported = true;
        }
        if line["event"] == "telemetry" && line.to_string().contains("threshold") {
            telemetry = true;
        }
    }
    m.disconnect().await;
    s.disconnect().await;
    gw.shutdown().await;
}
