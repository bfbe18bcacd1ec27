//! The instance pool and its fallback, with the real `ganglion run` process:
//! with the address space unlimited the gateway reserves a pool sized from
//! the deployment, and under a `ulimit -v` too small for that pool it says
//! so and allocates on demand; either way the modules run and their
//! messages reach `$upstream`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ganglion_tests::artifacts::{RELAY, TEMP_SENSOR};
use ganglion_tests::toml_path;
use std::path::Path;
use std::process::Command;

/// Runs `ganglion run` for 4 s under `ulimit -v` of `limit_kib` (or none),
/// and returns what it printed and logged.
fn run_for_a_while(dir: &Path, limit_kib: Option<u64>) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let manifest = ganglion_tests::write_manifest(
        dir,
        &format!(
            "[modules.sensor]\npath = \"{}\"\nconfig = {{ interval-ms = 100, messages = 0 }}\n\n\
             [modules.relay]\npath = \"{}\"\n\n[routes]\n\
             in = \"FROM /messages/modules/sensor/* INTO BrokeredEndpoint('/modules/relay/inputs/in')\"\n\
             up = \"FROM /messages/modules/relay/* INTO $upstream\"\n",
            toml_path(TEMP_SENSOR),
            toml_path(RELAY)
        ),
    );
    let limit = limit_kib.map_or("unlimited".to_string(), |k| k.to_string());
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v \"$1\" && shift && exec timeout -s INT 4 \"$@\"")
        .arg("sh")
        .arg(&limit)
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

fn upstream_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("→ $upstream [route up] from relay"))
        .count()
}

#[test]
fn a_pool_sized_from_the_deployment_or_on_demand_when_address_space_is_short() {
    let dir = tempfile::tempdir().unwrap();
    let pooled = run_for_a_while(&dir.path().join("a"), None);
    assert!(
        pooled.contains("allocation=pooling (32 instances of up to 64 MiB)"),
        "{pooled}"
    );
    assert!(upstream_lines(&pooled) > 3, "{pooled}");

    // 2 GiB: the process runs, but a pool of 2.4 GiB does not fit in half of
    // what is left.
    let short = run_for_a_while(&dir.path().join("b"), Some(2 * 1024 * 1024));
    assert!(
        short.contains("allocation=on demand (a pool of 32 instances"),
        "{short}"
    );
    assert!(short.contains("of address space left"), "{short}");
    assert!(upstream_lines(&short) > 3, "{short}");
}
