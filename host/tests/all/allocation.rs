//! The instance pool and its fallback, with the real `ganglion run` process:
//! with the address space unlimited the gateway reserves a pool sized from
//! the deployment, and under a `ulimit -v` too small for that pool it says
//! so and allocates on demand; either way the modules run and their
//! messages reach `$upstream`. The demo deployment runs under a cap of
//! 256 MiB of virtual memory for the whole process.

use ganglion_tests::artifacts::{RELAY, TEMP_SENSOR};
use ganglion_tests::process::Running;
use ganglion_tests::toml_path;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long the capped demo may take to send its alerts.
const DEMO_WAIT: Duration = Duration::from_secs(90);

/// A sensor whose every reading a relay sends to `$upstream` (route `up`).
fn sensor_and_relay() -> String {
    format!(
        "[modules.sensor]\npath = \"{}\"\nconfig = {{ interval-ms = 100, messages = 0 }}\n\n\
         [modules.relay]\npath = \"{}\"\n\n[routes]\n\
         in = \"FROM /messages/modules/sensor/* INTO BrokeredEndpoint('/modules/relay/inputs/in')\"\n\
         up = \"FROM /messages/modules/relay/* INTO $upstream\"\n",
        toml_path(TEMP_SENSOR),
        toml_path(RELAY)
    )
}

/// Runs `ganglion run` on `manifest` for `secs` under `ulimit -v` of
/// `limit_kib` (or none), and returns what it printed and logged.
fn run_for_a_while(dir: &Path, manifest: &str, secs: u32, limit_kib: Option<u64>) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let manifest = ganglion_tests::write_manifest(dir, manifest);
    let limit = limit_kib.map_or("unlimited".to_string(), |k| k.to_string());
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v \"$1\" && secs=\"$2\" && shift 2 && exec timeout -s INT \"$secs\" \"$@\"")
        .arg("sh")
        .arg(&limit)
        .arg(secs.to_string())
        .arg(env!("CARGO_BIN_EXE_ganglion"))
        .args(["run", "--flow-every", "60", "--manifest"])
        .arg(&manifest)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("GANGLION_LOG", "info")
        .env("NO_COLOR", "1")
        .output()
        .expect("run ganglion");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("stopped cleanly"),
        "ganglion did not run and stop cleanly ({}):\n{text}",
        out.status
    );
    text
}

fn upstream_lines(text: &str, route: &str, module: &str) -> usize {
    let line = format!("→ $upstream [route {route}] from {module}");
    text.lines().filter(|l| l.starts_with(&line)).count()
}

#[test]
fn a_pool_sized_from_the_deployment_or_on_demand_when_address_space_is_short() {
    let dir = tempfile::tempdir().unwrap();
    let pooled = run_for_a_while(&dir.path().join("a"), &sensor_and_relay(), 4, None);
    assert!(
        pooled.contains("allocation=pooling (32 instances of up to 64 MiB)"),
        "{pooled}"
    );
    assert!(upstream_lines(&pooled, "up", "relay") > 3, "{pooled}");

    // 2 GiB: the process runs, but a pool of 2.4 GiB does not fit in half of
    // what is left.
    let short = run_for_a_while(
        &dir.path().join("b"),
        &sensor_and_relay(),
        4,
        Some(2 * 1024 * 1024),
    );
    assert!(
        short.contains("allocation=on demand (a pool of 32 instances"),
        "{short}"
    );
    assert!(short.contains("of address space left"), "{short}");
    assert!(upstream_lines(&short, "up", "relay") > 3, "{short}");
}

/// 256 MiB of virtual memory for the whole process (a Raspberry Pi-class
/// device with a tight `ulimit -v`): the pool does not fit, the gateway
/// allocates on demand, compiles both components and the alerts flow. It
/// runs until four alerts reached `$upstream` (at most [`DEMO_WAIT`]), then
/// stops on SIGINT.
#[test]
fn the_demo_runs_under_a_256_mib_address_space_cap() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = ganglion_tests::write_manifest(dir.path(), &ganglion_tests::demo_manifest(50));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 262144 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_ganglion"))
        .args(["run", "--flow-every", "60", "--manifest"])
        .arg(&manifest)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("GANGLION_LOG", "info");
    let gateway = Running::spawn(cmd, DEMO_WAIT);
    // The flow display tags a reading above the threshold as an ALERT.
    gateway.until(4, |l| {
        l.starts_with("→ $upstream ALERT [route alerts-to-cloud] from temp-filter")
    });
    let (log, _) = gateway.stop();
    assert!(log.contains("allocation=on demand"), "{log}");
}
