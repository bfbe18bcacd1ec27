//! A representative subset of the gateway, run against the `ganglion` binary
//! as a process, so that it can run on another architecture: natively in
//! `cargo xtask test`, and in `cargo xtask test-cross` (which runs only
//! `emulated::`) against the aarch64 build under qemu-user (`GANGLION_BIN` names that binary and
//! `GANGLION_RUNNER` the emulator command before it).
//!
//! - routing: the demo's sensor → filter → `$upstream`, only readings above
//!   the threshold passing;
//! - a trap isolated: a module that traps on one leaf message while its
//!   neighbour forwards every message;
//! - store-and-forward across a restart: what a gateway without a cloud
//!   queued is delivered by the next start, which has one;
//! - the guest `.wasm` files are the bytes built on this machine (x86-64):
//!   the gateway's compiled cache is keyed by each file's sha256;
//! - precompiled components (`ganglion module compile`, by this machine's
//!   full build) run, and one for another architecture is refused. Only
//!   this test runs against the runtime-only build, which loads nothing
//!   else; `GANGLION_ARCH` names the architecture of the binary under test.

use ganglion_tests::artifacts::{RELAY, TEMP_FILTER, TEMP_SENSOR, TRAPPER};
use ganglion_tests::broker::Broker;
use ganglion_tests::cloud::{self, Session};
use ganglion_tests::process::{LOG, Running};
use ganglion_tests::toml_path;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, MqttOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long any one wait may take: emulation is 10–30 times slower, and the
/// first start compiles every component.
const WAIT: Duration = Duration::from_secs(180);
/// The device id of the gateway under test.
const DEVICE: &str = "gw-emulated";

/// `ganglion`, natively or through `GANGLION_RUNNER`.
fn ganglion() -> Command {
    let bin = std::env::var_os("GANGLION_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_ganglion")),
        PathBuf::from,
    );
    let runner = std::env::var("GANGLION_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(words).arg(bin);
            cmd
        }
        None => Command::new(bin),
    }
}

/// The architecture of the `ganglion` under test (`GANGLION_ARCH`, this
/// machine's by default).
fn gateway_arch() -> String {
    std::env::var("GANGLION_ARCH").unwrap_or_else(|_| std::env::consts::ARCH.to_string())
}

/// Whether the `ganglion` under test is the runtime-only build.
fn runtime_only() -> bool {
    let out = ganglion().arg("--version").output().expect("run ganglion");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).contains("runtime-only")
}

/// Precompiles `wasm` for `arch` into `dir`, with this machine's full build
/// (it compiles for either architecture).
fn precompile(dir: &Path, wasm: &str, arch: &str) -> PathBuf {
    let name = Path::new(wasm).file_stem().unwrap().to_string_lossy();
    let out = dir.join(format!("{name}.{arch}.cwasm"));
    let compiled = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["module", "compile", "--target", arch, wasm, "-o"])
        .arg(&out)
        .output()
        .expect("run ganglion module compile");
    assert!(compiled.status.success(), "{compiled:?}");
    out
}

