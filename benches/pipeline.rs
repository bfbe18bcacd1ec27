//! An in-process pipeline of three modules, against one module, in one
//! `ganglion::Gateway` on a multi-thread tokio runtime (one worker per core):
//!
//! - **chain**: `temp-filter` → `relay` → `relay`, real components, joined by
//!   routes (`FROM /messages/modules/filter/outputs/output1 INTO
//!   BrokeredEndpoint(...)`); a leaf route takes injected readings into the
//!   filter. The filter's threshold is below every reading, so every message
//!   passes all three stages;
//! - **single**: the same `temp-filter` alone, the baseline, in the same
//!   gateway and the same run.
//!
//! What is timed is the module chain itself, not the durable queue: the last
//! stage's output has no route, and a message counts as "out" when the last
//! module's `sent` counter (bumped as the host takes the message from the
//! guest's outbox and hands it to the router) passes it. Included: `inject`,
//! the router (route conditions, one hop per stage), each module's input
//! queue, the host → guest call, the guest's work and its `send`. Not
//! included: `$upstream` (sled write and flush), MQTT.
//!
//! - **burst**: `BURST` readings injected as fast as `inject` takes them
//!   (from a task on the runtime), timed from the first inject until the last
//!   module has sent the last one; messages per second.
//! - **latency**: readings injected at a fixed `RATE` for `PACED` messages,
//!   paced by a spin on `Instant` on the bench's own thread (not a runtime
//!   worker); the same thread polls the last module's counter, spinning with
//!   `yield_now` while a message is outstanding and sleeping while none is.
//!   The k-th output is the k-th input: each stage is one instance with a
//!   FIFO queue, the router is one task, and nothing is dropped (the bench
//!   checks every drop and failure counter). Latency is inject → out per
//!   message; p50 and p99 per run.
//!
//! Run with `cargo bench -p ganglion-benches --bench pipeline` (part of
//! `cargo xtask bench`, which builds the modules first). It prints table
//! `pipeline`: one sample per run for each row.

// A failure here (a gateway that does not start, a lost message) is a broken
// benchmark, not a result to report: panicking is the right response.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ganglion::message::new_message;
use ganglion::{Gateway, Manifest, Message};
use ganglion_benches::reading;
use ganglion_benches::results::{Row, Table};
use ganglion_tests::artifacts::{RELAY, TEMP_FILTER};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

const RUNS: usize = 5;
/// Messages per burst.
const BURST: u64 = 20_000;
/// Messages per second in the latency case.
const RATE: u64 = 2_000;
/// Messages per latency case (2 s at `RATE`).
const PACED: usize = 4_000;
/// Messages through each lane before the first measurement of a run.
const WARM_UP: u64 = 2_000;
/// Every reading is above it, so the filter passes all of them.
const THRESHOLD: f64 = 0.0;

/// One of the two lanes through the gateway: the chain, or the single module.
#[derive(Clone, Copy)]
struct Lane {
    /// The value of the `to` property that the leaf route matches.
    to: &'static str,
    /// The module whose output is the lane's end.
    last: &'static str,
}

const SINGLE: Lane = Lane {
    to: "single",
    last: "single",
};
const CHAIN: Lane = Lane {
    to: "chain",
    last: "relay2",
};
const MODULES: [&str; 4] = ["single", "filter", "relay1", "relay2"];

fn manifest(dir: &Path) -> Manifest {
    let filter = ganglion_tests::toml_path(TEMP_FILTER);
    let relay = ganglion_tests::toml_path(RELAY);
    let module = |name: &str, path: &str, config: &str| {
        format!(
            "[modules.{name}]\npath = \"{path}\"\nqueue-length = 65536\nconfig = {{ {config} }}\n\n"
        )
    };
    let mut text = String::new();
    text.push_str(&module(
        "single",
        &filter,
        &format!("threshold = {THRESHOLD}"),
    ));
    text.push_str(&module(
        "filter",
        &filter,
        &format!("threshold = {THRESHOLD}"),
    ));
    text.push_str(&module("relay1", &relay, "tag = \"r1\""));
    text.push_str(&module("relay2", &relay, "tag = \"r2\""));
    text.push_str("[routes]\n");
    let leaf = |to: &str, module: &str| {
        format!(
            "to-{to} = 'FROM /messages/* WHERE is_defined($connectionDeviceId) AND to = \"{to}\" INTO BrokeredEndpoint(\"/modules/{module}/inputs/input1\")'\n"
        )
    };
    text.push_str(&leaf("single", "single"));
    text.push_str(&leaf("chain", "filter"));
    text.push_str(
        "filter-relay1 = 'FROM /messages/modules/filter/outputs/output1 INTO BrokeredEndpoint(\"/modules/relay1/inputs/in\")'\n",
    );
    text.push_str(
        "relay1-relay2 = 'FROM /messages/modules/relay1/outputs/output1 INTO BrokeredEndpoint(\"/modules/relay2/inputs/in\")'\n",
    );
    Manifest::load(&ganglion_tests::write_manifest(dir, &text)).unwrap()
}

