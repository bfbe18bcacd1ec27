//! Deployments applied as a diff by a real gateway: from the cloud through
//! `ganglion deploy`'s library and a real mosquitto, and from an edited
//! manifest file with no broker at all. Changed routes change the traffic,
//! untouched modules are not restarted, a refused deployment leaves the old
//! one routing, and an applied one survives a restart.

use crate::support::{body, collect_until, drain_for};
use ganglion::message::{new_message, property};
use ganglion::operator::deploy::{self, ManifestText};
use ganglion::operator::{BrokerSettings, Session};
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::RELAY;
use ganglion_tests::broker::Broker;
use ganglion_tests::eventually::eventually;
use std::time::{Duration, SystemTime};

/// Two relays, `a` and `b`, tagging what they pass; `routes` decide the rest.
fn text(b_tag: &str, routes: &str) -> String {
    format!(
        "[modules.a]\npath = \"{relay}\"\nconfig = {{ tag = \"a\" }}\n\n\
         [modules.b]\npath = \"{relay}\"\nconfig = {{ tag = \"{b_tag}\" }}\n\n\
         [routes]\n{routes}",
        relay = ganglion_tests::toml_path(RELAY)
    )
}

const VIA_A: &str = "in = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint('/modules/a/inputs/in')\"\n\
                     out = \"FROM /messages/modules/* INTO $upstream\"\n";
const VIA_B: &str = "in = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint('/modules/b/inputs/in')\"\n\
                     out = \"FROM /messages/modules/* INTO $upstream\"\n";

fn started(gw: &Gateway, module: &str) -> (u64, Option<SystemTime>) {
    let m = gw.metrics();
    let s = m.module(module).unwrap();
    (s.restarts, s.last_start)
}