/// Runs `ganglion run` on `manifest` with `args`, which it must refuse;
/// returns its stderr.
fn refused(dir: &Path, manifest: &str, args: &[&str]) -> String {
    let manifest = ganglion_tests::write_manifest(dir, manifest);
    let mut child = ganglion()
        .args(["run", "--flow-every", "0", "--manifest"])
        .arg(manifest)
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("refused-data"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ganglion");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway did not refuse the deployment within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Starts `ganglion run` on `manifest` in `dir`, with `upstream` as its
/// cloud when given.
fn start(dir: &Path, manifest: &str, upstream: Option<&Broker>) -> Running {
    let manifest = ganglion_tests::write_manifest(dir, manifest);
    let mut cmd = ganglion();
    cmd.args(["run", "--flow-every", "600", "--device-id", DEVICE])
        .arg("--manifest")
        .arg(manifest)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("GANGLION_LOG", "info");
    if let Some(broker) = upstream {
        cmd.arg("--upstream").arg(broker.url());
    }
    Running::spawn(cmd, WAIT)
}

fn sha256_hex(path: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The body of a flow line (`→ $upstream … from MODULE: BODY`).
fn body(line: &str) -> &str {
    line.split_once(": ").map_or("", |(_, b)| b)
}

#[test]
fn alerts_are_routed_and_the_components_are_the_bytes_built_here() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = ganglion_tests::demo_manifest(20);
    let gateway = start(dir.path(), &manifest, None);
    let alert =
        |l: &str| l.starts_with("→ $upstream ALERT [route alerts-to-cloud] from temp-filter");
    let lines = gateway.until(5, alert);
    gateway.stop();
    let upstream: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("→ $upstream"))
        .collect();
    assert!(upstream.len() >= 5, "{lines:?}");
    for line in upstream {
        assert!(
            alert(line),
            "only the filter's alerts reach $upstream: {line}"
        );
        let reading: serde_json::Value = serde_json::from_str(body(line)).unwrap();
        let t = reading["machine"]["temperature"].as_f64().unwrap();
        assert!(t > 25.0, "the filter forwarded {t}: {line}");
    }
    let compiled: Vec<String> = std::fs::read_dir(dir.path().join("data").join("compiled"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for wasm in [TEMP_SENSOR, TEMP_FILTER] {
        let digest = sha256_hex(wasm);
        assert!(
            compiled
                .iter()
                .any(|f| f.starts_with(&format!("{digest}-"))),
            "{wasm} (sha256 {digest}) is not what the gateway compiled: {compiled:?}"
        );
    }
}

/// A leaf publisher on `port`. Its event loop connects again after an
/// error (a dropped connection must not end it: its publishes would then
/// fail), until the test's runtime ends.
async fn leaf(port: u16) -> AsyncClient {
    let options = MqttOptions::new("emulated-leaf", "127.0.0.1", port);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    tokio::spawn(async move {
        loop {
            if let Err(e) = eventloop.poll().await {
                eprintln!("emulated leaf: {e}; connecting again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_traps_is_isolated_from_its_neighbour() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let manifest = format!(
        "[modules.trapper]\npath = \"{}\"\nrestart-policy = \"never\"\n\n\
         [modules.relay]\npath = \"{}\"\n\n\
         [ingest]\nurl = \"{}\"\ntopics = [\"leaves/+/telemetry\"]\nclient-id = \"emulated-ingest\"\n\n\
         [routes]\n\
         to-trapper = \"FROM /messages/* WHERE is_defined($connectionDeviceId) INTO BrokeredEndpoint('/modules/trapper/inputs/in')\"\n\
         to-relay = \"FROM /messages/* WHERE is_defined($connectionDeviceId) INTO BrokeredEndpoint('/modules/relay/inputs/in')\"\n\
         up = \"FROM /messages/modules/relay/* INTO $upstream\"\n",
        toml_path(TRAPPER),
        toml_path(RELAY),
        broker.url()
    );
    let gateway = start(dir.path(), &manifest, None);
    let leaf = leaf(broker.port()).await;
    let from_relay = |l: &str| l.starts_with("→ $upstream [route up] from relay");
    // Probe until ingest has subscribed and the relay forwards.
    let mut seen = Vec::new();
    for _ in 0..WAIT.as_secs() {
        leaf.publish("leaves/leaf-1/telemetry", QoS::AtLeastOnce, false, "probe")
            .await
            .unwrap();
        if let Ok(line) = gateway.lines.recv_timeout(Duration::from_secs(1)) {
            let forwarded = from_relay(&line);
            seen.push(line);
            if forwarded {
                break;
            }
        }
    }
    assert!(
        seen.iter().any(|l| from_relay(l)),
        "nothing forwarded: {seen:?}"
    );
    let publish = |body: &'static str| {
        let leaf = leaf.clone();
        async move {
            leaf.publish("leaves/leaf-1/telemetry", QoS::AtLeastOnce, false, body)
                .await
                .unwrap();
        }
    };
    publish("before").await;
    publish("trap").await;
    // The trapper traps on `trap` and, under `never`, stays failed; what the
    // leaf sends after that must still reach the relay, once each.
    let mut lines = gateway.until(1, |l| l.starts_with(LOG) && l.contains("stays failed"));
    publish("after-1").await;
    publish("after-2").await;
    lines.extend(gateway.until(1, |l| from_relay(l) && body(l) == "after-2"));
    // A copy routed again would have come by now.
    std::thread::sleep(Duration::from_millis(500));
    lines.extend(gateway.lines.try_iter());
    let (log, rest) = gateway.stop();
    let relayed: Vec<&str> = seen
        .iter()
        .chain(&lines)
        .filter(|l| from_relay(l))
        .map(|l| body(l))
        .filter(|b| *b != "probe")
        .collect();
    assert_eq!(relayed, ["before", "trap", "after-1", "after-2"], "{log}");
    let trapper = rest
        .iter()
        .find(|l| l.trim_start().starts_with("module trapper"))
        .unwrap_or_else(|| panic!("no flow line for the trapper: {rest:?}"));
    assert!(trapper.contains(" 1 traps"), "{trapper}");
    assert!(log.contains("trapper"), "the trap is logged: {log}");
}

/// A cloud subscriber on the gateway's telemetry topic.
async fn cloud(port: u16) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    cloud::bodies(
        port,
        "emulated-cloud",
        &cloud::events(DEVICE),
        Session::Clean,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_queued_offline_is_delivered_after_a_restart() {
    const N: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let offline = format!(
        "[modules.temp-sensor]\npath = \"{}\"\nconfig = {{ interval-ms = 20, messages = {N} }}\n\n\
         [routes]\nup = 'FROM /messages/modules/temp-sensor/* INTO $upstream'\n",
        toml_path(TEMP_SENSOR)
    );
    let gateway = start(dir.path(), &offline, None);
    let queued: Vec<String> = gateway
        .until(N, |l| {
            l.starts_with("→ $upstream [route up] from temp-sensor")
        })
        .into_iter()
        .filter(|l| l.starts_with("→ $upstream"))
        .map(|l| body(&l).to_string())
        .collect();
    let (_, rest) = gateway.stop();
    assert!(
        rest.iter().any(|l| l.contains(&format!("{N} queued"))),
        "all {N} were queued at the stop: {rest:?}"
    );

    let broker = Broker::start(dir.path()).unwrap();
    let mut received = cloud(broker.port()).await;
    // The next start has a cloud and no sensor: only the queue sends.
    let gateway = start(dir.path(), "", Some(&broker));
    let mut delivered = Vec::new();
    while delivered.len() < N {
        match tokio::time::timeout(WAIT, received.recv()).await {
            Ok(Some(body)) => delivered.push(body),
            _ => break,
        }
    }
    gateway.stop();
    assert_eq!(delivered, queued, "delivered in order, each once");
}

#[test]
fn precompiled_components_run_and_one_for_another_architecture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let arch = gateway_arch();
    let other = if arch == "aarch64" {
        "x86_64"
    } else {
        "aarch64"
    };
    let demo = ganglion_tests::demo_manifest(20);
    let with = |sensor: &Path, filter: &Path| {
        demo.replace(
            &toml_path(TEMP_SENSOR),
            &toml_path(sensor.to_str().unwrap()),
        )
        .replace(
            &toml_path(TEMP_FILTER),
            &toml_path(filter.to_str().unwrap()),
        )
    };
    let sensor = precompile(dir.path(), TEMP_SENSOR, &arch);
    let filter = precompile(dir.path(), TEMP_FILTER, &arch);
    let gateway = start(dir.path(), &with(&sensor, &filter), None);
    let alert =
        |l: &str| l.starts_with("→ $upstream ALERT [route alerts-to-cloud] from temp-filter");
    gateway.until(3, alert);
    gateway.stop();
    let compiled = dir.path().join("data").join("compiled");
    let entries = std::fs::read_dir(&compiled).map_or(0, Iterator::count);
    assert_eq!(entries, 0, "the gateway compiled nothing");

    let foreign = precompile(dir.path(), TEMP_FILTER, other);
    let log = refused(dir.path(), &with(&sensor, &foreign), &[]);
    assert!(
        log.contains("module `temp-filter`")
            && log.contains(&format!("compiled for architecture '{other}'"))
            && log.contains(&format!("ganglion module compile --target {arch}")),
        "{log}"
    );
    if runtime_only() {
        let log = refused(dir.path(), &demo, &[]);
        assert!(
            log.contains("runtime-only build (no compiler)"),
            "a .wasm needs a compiler: {log}"
        );
        let precompiled = with(&sensor, &filter);
        let log = refused(dir.path(), &precompiled, &["--pool-memory-mib", "128"]);
        assert!(
            log.contains("memory slots are 64 MiB"),
            "the slots are fixed: {log}"
        );
    }
}
