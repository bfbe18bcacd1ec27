//! Module lifecycle costs, end to end in the real runtime:
//!
//! - **cold load**: reading and compiling a component (`Runtime::load_file`),
//!   against loading its cached machine code (the compiled-artifact cache);
//! - **hot swap**: `Gateway::apply` of a manifest that changes one module's
//!   configuration, from the call to the new version serving (the new
//!   instance is initialised, the old one retired, the queue handed over);
//! - **push**: `ganglion module push` of a new version (a new digest each
//!   time) through a real mosquitto, from the operator's first chunk to the
//!   gateway's status reporting the deployment that runs it (transfer,
//!   digest and world check, compile, store, redeploy, swap);
//! - **isolation**: a relay's throughput beside a module that spins to its
//!   CPU deadline, or traps on every message, against the relay alone.
//!
//! Run with `cargo bench -p ganglion-benches --bench lifecycle` (part of
//! `cargo xtask bench`). It prints Markdown tables: median, p99 (or max) and
//! min over the runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "lifecycle/isolation.rs"]
mod isolation;
#[path = "lifecycle/push.rs"]
mod push;

use ganglion::runtime::Runtime;
use ganglion::{Gateway, Manifest};
use ganglion_tests::artifacts::{RELAY, TEMP_FILTER};
use std::path::Path;
use std::time::{Duration, Instant};

const LOADS: usize = 20;
const SWAPS: usize = 50;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, p99 and min, in ms.
pub(crate) fn stats(mut xs: Vec<Duration>) -> (f64, f64, f64) {
    xs.sort();
    let p99 = xs[((xs.len() * 99) / 100).min(xs.len() - 1)];
    (ms(xs[xs.len() / 2]), ms(p99), ms(xs[0]))
}

fn loads(path: &str) -> (Vec<Duration>, Vec<Duration>) {
    let (mut cold, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..LOADS {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::with_cache(dir.path()).unwrap();
        let t = Instant::now();
        let c = rt.load_file("m", Path::new(path)).unwrap();
        cold.push(t.elapsed());
        assert!(!c.from_cache());
        let rt = Runtime::with_cache(dir.path()).unwrap();
        let t = Instant::now();
        let c = rt.load_file("m", Path::new(path)).unwrap();
        cached.push(t.elapsed());
        assert!(c.from_cache());
    }
    (cold, cached)
}

fn manifest(dir: &Path, tag: usize) -> Manifest {
    let text = format!(
        "[modules.m]\npath = \"{}\"\nconfig = {{ tag = \"v{tag}\" }}\n\n[routes]\n\
         r = \"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint('/modules/m/inputs/in')\"\n",
        ganglion_tests::toml_path(RELAY)
    );
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

async fn swaps() -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&manifest(dir.path(), 0), &dir.path().join("data"))
        .await
        .unwrap();
    let mut times = Vec::new();
    for i in 1..=SWAPS {
        let next = manifest(dir.path(), i);
        let t = Instant::now();
        let outcome = gw.apply(&next).await.unwrap();
        times.push(t.elapsed());
        assert!(
            outcome.description.contains("swapped m"),
            "{}",
            outcome.description
        );
    }
    gw.shutdown().await;
    times
}

fn main() {
    println!("| component | load | median | p99 | min |");
    println!("|---|---|---|---|---|");
    for (name, path) in [("relay", RELAY), ("temp-filter", TEMP_FILTER)] {
        let size = std::fs::metadata(path).unwrap().len() / 1024;
        let (cold, cached) = loads(path);
        let (cold, cached) = (stats(cold), stats(cached));
        println!(
            "| {name} ({size} KiB) | compile | {:.2} ms | {:.2} ms | {:.2} ms |",
            cold.0, cold.1, cold.2
        );
        println!(
            "| {name} ({size} KiB) | from the cache | {:.2} ms | {:.2} ms | {:.2} ms |",
            cached.0, cached.1, cached.2
        );
        println!(
            "| {name} | **compile / cached** | **{:.0}×** | | |",
            cold.0 / cached.0
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (med, p99, min) = stats(runtime.block_on(swaps()));
    println!();
    println!("| hot swap ({SWAPS} swaps of relay, config change) | median | p99 | min |");
    println!("|---|---|---|---|");
    println!(
        "| `Gateway::apply` → new version serving | {med:.2} ms | {p99:.2} ms | {min:.2} ms |"
    );
    let (served, stored) = runtime.block_on(push::pushes());
    let kib = std::fs::metadata(RELAY).unwrap().len() / 1024;
    let (med, p99, min) = stats(stored);
    println!(
        "| `ganglion module push` (a new {kib} KiB relay): first chunk → stored (checked, compiled) | {med:.2} ms | {p99:.2} ms | {min:.2} ms |"
    );
    let (med, p99, min) = stats(served);
    println!(
        "| `ganglion module push` (a new {kib} KiB relay): first chunk → new version serving | {med:.2} ms | {p99:.2} ms | {min:.2} ms |"
    );
    println!();
    runtime.block_on(isolation::report());
}
