//! The metrics endpoint (`[metrics]`): scraped with a real HTTP client while
//! messages flow, its figures move as the flow says, and the cloud and
//! local links' state follows a real broker going down and up; an address
//! other machines can reach needs a token (or explicit consent), and a
//! request without it gets 401.

use crate::support::{collect_until, start_all};
use ganglion::Manifest;
use ganglion::message::new_message;
use ganglion_tests::artifacts::RELAY;
use ganglion_tests::prometheus::metric as value;
use ganglion_tests::toml_path;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "s3cret-token-0123456789";

/// A relay `a` fed by device messages and sending to `$upstream`, with
/// `metrics` as the `[metrics]` table's body.
fn relay_manifest(dir: &Path, metrics: &str) -> Result<Manifest, ganglion::ManifestError> {
    let text = format!(
        "[modules.a]\npath = \"{}\"\n\n[routes]\n\
         in = 'FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO BrokeredEndpoint(\"/modules/a/inputs/in\")'\n\
         up = 'FROM /messages/modules/a/* INTO $upstream'\n\n[metrics]\n{metrics}\n",
        toml_path(RELAY)
    );
    Manifest::load(&ganglion_tests::write_manifest(dir, &text))
}

/// `GET /metrics` on `addr` (on loopback, whatever the endpoint bound),
/// with `token` as a bearer token if given: the status, the content type and
/// the body.
async fn scrape(addr: SocketAddr, token: Option<&str>) -> (u16, String, String) {
    http_get(addr, "/metrics", token).await
}

