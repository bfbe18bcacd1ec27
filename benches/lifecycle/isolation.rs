//! A relay's throughput beside a misbehaving module, against the relay
//! alone, in one gateway on a 2-worker runtime: the relay is sent a burst
//! of messages and timed until it has sent them all on (its own counter,
//! not the durable queue after it), while the neighbour is kept busy
//! failing.

use ganglion::message::new_message;
use ganglion::{Gateway, Manifest, Message};
use ganglion_benches::results::{Row, Table};
use ganglion_tests::artifacts::{RELAY, SPINNER, TRAPPER};
use std::path::Path;
use std::time::{Duration, Instant};

const BURST: u64 = 20_000;

/// A misbehaving neighbour: its component, its manifest keys, and the body
/// that makes it misbehave.
type Neighbour<'a> = Option<(&'a str, &'a str, &'a str)>;
const RUNS: usize = 3;

fn to(module: &str, body: &str) -> Message {
    let mut msg = new_message(body.as_bytes().to_vec());
    msg.properties.push(("to".into(), module.into()));
    msg
}

fn manifest(dir: &Path, neighbour: Option<(&str, &str)>) -> Manifest {
    let mut text = format!(
        "[modules.relay]\npath = \"{}\"\nqueue-length = 65536\n\n",
        ganglion_tests::toml_path(RELAY)
    );
    if let Some((path, keys)) = neighbour {
        text.push_str(&format!(
            "[modules.bad]\npath = \"{}\"\n{keys}\n\n",
            ganglion_tests::toml_path(path)
        ));
    }
    text.push_str("[routes]\n");
    let names: &[&str] = if neighbour.is_some() {
        &["relay", "bad"]
    } else {
        &["relay"]
    };
    for name in names {
        text.push_str(&format!(
            "to-{name} = 'FROM /messages/* WHERE is_defined($connectionDeviceId) AND to = \"{name}\" INTO BrokeredEndpoint(\"/modules/{name}/inputs/in\")'\n"
        ));
    }
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

/// Messages per second through the relay, with `neighbour` fed `poison`
/// every millisecond meanwhile.
async fn relay_rate(neighbour: Neighbour<'_>) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), neighbour.map(|(p, k, _)| (p, k)));
    let gw = std::sync::Arc::new(Gateway::start(&m, &dir.path().join("data")).await.unwrap());
    let feeder = neighbour.map(|(_, _, poison)| {
        let gw = gw.clone();
        let poison = poison.to_string();
        tokio::spawn(async move {
            loop {
                if gw.inject("dev", to("bad", &poison)).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    for n in 0..BURST {
        gw.inject("dev", to("relay", &format!("r{n}")))
            .await
            .unwrap();
    }
    while gw.metrics().module("relay").unwrap().sent < BURST {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let rate = BURST as f64 / t.elapsed().as_secs_f64();
    if let Some(f) = feeder {
        f.abort();
        let _ = f.await;
    }
    if let Ok(gw) = std::sync::Arc::try_unwrap(gw) {
        gw.shutdown().await;
    }
    rate
}

/// Measures every case and publishes the table.
pub async fn report() {
    let cases: [(&str, Neighbour<'_>); 3] = [
        ("alone", None),
        (
            "beside a module spinning to its 100 ms CPU deadline",
            Some((
                SPINNER,
                "cpu-deadline-ms = 100\nrestart-backoff-base-ms = 10\nrestart-backoff-cap-ms = 10",
                "spin",
            )),
        ),
        (
            "beside a module trapping on every message",
            Some((
                TRAPPER,
                "restart-backoff-base-ms = 10\nrestart-backoff-cap-ms = 10",
                "trap",
            )),
        ),
    ];
    let mut rows = Vec::new();
    for (name, neighbour) in cases {
        let mut rates = Vec::new();
        for _ in 0..RUNS {
            rates.push(relay_rate(neighbour).await);
        }
        let row = Row::new(format!("relay {name}"), "msg/s", rates);
        rows.push(if neighbour.is_none() {
            row
        } else {
            row.against("relay alone", None)
        });
    }
    Table {
        id: "isolation".into(),
        rows,
        notes: vec![format!(
            "A burst of {BURST} messages to the relay per run, {RUNS} runs per case."
        )],
    }
    .publish()
    .unwrap();
}
