//! Helpers shared by the integration tests.

use ganglion::envelope::UpstreamMessage;
use ganglion::message::new_message;
use ganglion::{Manifest, Message};
use ganglion_tests::toml_path;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast;

/// A module for [`manifest`]: name, component path, config pairs.
pub type ModuleDef<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Writes and loads a manifest with these modules and (name, route) pairs.
pub fn manifest(dir: &Path, modules: &[ModuleDef<'_>], routes: &[(&str, &str)]) -> Manifest {
    let mut text = String::new();
    for (name, path, config) in modules {
        text.push_str(&format!(
            "[modules.{name}]\npath = \"{}\"\n",
            toml_path(path)
        ));
        if !config.is_empty() {
            text.push_str(&format!("[modules.{name}.config]\n"));
            for (k, v) in *config {
                text.push_str(&format!("{k} = \"{v}\"\n"));
            }
        }
    }
    text.push_str("[routes]\n");
    for (name, route) in routes {
        text.push_str(&format!("{name} = '{route}'\n"));
    }
    let path = ganglion_tests::write_manifest(dir, &text);
    Manifest::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Starts a gateway on `m` with its data in `dir/data`, and checks that
/// every module started.
pub async fn start_all(m: &Manifest, dir: &Path) -> ganglion::Gateway {
    let gw = ganglion::Gateway::start(m, &dir.join("data"))
        .await
        .unwrap();
    assert!(
        gw.failed_to_start().is_empty(),
        "{:?}",
        gw.failed_to_start()
    );
    gw
}

/// Receives `$upstream` messages until `done` says so, or fails after `within`.
pub async fn collect_until(
    rx: &mut broadcast::Receiver<UpstreamMessage>,
    within: Duration,
    mut done: impl FnMut(&[UpstreamMessage]) -> bool,
) -> Vec<UpstreamMessage> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while !done(&got) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(msg)) => got.push(msg),
            Ok(Err(e)) => panic!("upstream observer failed: {e}"),
            Err(_) => panic!(
                "timed out after {within:?} with {} upstream messages: {:?}",
                got.len(),
                got.iter().map(body).collect::<Vec<_>>()
            ),
        }
    }
    got
}

/// Receives whatever else arrives within `grace`.
pub async fn drain_for(
    rx: &mut broadcast::Receiver<UpstreamMessage>,
    grace: Duration,
) -> Vec<UpstreamMessage> {
    let mut got = Vec::new();
    while let Ok(Ok(msg)) = tokio::time::timeout(grace, rx.recv()).await {
        got.push(msg);
    }
    got
}

/// The body as text.
pub fn body(msg: &UpstreamMessage) -> String {
    String::from_utf8_lossy(&msg.message.body).into_owned()
}

/// A cloud connection to `url` as `device` that retries fast (100 ms up to
/// 1 s), so that tests do not wait on the production backoff.
pub fn fast_uplink(url: &str, device: &str) -> ganglion::uplink::UplinkConfig {
    let mut uplink = ganglion::uplink::UplinkConfig::from_url(url, device).unwrap();
    uplink.backoff =
        ganglion::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    uplink
}

/// A module's config for the harness, from (key, value) pairs.
pub fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A message whose body is `body` as JSON.
pub fn json_message(body: &Value) -> Message {
    new_message(body.to_string().into_bytes())
}

/// A message's JSON body.
pub fn json_body(msg: &Message) -> Value {
    serde_json::from_slice(&msg.body).unwrap()
}

/// The messages a module sent on `output`.
pub fn on<'a>(out: &'a [(String, Message)], output: &str) -> Vec<&'a Message> {
    out.iter()
        .filter(|(o, _)| o == output)
        .map(|(_, m)| m)
        .collect()
}

/// Waits (up to 10 s) until `gw`'s `$upstream` queue is empty: the cloud
/// broker acknowledged everything it held.
pub async fn queue_drained(gw: &ganglion::Gateway) {
    ganglion_tests::eventually::eventually(
        Duration::from_secs(10),
        "the queue drained",
        || match gw.metrics().queue.depth {
            0 => Ok(()),
            depth => Err(depth),
        },
    )
    .await;
}