/// Sends one message from a device and returns who relayed it.
async fn relayed_by(
    gw: &Gateway,
    up: &mut tokio::sync::broadcast::Receiver<ganglion::envelope::UpstreamMessage>,
    n: usize,
) -> String {
    gw.inject("dev", new_message(format!("m{n}")))
        .await
        .unwrap();
    let got = collect_until(up, Duration::from_secs(10), |g| {
        g.iter().any(|m| body(m) == format!("m{n}"))
    })
    .await;
    let m = got.iter().find(|m| body(m) == format!("m{n}")).unwrap();
    property(&m.message, "relayed-by").unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_deployment_is_applied_as_a_diff_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let path = ganglion_tests::write_manifest(dir.path(), &text("b", VIA_A));
    let m = Manifest::load(&path).unwrap();
    let uplink = crate::support::fast_uplink(&broker.url(), "gw-dep");
    let mut options = GatewayOptions::new(dir.path().join("data"));
    options.uplink = Some(uplink);
    options.manifest_dir = dir.path().to_path_buf();
    let mut gw = Gateway::start_with(&m, &options).await.unwrap();
    let mut up = gw.subscribe_upstream();
    assert_eq!(relayed_by(&gw, &mut up, 0).await, "a");
    let a_before = started(&gw, "a");
    let b_before = started(&gw, "b");

    // v1: the traffic goes through b, whose configuration changed.
    let next = dir.path().join("next.toml");
    std::fs::write(&next, text("b2", VIA_B)).unwrap();
    let mut s = Session::connect(&BrokerSettings::new(&broker.url()))
        .await
        .unwrap();
    let manifest = ManifestText::read(&next, true).unwrap();
    let outcome = deploy::deploy(
        &mut s,
        "gw-dep",
        &manifest,
        Duration::from_millis(300),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert!(outcome.is_applied(), "{}", outcome.summary());
    assert_eq!(outcome.version, 1);
    let report = outcome.report.unwrap();
    let said = report.description().unwrap();
    assert!(
        said.contains("swapped b") && said.contains("unchanged a"),
        "{said}"
    );
    assert_eq!(relayed_by(&gw, &mut up, 1).await, "b2");
    assert_eq!(started(&gw, "a"), a_before, "a did not change: untouched");
    assert_ne!(
        started(&gw, "b").1,
        b_before.1,
        "b was swapped: a new instance"
    );

    // v2 does not validate: refused, reported, and v1 still routes.
    std::fs::write(&next, text("b3", "in = \"FROM /nowhere INTO $upstream\"\n")).unwrap();
    let bad = ManifestText::read(&next, false).unwrap();
    let outcome = deploy::deploy(
        &mut s,
        "gw-dep",
        &bad,
        Duration::from_millis(300),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert!(!outcome.is_applied());
    let report = outcome.report.unwrap();
    assert_eq!(report.code(), Some(400));
    assert!(
        report.description().unwrap().contains("routes.in")
            && report.description().unwrap().contains("/nowhere"),
        "{:?}",
        report.description()
    );
    assert_eq!(relayed_by(&gw, &mut up, 2).await, "b2");

    // v3 is not even a deployment document: refused under the version it
    // names, with the reason in the status, and v1 still routes.
    s.publish(
        &deploy::deployment_topic("gw-dep"),
        br#"{"version": 3, "manifest": 42}"#.to_vec(),
        true,
        Default::default(),
    )
    .await
    .unwrap();
    let d = eventually(Duration::from_secs(20), "v3 reported", || {
        gw.deployment().filter(|d| d.version == 3).ok_or(())
    })
    .await;
    assert_eq!(d.code, 400);
    assert!(d.description.contains("malformed"), "{}", d.description);
    assert_eq!(relayed_by(&gw, &mut up, 4).await, "b2");
    s.disconnect().await;
    gw.shutdown().await;

    // Restarted on the same data, offline: v1 (stored) runs, not the file.
    let mut offline = GatewayOptions::new(dir.path().join("data"));
    offline.manifest_dir = dir.path().to_path_buf();
    let mut gw = Gateway::start_with(&m, &offline).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let _ = drain_for(&mut up, Duration::from_millis(100)).await;
    assert_eq!(relayed_by(&gw, &mut up, 3).await, "b2");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_manifest_file_applies_it_with_no_broker() {
    let dir = tempfile::tempdir().unwrap();
    let path = ganglion_tests::write_manifest(dir.path(), &text("b", VIA_A));
    let m = Manifest::load(&path).unwrap();
    let mut options = GatewayOptions::new(dir.path().join("data"));
    options.watch = Some(path.clone());
    let mut gw = Gateway::start_with(&m, &options).await.unwrap();
    let mut up = gw.subscribe_upstream();
    assert_eq!(relayed_by(&gw, &mut up, 0).await, "a");
    let a_before = started(&gw, "a");

    std::fs::write(&path, text("b", VIA_B)).unwrap();
    let mut n = 1;
    while relayed_by(&gw, &mut up, n).await != "b" {
        n += 1;
        assert!(n < 100, "the edit was never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(started(&gw, "a"), a_before, "a untouched");
    assert_eq!(
        started(&gw, "b").0,
        0,
        "b unchanged: only the routes changed"
    );

    // An edit that does not validate is refused, and changes nothing.
    std::fs::write(&path, "[routes]\nin = \"FROM /nowhere\"\n").unwrap();
    let d = eventually(Duration::from_secs(20), "the edit refused", || {
        gw.deployment().filter(|d| d.code == 400).ok_or(())
    })
    .await;
    assert!(d.description.contains("/nowhere"), "{}", d.description);
    assert_eq!(relayed_by(&gw, &mut up, 1000).await, "b");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_deployment_that_no_longer_loads_gives_way_to_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let path = ganglion_tests::write_manifest(dir.path(), &text("b", VIA_A));
    let m = Manifest::load(&path).unwrap();
    let mut options = GatewayOptions::new(dir.path().join("data"));
    options.uplink = Some(crate::support::fast_uplink(&broker.url(), "gw-gone"));
    options.manifest_dir = dir.path().to_path_buf();
    let mut gw = Gateway::start_with(&m, &options).await.unwrap();

    // v1 runs b from a file of its own, which is then damaged.
    let gone = dir.path().join("gone.wasm");
    std::fs::copy(RELAY, &gone).unwrap();
    let v1 = text("b2", VIA_B).replacen(
        &ganglion_tests::toml_path(RELAY),
        &ganglion_tests::toml_path(gone.to_str().unwrap()),
        2,
    );
    let v1 = v1.replacen(
        &ganglion_tests::toml_path(gone.to_str().unwrap()),
        &ganglion_tests::toml_path(RELAY),
        1,
    );
    let next = dir.path().join("next.toml");
    std::fs::write(&next, &v1).unwrap();
    let mut s = Session::connect(&BrokerSettings::new(&broker.url()))
        .await
        .unwrap();
    let manifest = ManifestText::read(&next, true).unwrap();
    let outcome = deploy::deploy(
        &mut s,
        "gw-gone",
        &manifest,
        Duration::from_millis(300),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert!(outcome.is_applied(), "{}", outcome.summary());
    s.disconnect().await;
    let mut up = gw.subscribe_upstream();
    assert_eq!(relayed_by(&gw, &mut up, 0).await, "b2");
    gw.shutdown().await;
    // Still there (so v1 validates) but no longer a component.
    std::fs::write(&gone, b"not a component").unwrap();

    // Restarted: v1's b does not load, so the manifest runs instead of the
    // gateway staying down.
    let mut offline = GatewayOptions::new(dir.path().join("data"));
    offline.manifest_dir = dir.path().to_path_buf();
    let mut gw = Gateway::start_with(&m, &offline).await.unwrap();
    let mut up = gw.subscribe_upstream();
    assert_eq!(relayed_by(&gw, &mut up, 1).await, "a");
    let d = gw.deployment().unwrap();
    assert_eq!((d.version, d.code), (0, 200));
    gw.shutdown().await;
}
