//! Native baselines for the benchmarks: the same work as the example modules,
//! as plain Rust functions, so that a benchmark can report wasm against native
//! as a ratio measured in one run; and the [`results`] format through which
//! the end-to-end benchmarks hand their figures to `cargo xtask bench`.

#[path = "results.rs"]
pub mod results;

/// The benchmarks run on the allocator the `ganglion` binary runs on, set up
/// as it is ([`ganglion::allocator::configure`], which each bench calls
/// first), so that a library figure is what the gateway gets.
#[global_allocator]
static ALLOCATOR: ganglion::allocator::Allocator = ganglion::allocator::Allocator;

/// How long a criterion benchmark warms up. The calls measured take
/// microseconds, so a second reaches a steady state (the compiled code loaded,
/// the caches and the allocator warm) many times over.
pub const WARM_UP: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a criterion benchmark measures: 100 samples of thousands of calls
/// each, which keeps `cargo xtask bench` within its time on 2 cores.
pub const MEASUREMENT: std::time::Duration = std::time::Duration::from_secs(3);

use ganglion::message::{IdGenerator, Message, stamp_from_module};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reading {
    machine: Machine,
}

#[derive(Deserialize)]
struct Machine {
    temperature: f64,
}

/// What `example-modules/temp-filter` does, natively: parse the reading, and
/// if it is above `threshold`, send it on marked `MessageType=Alert`, stamped as
/// the host stamps a module's message.
pub fn native_filter(
    msg: &Message,
    threshold: f64,
    ids: &IdGenerator,
    out: &mut Vec<(String, Message)>,
) -> Result<(), String> {
    let reading: Reading =
        serde_json::from_slice(&msg.body).map_err(|e| format!("not a reading: {e}"))?;
    if reading.machine.temperature > threshold {
        let mut alert = msg.clone();
        match alert
            .properties
            .iter_mut()
            .find(|(k, _)| k == "MessageType")
        {
            Some(p) => p.1 = "Alert".to_string(),
            None => alert
                .properties
                .push(("MessageType".to_string(), "Alert".to_string())),
        }
        stamp_from_module(&mut alert, "filter", "output1", ids);
        out.push(("output1".to_string(), alert));
    }
    Ok(())
}

/// A SimulatedTemperatureSensor-shaped JSON reading.
pub fn reading(temperature: f64) -> Vec<u8> {
    format!(
        r#"{{"machine":{{"temperature":{temperature},"pressure":1.2}},"ambient":{{"temperature":21.0,"humidity":25}},"timeCreated":"2026-11-27T00:00:00.000Z"}}"#
    )
    .into_bytes()
}
