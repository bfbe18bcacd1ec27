//! Pushes through a real mosquitto: each a new version of the relay (its
//! bytes with a custom section numbering it, so a new digest that must be
//! checked and compiled), timed from the push's start to the status that
//! reports the deployment running it.

use ganglion::operator::deploy::{self, ManifestText};
use ganglion::operator::push::{self, PushWaits};
use ganglion::operator::{BrokerSettings, Session};
use ganglion::{Gateway, GatewayOptions, Manifest};
use ganglion_tests::artifacts::RELAY;
use ganglion_tests::broker::Broker;
use std::time::{Duration, Instant};

/// How many versions are pushed.
pub const PUSHES: usize = 20;
const DEVICE: &str = "gw-bench";

/// `bytes` with a custom section named `version` holding `n`.
fn numbered(bytes: &[u8], n: usize) -> Vec<u8> {
    let name = b"version";
    let payload = n.to_le_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut out = bytes.to_vec();
    out.push(0);
    let mut size = section.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&section);
    out
}

/// The time of each push, start to serving, and start to stored.
pub async fn pushes() -> (Vec<Duration>, Vec<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let text = format!(
        "[modules.m]\npath = \"{}\"\n\n[routes]\n\
         r = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint('/modules/m/inputs/in')\"\n",
        ganglion_tests::toml_path(RELAY)
    );
    let path = ganglion_tests::write_manifest(dir.path(), &text);
    let m = Manifest::load(&path).unwrap();
    let mut options = GatewayOptions::new(dir.path().join("data"));
    options.uplink = Some(ganglion::uplink::UplinkConfig::from_url(&broker.url(), DEVICE).unwrap());
    options.manifest_dir = dir.path().to_path_buf();
    let gw = Gateway::start_with(&m, &options).await.unwrap();
    let mut s = Session::connect(&BrokerSettings::new(&broker.url()))
        .await
        .unwrap();
    let waits = PushWaits {
        retained: Duration::from_millis(200),
        stored: Duration::from_secs(60),
        status: Duration::from_secs(60),
    };
    let v1 = ManifestText::read(&path, true).unwrap();
    let first = deploy::deploy(&mut s, DEVICE, &v1, waits.retained, waits.status)
        .await
        .unwrap();
    assert!(first.is_applied(), "{}", first.summary());
    let relay = std::fs::read(RELAY).unwrap();
    let (mut times, mut stored) = (Vec::new(), Vec::new());
    for n in 0..PUSHES {
        let file = dir.path().join(format!("relay-{n}.wasm"));
        std::fs::write(&file, numbered(&relay, n)).unwrap();
        let t = Instant::now();
        let pushed = push::push(&mut s, DEVICE, "m", &file, waits).await.unwrap();
        times.push(t.elapsed());
        stored.push(pushed.stored_after);
        assert!(
            pushed.deployment.is_applied(),
            "{}",
            pushed.deployment.summary()
        );
    }
    s.disconnect().await;
    gw.shutdown().await;
    (times, stored)
}
