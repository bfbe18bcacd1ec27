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
//! `cargo xtask bench`, which puts the tables into `BENCHMARKS.md`): one sample
//! per load, swap or push.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "lifecycle/isolation.rs"]
mod isolation;
#[path = "lifecycle/push.rs"]
mod push;

use ganglion::runtime::Runtime;
use ganglion::{Gateway, Manifest};
use ganglion_benches::results::{Row, Table};
use ganglion_tests::artifacts::{RELAY, TEMP_FILTER};
use std::path::Path;
use std::time::{Duration, Instant};

const LOADS: usize = 20;
const SWAPS: usize = 50;

/// Durations in milliseconds.
fn ms_all(xs: Vec<Duration>) -> Vec<f64> {
    xs.iter().map(|d| d.as_secs_f64() * 1000.0).collect()
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
    ganglion::allocator::configure();
    let mut loads_table = Table {
        id: "loads".into(),
        rows: Vec::new(),
        notes: vec![format!(
            "{LOADS} loads of each component, each into a fresh cache folder and then from it."
        )],
    };
    for (name, path) in [("relay", RELAY), ("temp-filter", TEMP_FILTER)] {
        let size = std::fs::metadata(path).unwrap().len() / 1024;
        let (cold, cached) = loads(path);
        let cached_case = format!("{name} ({size} KiB): from the cache");
        loads_table.rows.push(
            Row::new(format!("{name} ({size} KiB): compile"), "ms", ms_all(cold))
                .against(cached_case.clone(), None),
        );
        loads_table
            .rows
            .push(Row::new(cached_case, "ms", ms_all(cached)));
    }
    loads_table.publish().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let swaps = runtime.block_on(swaps());
    let (served, stored) = runtime.block_on(push::pushes());
    let kib = std::fs::metadata(RELAY).unwrap().len() / 1024;
    Table {
        id: "swap".into(),
        rows: vec![
            Row::new(
                "`Gateway::apply` (relay, config change) → new version serving",
                "ms",
                ms_all(swaps),
            ),
            Row::new(
                format!("`ganglion module push` ({kib} KiB relay): first chunk → stored"),
                "ms",
                ms_all(stored),
            ),
            Row::new(
                format!(
                    "`ganglion module push` ({kib} KiB relay): first chunk → new version serving"
                ),
                "ms",
                ms_all(served),
            ),
        ],
        notes: vec![format!(
            "{SWAPS} swaps and {} pushes (each a new digest), one sample each.",
            push::PUSHES
        )],
    }
    .publish()
    .unwrap();
    runtime.block_on(isolation::report());
}