/// Reading `n`, addressed to `lane`: 20.0 to 29.9 °C, all above the threshold.
fn message(lane: Lane, n: u64) -> Message {
    let mut msg = new_message(reading(20.0 + (n % 100) as f64 / 10.0));
    msg.properties.push(("to".into(), lane.to.into()));
    msg
}

/// How many messages the last module of `lane` has sent.
fn out_count(gw: &Gateway, lane: Lane) -> u64 {
    gw.metrics().module(lane.last).unwrap().sent
}

/// Injects `n` messages into `lane` from a task on the runtime and returns
/// the messages per second until the last of them has come out.
fn burst(handle: &Handle, gw: &Arc<Gateway>, lane: Lane, n: u64) -> f64 {
    let base = out_count(gw, lane);
    let injector = gw.clone();
    let start = Instant::now();
    let task = handle.spawn(async move {
        for i in 0..n {
            injector.inject("dev", message(lane, i)).await.unwrap();
        }
    });
    let deadline = start + Duration::from_secs(60);
    while out_count(gw, lane) < base + n {
        assert!(Instant::now() < deadline, "the burst did not come out");
        std::thread::sleep(Duration::from_micros(20));
    }
    let elapsed = start.elapsed();
    handle.block_on(task).unwrap();
    n as f64 / elapsed.as_secs_f64()
}

/// Injects `PACED` messages into `lane` at `RATE` and returns the latency of
/// each, inject → out.
fn paced(handle: &Handle, gw: &Gateway, lane: Lane) -> Vec<Duration> {
    let interval = Duration::from_nanos(1_000_000_000 / RATE);
    let base = out_count(gw, lane);
    let mut sent_at: Vec<Instant> = Vec::with_capacity(PACED);
    let mut latencies = Vec::with_capacity(PACED);
    let mut next = Instant::now() + interval;
    let deadline = next + interval * PACED as u32 + Duration::from_secs(30);
    while latencies.len() < PACED {
        let now = Instant::now();
        assert!(now < deadline, "the paced messages did not come out");
        if sent_at.len() < PACED && now >= next {
            let i = sent_at.len() as u64;
            sent_at.push(Instant::now());
            handle.block_on(gw.inject("dev", message(lane, i))).unwrap();
            next += interval;
            continue;
        }
        let out = (out_count(gw, lane) - base) as usize;
        let seen = Instant::now();
        while latencies.len() < out {
            latencies.push(seen - sent_at[latencies.len()]);
        }
        if latencies.len() == sent_at.len() {
            // Nothing outstanding: sleep until shortly before the next send
            // (a sleep overshoots by tens of µs), then spin.
            let wait = next.saturating_duration_since(Instant::now());
            if wait > Duration::from_micros(300) {
                std::thread::sleep(wait - Duration::from_micros(200));
            }
        } else {
            // Spin, but let a gateway thread that shares this core run.
            std::thread::yield_now();
        }
    }
    latencies
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    let i = ((sorted.len() * p) / 100).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e6
}

/// One run's figures.
struct Run {
    burst: [f64; 2],
    p50: [f64; 2],
    p99: [f64; 2],
}