/// `GET path` on `addr`'s port on loopback, with `token` as a bearer token if
/// given: the status, the content type and the body.
pub(crate) async fn http_get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> (u16, String, String) {
    let url = format!("http://127.0.0.1:{}{path}", addr.port());
    let token = token.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut req = agent.get(&url);
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().expect("the endpoint answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let body = resp.body_mut().read_to_string().expect("a text body");
        (status, content_type, body)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_what_flowed() {
    let dir = tempfile::tempdir().unwrap();
    let m = relay_manifest(dir.path(), "addr = \"127.0.0.1:0\"").unwrap();
    let mut gw = start_all(&m, dir.path()).await;
    let addr = gw.metrics_addr().expect("the endpoint runs");
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    let (status, content_type, before) = scrape(addr, None).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let received = r#"ganglion_module_messages_received_total{module="a"}"#;
    assert_eq!(value(&before, received), 0.0);
    assert_eq!(
        value(
            &before,
            r#"ganglion_module_status{module="a",status="running"}"#
        ),
        1.0
    );
    assert!(value(&before, "process_resident_memory_bytes") > 1e6);
    assert_eq!(
        value(&before, "ganglion_upstream_oldest_message_age_seconds"),
        0.0
    );

    let mut up = gw.subscribe_upstream();
    for i in 0..3 {
        gw.inject("dev-1", new_message(format!("m{i}").into_bytes()))
            .await
            .unwrap();
    }
    collect_until(&mut up, WAIT, |g| g.len() == 3).await;
    let (_, _, after) = scrape(addr, None).await;
    assert_eq!(value(&after, received), 3.0);
    assert_eq!(
        value(&after, r#"ganglion_module_messages_sent_total{module="a"}"#),
        3.0
    );
    assert_eq!(
        value(
            &after,
            r#"ganglion_route_messages_matched_total{route="in"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &after,
            r#"ganglion_route_messages_matched_total{route="up"}"#
        ),
        3.0
    );
    assert_eq!(
        value(&after, "ganglion_upstream_messages_accepted_total"),
        3.0
    );
    // No cloud link: they wait in the queue.
    assert_eq!(value(&after, "ganglion_upstream_queue_messages"), 3.0);
    assert_eq!(value(&after, "ganglion_uplink_connected"), 0.0);
    // The first of them waits, and its age grows.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, _, later) = scrape(addr, None).await;
    let age = value(&later, "ganglion_upstream_oldest_message_age_seconds");
    assert!((1.0..30.0).contains(&age), "{age} s");
    // What the calls cost: at least one call (the three may share a batch),
    // time in them, the instance's memory under its default limit.
    let calls = value(
        &after,
        r#"ganglion_module_call_duration_seconds_count{module="a"}"#,
    );
    assert!((1.0..=4.0).contains(&calls), "{calls} calls");
    assert_eq!(
        value(
            &after,
            r#"ganglion_module_call_duration_seconds_bucket{module="a",le="+Inf"}"#
        ),
        calls
    );
    assert!(value(&after, r#"ganglion_module_call_seconds_total{module="a"}"#) > 0.0);
    let memory = value(&after, r#"ganglion_module_memory_bytes{module="a"}"#);
    let limit = value(&after, r#"ganglion_module_memory_limit_bytes{module="a"}"#);
    assert!(memory > 0.0 && memory <= limit, "{memory} of {limit}");
    assert_eq!(limit, (64u64 << 20) as f64);
    assert_eq!(
        value(&after, r#"ganglion_module_queue_messages{module="a"}"#),
        0.0
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposed_endpoint_asks_for_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let err = relay_manifest(dir.path(), "addr = \"0.0.0.0:0\"").unwrap_err();
    assert!(err.to_string().contains("metrics.token-file"), "{err}");

    std::fs::write(dir.path().join("metrics.token"), format!("{TOKEN}\n")).unwrap();
    let m = relay_manifest(
        dir.path(),
        "addr = \"0.0.0.0:0\"\ntoken-file = \"metrics.token\"",
    )
    .unwrap();
    let gw = start_all(&m, dir.path()).await;
    let addr = gw.metrics_addr().unwrap();
    assert!(addr.ip().is_unspecified(), "{addr}");
    let (status, _, body) = scrape(addr, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("ganglion_"), "{body}");
    assert_eq!(scrape(addr, Some("s3cret-token-0123456788")).await.0, 401);
    let (status, _, body) = scrape(addr, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body.contains("ganglion_module_messages_received_total"));
    gw.shutdown().await;

    let m = relay_manifest(dir.path(), "addr = \"0.0.0.0:0\"\nallow-anonymous = true").unwrap();
    let gw = start_all(&m, dir.path()).await;
    assert_eq!(scrape(gw.metrics_addr().unwrap(), None).await.0, 200);
    gw.shutdown().await;
}

#[test]
fn a_weak_or_missing_token_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = relay_manifest(dir.path(), "addr = \"9600\"\ntoken-file = \"none.token\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metrics.token-file") && err.contains("none.token"),
        "{err}"
    );
    std::fs::write(dir.path().join("weak.token"), "1234\n").unwrap();
    let err = relay_manifest(dir.path(), "addr = \"9600\"\ntoken-file = \"weak.token\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 16"), "{err}");
    let err = relay_manifest(dir.path(), "addr = \"gateway.local:80\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("metrics.addr"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_fails_the_start_and_names_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let m = relay_manifest(dir.path(), "addr = \"127.0.0.1:0\"").unwrap();
    let first = start_all(&m, dir.path()).await;
    let taken = first.metrics_addr().unwrap();
    let mut options = ganglion::GatewayOptions::new(dir.path().join("data-2"));
    options.metrics_addr = Some(taken);
    // A start that fails shuts down what it started; it must not hang.
    let second = tokio::time::timeout(WAIT, ganglion::Gateway::start_with(&m, &options))
        .await
        .expect("the failed start ends");
    let Err(err) = second else {
        panic!("a second endpoint on {taken} started");
    };
    let err = err.to_string();
    assert!(err.contains(&format!("cannot listen on {taken}")), "{err}");
    first.shutdown().await;
}

/// Scrapes `addr` until `want` holds for the body; fails after [`WAIT`].
async fn scrape_until(addr: SocketAddr, what: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, _, body) = scrape(addr, None).await;
        if want(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_links_state_and_reconnections_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = ganglion_tests::broker::Broker::start(dir.path()).unwrap();
    let text = format!(
        "[modules.a]\npath = \"{}\"\n\n[routes]\nup = 'FROM /messages/modules/a/* INTO $upstream'\n\n\
         [upstream]\nurl = \"{url}\"\ndevice-id = \"it-metrics\"\n\n\
         [ingest]\nurl = \"{url}\"\ntopics = [\"sensors/+/telemetry\"]\nclient-id = \"it-metrics-ingest\"\n\n\
         [metrics]\naddr = \"127.0.0.1:0\"\n",
        toml_path(RELAY),
        url = broker.url()
    );
    let m = Manifest::load(&ganglion_tests::write_manifest(dir.path(), &text)).unwrap();
    let gw = start_all(&m, dir.path()).await;
    let addr = gw.metrics_addr().unwrap();
    let both = |up: f64| {
        move |b: &str| {
            value(b, "ganglion_uplink_connected") == up
                && value(b, "ganglion_ingest_connected") == up
        }
    };
    let first = scrape_until(addr, "both links up", both(1.0)).await;
    assert_eq!(value(&first, "ganglion_uplink_connects_total"), 1.0);
    assert_eq!(value(&first, "ganglion_ingest_connects_total"), 1.0);
    assert_eq!(value(&first, "ganglion_ingest_active"), 1.0);

    broker.stop();
    scrape_until(addr, "both links down", both(0.0)).await;
    broker.resume().unwrap();
    let again = scrape_until(addr, "both links up again", both(1.0)).await;
    // Each reconnection is counted (a session the broker dropped on its way
    // down and made again before it stopped would count too).
    assert!(value(&again, "ganglion_uplink_connects_total") >= 2.0);
    assert!(value(&again, "ganglion_ingest_connects_total") >= 2.0);
    gw.shutdown().await;
}
