//! `ganglion module push` through a real mosquitto to a gateway that trusts
//! one key: the artifact arrives in chunks, is checked and stored in sled,
//! and the redeployed manifest names it by digest; the module is
//! hot-swapped to it. Artifacts that are unsigned, signed by an unknown key,
//! tampered with or not of the module world are refused with the reason,
//! and the running version keeps serving. After a restart, the pushed
//! version runs from the store, with its storage.

use crate::support::{body, collect_until, drain_for, fast_uplink};
use ganglion::artifact::{self, signature_path};
use ganglion::envelope::UpstreamMessage;
use ganglion::message::{new_message, property};
use ganglion::operator::deploy::{self, ManifestText};
use ganglion::operator::push::{self, PushWaits};
use ganglion::operator::{BrokerSettings, OperatorError, Session};
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::{COUNTER, RELAY, TEMP_FILTER, WRONG_WORLD};
use ganglion_tests::broker::Broker;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::broadcast::Receiver;

const DEVICE: &str = "gw-push";

const WAITS: PushWaits = PushWaits {
    retained: Duration::from_millis(300),
    stored: Duration::from_secs(60),
    status: Duration::from_secs(30),
};

fn copy_signed(dir: &Path, component: &str, name: &str, key: &Path) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(component, &to).unwrap();
    artifact::sign(&to, key).unwrap();
    to
}

fn manifest_text(module_file: &Path) -> String {
    format!(
        "[modules.m]\npath = \"{}\"\n\n[routes]\n\
         in = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint('/modules/m/inputs/in')\"\n\
         out = \"FROM /messages/modules/m/* INTO $upstream\"\n",
        ganglion_tests::toml_path(module_file.to_str().unwrap())
    )
}

/// Sends a message and returns what `m` made of it.
async fn answer(gw: &Gateway, up: &mut Receiver<UpstreamMessage>, n: usize) -> UpstreamMessage {
    let _ = drain_for(up, Duration::from_millis(50)).await;
    gw.inject("dev", new_message(format!("m{n}")))
        .await
        .unwrap();
    collect_until(up, Duration::from_secs(10), |g| !g.is_empty())
        .await
        .remove(0)
}

async fn refusal(s: &mut Session, file: &Path) -> String {
    match push::push(s, DEVICE, "m", file, WAITS).await {
        Err(e @ OperatorError::ArtifactRefused { .. }) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_module_is_checked_stored_swapped_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let keys = dir.path().join("trusted");
    std::fs::create_dir(&keys).unwrap();
    let (ops, public) = artifact::generate_key(dir.path(), "ops").unwrap();
    std::fs::copy(&public, keys.join("ops.pub")).unwrap();
    let (stranger, _) = artifact::generate_key(dir.path(), "stranger").unwrap();

    let relay = copy_signed(dir.path(), RELAY, "relay.wasm", &ops);
    let path = ganglion_tests::write_manifest(dir.path(), &manifest_text(&relay));
    let m = Manifest::load(&path).unwrap();
    let mut options = GatewayOptions::new(dir.path().join("data"));
    options.uplink = Some(fast_uplink(&broker.url(), DEVICE));
    options.manifest_dir = dir.path().to_path_buf();
    options.trusted_keys = Some(keys.clone());
    let mut gw = Gateway::start_with(&m, &options).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let first = answer(&gw, &mut up, 0).await;
    assert_eq!(property(&first.message, "relayed-by"), Some("relay"));

    let mut s = Session::connect(&BrokerSettings::new(&broker.url()))
        .await
        .unwrap();
    // A push needs a deployment on the broker to edit.
    // Bytes the gateway does not have (a copy of the counter's would be
    // "stored already" once the signed counter is in).
    let unsigned = dir.path().join("filter-unsigned.wasm");
    std::fs::copy(TEMP_FILTER, &unsigned).unwrap();
    let e = push::push(&mut s, DEVICE, "m", &unsigned, WAITS)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no deployment"), "{e}");
    let v1 = ManifestText::read(&path, true).unwrap();
    let outcome = deploy::deploy(&mut s, DEVICE, &v1, WAITS.retained, WAITS.status)
        .await
        .unwrap();
    assert!(outcome.is_applied(), "{}", outcome.summary());

    // The counter, signed by the trusted key, replaces the relay.
    let counter = copy_signed(dir.path(), COUNTER, "counter.wasm", &ops);
    let pushed = push::push(&mut s, DEVICE, "m", &counter, WAITS)
        .await
        .unwrap();
    assert!(pushed.signed);
    assert!(
        pushed.deployment.is_applied(),
        "{}",
        pushed.deployment.summary()
    );
    assert_eq!(pushed.digest, artifact_digest(COUNTER));
    assert_eq!(body(&answer(&gw, &mut up, 1).await), "1");
    let running = gw.metrics().module("m").unwrap().digest.clone();
    assert_eq!(running.as_deref(), Some(pushed.digest.as_str()));

    // Each bad artifact is refused with its reason; the counter keeps
    // counting.
    let e = refusal(&mut s, &unsigned).await;
    assert!(e.contains("unsigned"), "{e}");
    let foreign = copy_signed(dir.path(), RELAY, "foreign.wasm", &stranger);
    let e = refusal(&mut s, &foreign).await;
    assert!(e.contains("does not trust"), "{e}");
    let tampered = dir.path().join("tampered.wasm");
    let mut bytes = std::fs::read(&counter).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&tampered, &bytes).unwrap();
    std::fs::copy(signature_path(&counter), signature_path(&tampered)).unwrap();
    let e = refusal(&mut s, &tampered).await;
    assert!(e.contains("but the signature is for"), "{e}");
    let wrong = copy_signed(dir.path(), WRONG_WORLD, "wrong.wasm", &ops);
    let e = refusal(&mut s, &wrong).await;
    assert!(e.contains("ganglion:module/module world"), "{e}");
    assert_eq!(body(&answer(&gw, &mut up, 2).await), "2");

    // The same bytes again are stored already: nothing is sent twice, and
    // the deployment does not change.
    let again = push::push(&mut s, DEVICE, "m", &counter, WAITS)
        .await
        .unwrap();
    let said = again.deployment.report.unwrap();
    assert!(
        said.description().unwrap().contains("unchanged m"),
        "{:?}",
        said.description()
    );
    assert_eq!(body(&answer(&gw, &mut up, 3).await), "3");
    s.disconnect().await;
    gw.shutdown().await;

    // Restarted offline: the stored deployment names the pushed artifact,
    // which loads from the store, and the module's storage carried over.
    let mut offline = GatewayOptions::new(dir.path().join("data"));
    offline.manifest_dir = dir.path().to_path_buf();
    offline.trusted_keys = Some(keys);
    let mut gw = Gateway::start_with(&m, &offline).await.unwrap();
    let mut up = gw.subscribe_upstream();
    assert_eq!(body(&answer(&gw, &mut up, 4).await), "4");
    gw.shutdown().await;
}

fn artifact_digest(path: &str) -> String {
    ganglion::artifact::digest(&std::fs::read(path).unwrap())
}