fn run(handle: &Handle, index: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path());
    let gw = Arc::new(
        handle
            .block_on(Gateway::start(&m, &dir.path().join("data")))
            .unwrap(),
    );
    assert!(
        gw.failed_to_start().is_empty(),
        "{:?}",
        gw.failed_to_start()
    );
    for lane in [SINGLE, CHAIN] {
        burst(handle, &gw, lane, WARM_UP);
    }
    // Alternate which lane goes first, so that neither always has the warmer
    // machine.
    let order: [usize; 2] = if index.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    };
    let lanes = [SINGLE, CHAIN];
    let mut figures = Run {
        burst: [0.0; 2],
        p50: [0.0; 2],
        p99: [0.0; 2],
    };
    for &i in &order {
        figures.burst[i] = burst(handle, &gw, lanes[i], BURST);
    }
    for &i in &order {
        let mut lat = paced(handle, &gw, lanes[i]);
        lat.sort();
        figures.p50[i] = percentile(&lat, 50);
        figures.p99[i] = percentile(&lat, 99);
    }
    let snap = gw.metrics();
    for name in MODULES {
        let m = snap.module(name).unwrap();
        assert_eq!(
            (
                m.failed,
                m.dropped_queue_full,
                m.dropped_not_running,
                m.traps
            ),
            (0, 0, 0, 0),
            "module {name} lost messages"
        );
    }
    let per_path = WARM_UP + BURST + PACED as u64;
    assert_eq!(snap.module("single").unwrap().sent, per_path);
    for name in ["filter", "relay1", "relay2"] {
        assert_eq!(snap.module(name).unwrap().sent, per_path, "{name}");
    }
    let gw = Arc::try_unwrap(gw).ok().expect("no other owner is left");
    handle.block_on(gw.shutdown());
    eprintln!(
        "run {index}: burst single {:.0}/s, chain {:.0}/s; latency single p50 {:.1} µs p99 {:.1} µs, chain p50 {:.1} µs p99 {:.1} µs",
        figures.burst[0],
        figures.burst[1],
        figures.p50[0],
        figures.p99[0],
        figures.p50[1],
        figures.p99[1]
    );
    figures
}

fn main() -> std::io::Result<()> {
    ganglion::allocator::configure();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    let runs: Vec<Run> = (0..RUNS).map(|i| run(&handle, i)).collect();
    let col = |f: &dyn Fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let single_burst = format!("1 module (temp-filter), burst of {BURST}");
    let single_p50 = format!("1 module, latency p50 at {RATE} msg/s");
    let single_p99 = format!("1 module, latency p99 at {RATE} msg/s");
    let table = Table {
        id: "pipeline".into(),
        rows: vec![
            Row::new(&single_burst, "msg/s", col(&|r| r.burst[0])),
            Row::new(
                format!("3-module chain (temp-filter → relay → relay), burst of {BURST}"),
                "msg/s",
                col(&|r| r.burst[1]),
            )
            .against(&single_burst, None),
            Row::new(&single_p50, "µs", col(&|r| r.p50[0])),
            Row::new(&single_p99, "µs", col(&|r| r.p99[0])),
            Row::new(
                format!("3-module chain, latency p50 at {RATE} msg/s"),
                "µs",
                col(&|r| r.p50[1]),
            )
            .against(&single_p50, None),
            Row::new(
                format!("3-module chain, latency p99 at {RATE} msg/s"),
                "µs",
                col(&|r| r.p99[1]),
            )
            .against(&single_p99, None),
        ],
        notes: vec![
            format!(
                "One in-process Gateway, tokio multi-thread runtime with {} workers; readings of {}–{} B (SimulatedTemperatureSensor shape) injected with `Gateway::inject`, all above the filter's threshold.",
                std::thread::available_parallelism().map_or(0, |n| n.get()),
                (0..100).map(|n| message(CHAIN, n).body.len()).min().unwrap_or(0),
                (0..100).map(|n| message(CHAIN, n).body.len()).max().unwrap_or(0)
            ),
            "Out = the last module's `sent` counter: inject, router hops, input queues, host → guest calls and the guests' work; no `$upstream` (no sled, no MQTT).".into(),
            format!(
                "Latency: {PACED} messages at a fixed {RATE} msg/s (paced by a spin on Instant, outputs matched in order, nothing dropped), p50/p99 per run; burst: {BURST} messages injected as fast as `inject` takes them."
            ),
            "On a shared 2-core machine the p99 is set by scheduling stalls of milliseconds (another process, or the bench's own polling thread, holding a core), each of which delays every message injected during it; compare it within a run.".into(),
        ],
    };
    table.publish()
}
