//! Test support, for the `it` tests, the host's tests and the benchmarks:
//! the paths of the guest components that `build.rs` built, helpers to write
//! manifests for them, and the real parts around a gateway.
//!
//! - [`broker`]: a real mosquitto on a free port.
//! - [`cloud`]: a cloud-side subscriber to what the gateway publishes.
//! - [`leaf`]: a leaf device publishing at QoS 1.
//! - [`process`]: a `ganglion` process read line by line, and signals.
//! - [`prometheus`]: reading a sample from the metrics endpoint's text.
//! - [`eventually`]: waiting for a condition (or retrying an awaited check),
//!   with what was last seen.

pub mod broker;
pub mod cloud;
pub mod eventually;
pub mod leaf;
pub mod process;
pub mod prometheus;

use std::path::Path;

/// Paths of the built components, one const per guest crate (e.g.
/// [`artifacts::TEMP_FILTER`]).
pub mod artifacts {
    include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
}

/// The component `cargo xtask test` (or `cargo xtask modules`) built with
/// componentize-py from `tests/modules-py/NAME` (`_` for `-` in the file's
/// name); a missing one fails the test with how to build it.
pub fn python_module(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/guests/python")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing: `cargo xtask modules` builds the Python modules",
        path.display()
    );
    path.display().to_string()
}

/// Escapes a path for a TOML basic string.
pub fn toml_path(path: &str) -> String {
    path.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Writes `text` to `manifest.toml` in `dir` and returns its path.
pub fn write_manifest(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("manifest.toml");
    if let Err(e) = std::fs::write(&path, text) {
        // Tests call this; a failure to write is a broken test machine.
        eprintln!("cannot write {}: {e}", path.display());
    }
    path
}

/// The demo deployment (`demo/deployment.toml`: a simulated machine and the
/// filter that forwards its readings above 25 °C as alerts, route
/// `alerts-to-cloud`), with the sensor sending every `interval_ms`.
pub fn demo_manifest(interval_ms: u32) -> String {
    format!(
        "[modules.temp-sensor]\npath = \"{}\"\nconfig = {{ interval-ms = {interval_ms}, messages = 0 }}\n\n\
         [modules.temp-filter]\npath = \"{}\"\nconfig = {{ threshold = 25 }}\n\n[routes]\n\
         sensor-to-filter = 'FROM /messages/modules/temp-sensor/outputs/temperatureOutput \
         INTO BrokeredEndpoint(\"/modules/temp-filter/inputs/input1\")'\n\
         alerts-to-cloud = 'FROM /messages/modules/temp-filter/outputs/output1 INTO $upstream'\n",
        toml_path(artifacts::TEMP_SENSOR),
        toml_path(artifacts::TEMP_FILTER)
    )
}
