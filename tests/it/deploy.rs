//! `ganglion deploy` (the library the CLI is a thin layer over) against a
//! real mosquitto with no gateway: the broker side only. Each deployment is
//! retained on `ganglion/{device}/deployment` with the next version, and a
//! manifest that does not validate publishes nothing.

use ganglion::operator::deploy::{self, ManifestText, deployment_topic};
use ganglion::operator::{BrokerSettings, OperatorError, Session};
use ganglion::protocol::deployment::Deployment;
use ganglion_tests::broker::Broker;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// How long the tests wait for retained documents: the local broker sends
/// them at once.
const WAIT: Duration = Duration::from_millis(300);

async fn session(broker: &Broker) -> Session {
    Session::connect(&BrokerSettings::new(&broker.url()))
        .await
        .unwrap()
}

/// A manifest in `dir` naming `filter.wasm`, which exists (validation only
/// checks that the file is there).
fn manifest(dir: &Path, name: &str, route: &str) -> ManifestText {
    std::fs::write(dir.join("filter.wasm"), b"").unwrap();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("[modules.filter]\npath = \"filter.wasm\"\n\n[routes]\nr = \"{route}\"\n"),
    )
    .unwrap();
    ManifestText::read(&path, true).unwrap()
}

/// Deploys without waiting for the gateway (`--wait 0`).
async fn deploy_now(broker: &Broker, device: &str, manifest: &ManifestText) -> u64 {
    let mut s = session(broker).await;
    let outcome = deploy::deploy(&mut s, device, manifest, WAIT, Duration::ZERO).await;
    s.disconnect().await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.report, None);
    assert_eq!(
        outcome.to_json(),
        serde_json::json!({"version": outcome.version, "status": null})
    );
    outcome.version
}

async fn retained(broker: &Broker, device: &str) -> Option<Deployment> {
    let topic = deployment_topic(device);
    let mut s = session(broker).await;
    let mut found = s
        .read_retained(std::slice::from_ref(&topic), WAIT)
        .await
        .unwrap();
    s.disconnect().await;
    found
        .remove(&topic)
        .map(|d| Deployment::parse(&d.payload).unwrap())
}

#[tokio::test]
async fn deploys_are_retained_with_rising_versions() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let first = manifest(dir.path(), "a.toml", "FROM /messages/* INTO $upstream");
    let second = manifest(
        dir.path(),
        "b.toml",
        "FROM /messages/modules/filter/* INTO $upstream",
    );

    assert_eq!(deploy_now(&broker, "gw-1", &first).await, 1);
    let held = retained(&broker, "gw-1").await.unwrap();
    assert_eq!((held.version, held.manifest.as_str()), (1, first.text()));

    assert_eq!(deploy_now(&broker, "gw-1", &second).await, 2);
    let held = retained(&broker, "gw-1").await.unwrap();
    assert_eq!((held.version, held.manifest.as_str()), (2, second.text()));

    // Another device has its own versions.
    assert_eq!(retained(&broker, "gw-2").await, None);
    assert_eq!(deploy_now(&broker, "gw-2", &first).await, 1);
}

#[tokio::test]
async fn with_no_gateway_the_wait_ends_unreported() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let m = manifest(dir.path(), "m.toml", "FROM /messages/* INTO $upstream");
    let mut s = session(&broker).await;
    let started = Instant::now();
    let wait = Duration::from_millis(500);
    let outcome = deploy::deploy(&mut s, "gw-1", &m, WAIT, wait)
        .await
        .unwrap();
    s.disconnect().await;
    assert!(started.elapsed() >= wait);
    assert_eq!((outcome.version, outcome.report.clone()), (1, None));
    assert!(!outcome.is_applied());
    let summary = outcome.summary();
    assert!(
        summary.contains("did not report deployment version 1") && summary.contains("connects"),
        "{summary}"
    );
    // Published all the same, for the gateway to take when it connects.
    assert_eq!(retained(&broker, "gw-1").await.unwrap().version, 1);
}

#[tokio::test]
async fn an_invalid_manifest_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let good = manifest(dir.path(), "good.toml", "FROM /messages/* INTO $upstream");
    assert_eq!(deploy_now(&broker, "gw-1", &good).await, 1);
    let mut watcher = session(&broker).await;
    watcher
        .subscribe(&[deployment_topic("gw-1")])
        .await
        .unwrap();

    // A route to a module that does not exist, and a module file that does
    // not exist.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[modules.filter]\npath = \"filter.wasm\"\n[modules.ml]\npath = \"ml.wasm\"\n\n\
         [routes]\nr = \"FROM /messages/modules/nope/* INTO $upstream\"\n",
    )
    .unwrap();
    let e = ManifestText::read(&bad, true).unwrap_err();
    assert!(
        matches!(
            e,
            OperatorError::ManifestRefused {
                only_missing_files: false,
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("bad.toml:4:8") && text.contains("nothing was published"),
        "{text}"
    );
    assert!(!text.contains("--no-check"), "{text}");

    // Only missing files: the hint names --no-check, which skips the check.
    let missing = dir.path().join("missing.toml");
    std::fs::write(&missing, "[modules.ml]\npath = \"ml.wasm\"\n").unwrap();
    let e = ManifestText::read(&missing, true).unwrap_err().to_string();
    assert!(
        e.contains("missing.toml:2:8") && e.contains("--no-check"),
        "{e}"
    );

    // The watcher sees the retained version 1 only, nothing new.
    let deadline = Instant::now() + Duration::from_millis(500);
    while let Some(incoming) = watcher.next_publish(Some(deadline)).await.unwrap() {
        assert!(incoming.retain, "published: {incoming:?}");
    }
    watcher.disconnect().await;
    let held = retained(&broker, "gw-1").await.unwrap();
    assert_eq!((held.version, held.manifest.as_str()), (1, good.text()));

    // With --no-check, the manifest goes out as it is, for the gateway to
    // judge.
    let unchecked = ManifestText::read(&missing, false).unwrap();
    assert_eq!(deploy_now(&broker, "gw-1", &unchecked).await, 2);
}
