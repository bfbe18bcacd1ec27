//! Hot swap with real components: a module's new version takes over under
//! load with every message delivered once and in order; a new version that
//! fails `init` is never switched to; one that keeps trapping is rolled back.

use crate::support::{body, collect_until, drain_for};
use ganglion::message::{new_message, property};
use ganglion::{Gateway, Manifest};
use ganglion_tests::artifacts::{RELAY, SPINNER, TRAPPER};
use ganglion_tests::eventually::retry;
use std::path::Path;
use std::time::Duration;

/// Module `m` from `path` with extra keys, fed from devices, out to `$upstream`.
fn manifest(dir: &Path, path: &str, extra: &str) -> Manifest {
    let text = format!(
        "[modules.m]\npath = \"{}\"\n{extra}\n\n[routes]\n\
         in = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint('/modules/m/inputs/in')\"\n\
         out = \"FROM /messages/modules/m/* INTO $upstream\"\n",
        ganglion_tests::toml_path(path)
    );
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_under_load_delivers_every_message_once_in_order() {
    const N: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    // A queue longer than the run: a full queue drops by policy, and this
    // test is about the swap.
    let v1 = manifest(
        dir.path(),
        RELAY,
        "config = { tag = \"v1\" }\nqueue-length = 4096",
    );
    let mut gw = Gateway::start(&v1, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let v2 = manifest(
        dir.path(),
        RELAY,
        "config = { tag = \"v2\" }\nqueue-length = 4096",
    );
    let mut outcome = None;
    for i in 0..N {
        gw.inject("dev", new_message(format!("{i}"))).await.unwrap();
        if i == N / 2 {
            outcome = Some(gw.apply(&v2).await.unwrap());
        }
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let outcome = outcome.unwrap();
    assert_eq!(outcome.code, 200, "{}", outcome.description);
    assert!(
        outcome.description.contains("swapped m"),
        "{}",
        outcome.description
    );
    let got = collect_until(&mut up, Duration::from_secs(60), |g| g.len() >= N).await;
    let extra = drain_for(&mut up, Duration::from_millis(300)).await;
    assert!(extra.is_empty(), "no message twice: {} more", extra.len());
    let seq: Vec<usize> = got.iter().map(|m| body(m).parse().unwrap()).collect();
    assert_eq!(seq, (0..N).collect::<Vec<_>>(), "each once, in order");
    let tags: Vec<&str> = got
        .iter()
        .map(|m| property(&m.message, "relayed-by").unwrap())
        .collect();
    let switch = tags.iter().position(|t| *t == "v2").expect("v2 serves");
    assert!(tags[..switch].iter().all(|t| *t == "v1"));
    assert!(tags[switch..].iter().all(|t| *t == "v2"), "no v1 after v2");
    assert!(
        switch > 0 && switch <= N / 2 + 1 + 1024,
        "the switch came with the swap: {switch}"
    );
    let m = gw.metrics();
    assert_eq!(
        m.module("m").unwrap().restarts,
        0,
        "a swap is not a restart"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_that_fails_init_is_never_switched_to() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = manifest(dir.path(), RELAY, "config = { tag = \"v1\" }");
    let mut gw = Gateway::start(&v1, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let bad = manifest(
        dir.path(),
        SPINNER,
        "config = { spin-in-init = \"true\" }\ncpu-deadline-ms = 50",
    );
    let outcome = gw.apply(&bad).await.unwrap();
    assert!(
        outcome
            .description
            .contains("kept the running version of m"),
        "{}",
        outcome.description
    );
    gw.inject("dev", new_message("after")).await.unwrap();
    let got = collect_until(&mut up, Duration::from_secs(10), |g| !g.is_empty()).await;
    assert_eq!(property(&got[0].message, "relayed-by"), Some("v1"));
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_that_keeps_trapping_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = manifest(dir.path(), RELAY, "config = { tag = \"v1\" }");
    let mut gw = Gateway::start(&v1, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let trapping = manifest(dir.path(), TRAPPER, "restart-backoff-base-ms = 10");
    let outcome = gw.apply(&trapping).await.unwrap();
    assert!(
        outcome.description.contains("swapped m"),
        "{}",
        outcome.description
    );
    let gw_ref = &gw;
    let d = retry(
        Duration::from_millis(100),
        Duration::from_secs(30),
        "a rollback",
        || async move {
            gw_ref.inject("dev", new_message("trap")).await.unwrap();
            gw_ref.deployment().filter(|d| d.code == 500).ok_or(())
        },
    )
    .await;
    assert!(
        d.description.contains("rolled module `m` back"),
        "{}",
        d.description
    );
    let _ = drain_for(&mut up, Duration::from_millis(300)).await;
    gw.inject("dev", new_message("after")).await.unwrap();
    let got = collect_until(&mut up, Duration::from_secs(10), |g| {
        g.iter().any(|m| body(m) == "after")
    })
    .await;
    let after = got.iter().find(|m| body(m) == "after").unwrap();
    assert_eq!(
        property(&after.message, "relayed-by"),
        Some("v1"),
        "v1 is back"
    );
    gw.shutdown().await;
}
