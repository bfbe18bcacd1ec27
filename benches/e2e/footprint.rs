//! Footprint of the real `ganglion run` process (the release binary), issue 8
//! points 4 and 5:
//!
//! - **memory**: the resident set (`VmRSS` of `/proc/PID/status`, with its
//!   anonymous and file-backed parts, the thread count and `VmSize`) of
//!   `ganglion run` idle on the demo deployment (`demo/deployment.toml`'s
//!   temp-sensor and temp-filter, no upstream, `--flow-every 0`), sampled
//!   [`SETTLE`] after the gateway logged that it runs; once on its first start
//!   (a fresh data directory, so both components are compiled in the
//!   process) and once on a restart (loaded from the compiled-artifact cache
//!   in `<data-dir>/compiled/`). Then the same deployment with
//!   [`EXTRA_RELAYS`] more idle `relay` instances (no route sends them
//!   anything), on a restart, for the resident memory each idle module adds:
//!   (RSS with the relays − RSS without) / [`EXTRA_RELAYS`]. Both with the
//!   default allocation (the instance pool) and with `--no-pool`. The
//!   web endpoint's cost is the demo on a restart again, with its three
//!   charts and `--metrics-addr`, after `/metrics` and the page's event
//!   stream have each been read once. The
//!   baseline is the same binary with its async runtime up but no gateway:
//!   `ganglion run` blocked opening a manifest that is a FIFO nobody writes.
//! - **cold start**: from just before the spawn of `ganglion run` to the
//!   moment this program reads the live flow display's line for the first
//!   message that reaches `$upstream`, with 10 modules of 7 distinct
//!   components (temp-sensor, temp-filter, 3 × relay, 2 × counter,
//!   window-stats, drift-monitor, fan-sensor); the sensor sends every 10 ms
//!   (the host's shortest timer) through the filter (threshold 0) to
//!   `$upstream`. Once on a fresh data directory (7 compilations), then again
//!   on the same directory (all 10 loaded from the cache). The floor is the
//!   spawn-to-exit time of `ganglion --version`.
//!
//! MB is 10^6 bytes and KB 10^3 bytes (`/proc` counts in KiB, converted).
//!
//! Run with `cargo bench -p ganglion-benches --bench footprint` (or
//! `cargo xtask bench`, which puts the tables into `BENCHMARKS.md`), after
//! `cargo build --release -p ganglion-host --bin ganglion` and
//! `cargo xtask modules`. The binary is `$GANGLION_BIN` if set, else
//! `target/release/ganglion`. A sample per run, [`RUNS`] runs, about 70 s in
//! all; Linux only (`/proc`, `mkfifo`, `kill`).

// A failure (a process that does not start, a module that does not load, a
// warning or error in its log, a restart that compiles) is a broken
// benchmark, not a result: it panics with what the process said.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "footprint/deployments.rs"]
mod deployments;
#[path = "footprint/page.rs"]
mod page;
#[path = "footprint/process.rs"]
mod process;

use deployments::{cold_manifest, demo_manifest, demo_with_charts};
use ganglion_benches::results::{Goal, Row, Table};
use process::{Footprint, Process, command, footprint, ganglion_bin, run_args};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const RUNS: usize = 3;
/// How long after "gateway running" the memory is sampled.
const SETTLE: Duration = Duration::from_secs(3);
/// How long after its spawn the baseline process (blocked on its manifest) is
/// sampled.
const BASELINE_SETTLE: Duration = Duration::from_secs(1);
/// The idle relays added to the demo deployment.
const EXTRA_RELAYS: usize = 20;
/// The longest a start may take before the benchmark gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The distinct components of the cold-start deployment.
const COLD_COMPONENTS: usize = 7;

/// What an idle gateway showed [`SETTLE`] after it started.
struct Idle {
    footprint: Footprint,
    allocation: String,
}

/// Starts the gateway, waits until it runs and [`SETTLE`] more, samples it,
/// and stops it.
fn idle(bin: &Path, manifest: &Path, data_dir: &Path, flags: &[&str]) -> Idle {
    idle_with(bin, manifest, data_dir, flags, || {})
}

/// [`idle`], calling `before_sample` after the settling time.
fn idle_with(
    bin: &Path,
    manifest: &Path,
    data_dir: &Path,
    flags: &[&str],
    before_sample: impl Fn(),
) -> Idle {
    let cache = cache_state(data_dir);
    let mut p = Process::spawn(
        bin,
        &run_args(
            manifest,
            data_dir,
            &[&["--flow-every", "0"][..], flags].concat(),
        ),
    );
    p.wait_running();
    std::thread::sleep(SETTLE);
    before_sample();
    p.check_alive();
    let footprint = footprint(p.pid);
    let allocation = p
        .logged("module instances' memory", "allocation")
        .unwrap_or_default();
    p.stop();
    if !cache.is_empty() {
        assert_eq!(
            cache_state(data_dir),
            cache,
            "a restart should load every component from the cache"
        );
    }
    Idle {
        footprint,
        allocation,
    }
}

/// Starts the gateway until it runs, so that its components are compiled and
/// cached, and stops it.
fn warm_up(bin: &Path, manifest: &Path, data_dir: &Path, flags: &[&str]) {
    let mut p = Process::spawn(
        bin,
        &run_args(
            manifest,
            data_dir,
            &[&["--flow-every", "0"][..], flags].concat(),
        ),
    );
    p.wait_running();
    p.stop();
}

/// The same binary with its runtime up and no gateway: `ganglion run` blocked
/// opening a manifest that is a FIFO no one writes.
fn before_gateway(bin: &Path, dir: &Path) -> Footprint {
    let fifo = dir.join("manifest.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo {} failed", fifo.display());
    let data_dir = dir.join("baseline-data");
    let mut p = Process::spawn(bin, &run_args(&fifo, &data_dir, &["--flow-every", "0"]));
    std::thread::sleep(BASELINE_SETTLE);
    p.check_alive();
    let f = footprint(p.pid);
    p.stop();
    f
}

/// The compiled-artifact cache's files and their modification times.
fn cache_state(data_dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    std::fs::read_dir(data_dir.join("compiled"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension() == Some(OsStr::new("cwasm")))
                .map(|e| (e.path(), e.metadata().unwrap().modified().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One cold start: spawn → first message at `$upstream`, and spawn →
/// "gateway running", in ms.
fn cold_start(bin: &Path, manifest: &Path, data_dir: &Path) -> (f64, f64) {
    // The display's periodic summary comes an hour after the start: only the
    // per-message lines are printed.
    let mut p = Process::spawn(
        bin,
        &run_args(manifest, data_dir, &["--flow-every", "3600"]),
    );
    let first = p.wait_upstream();
    let running = p.wait_running();
    let spawned = p.spawned;
    p.stop();
    (ms(first - spawned), ms(running - spawned))
}

fn cold_start_table(bin: &Path) -> Table {
    let (mut fresh, mut fresh_running) = (Vec::new(), Vec::new());
    let (mut cached, mut cached_running) = (Vec::new(), Vec::new());
    let mut version = Vec::new();
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("ten-modules.toml");
        std::fs::write(&manifest, cold_manifest()).unwrap();
        let data_dir = dir.path().join("data");

        let (first, running) = cold_start(bin, &manifest, &data_dir);
        let cache = cache_state(&data_dir);
        assert_eq!(
            cache.len(),
            COLD_COMPONENTS,
            "the first start should have compiled and cached each distinct component"
        );
        fresh.push(first);
        fresh_running.push(running);

        let (first, running) = cold_start(bin, &manifest, &data_dir);
        assert_eq!(
            cache_state(&data_dir),
            cache,
            "the restart should have compiled nothing"
        );
        cached.push(first);
        cached_running.push(running);

        let t0 = Instant::now();
        let out = command(bin)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        version.push(ms(t0.elapsed()));
        assert!(out.success(), "ganglion --version failed");
    }
    let floor = "`ganglion --version`: spawn → exit";
    let from_cache = "10 modules from the compiled cache: spawn → first message at $upstream";
    Table {
        id: "cold-start".to_string(),
        rows: vec![
            Row::new(floor, "ms", version),
            Row::new(from_cache, "ms", cached)
                .against(floor, None)
                .goal(Goal::AtMost(100.0)),
            Row::new(
                "10 modules from the compiled cache: spawn → \"gateway running\" logged",
                "ms",
                cached_running,
            ),
            Row::new(
                "10 modules compiled from .wasm (fresh data dir): spawn → first message at $upstream",
                "ms",
                fresh,
            )
            .against(from_cache, None),
            Row::new(
                "10 modules compiled from .wasm (fresh data dir): spawn → \"gateway running\" logged",
                "ms",
                fresh_running,
            ),
        ],
        notes: vec![
            format!(
                "10 modules of {COLD_COMPONENTS} components: temp-sensor, temp-filter, 3 × relay, \
                 2 × counter, window-stats, drift-monitor, fan-sensor (hourly). \"Compiled\" is a \
                 fresh data dir: the {COLD_COMPONENTS} distinct components are compiled (modules \
                 load one after another, so a second instance of a component reads the first \
                 one's cache entry; {COLD_COMPONENTS} cache files afterwards, checked); \"from \
                 the cache\" is the next start on the same data dir: 10 cache reads and \
                 deserializations, no compilation (no new cache file, checked). Each start is \
                 stopped with SIGTERM once measured."
            ),
            "The interval runs from just before the spawn of `ganglion run --flow-every 3600` to \
             when this program reads, from the process's stdout pipe, the live flow display's \
             line for the first message at $upstream. It covers fork/exec and dynamic linking, \
             the tokio runtime, opening sled, the engine and its instance pool, loading the 10 \
             components, instantiating and initialising them, the sensor's first 10 ms timer \
             period (the host's shortest), the hops sensor → temp-filter (threshold 0) → \
             $upstream, and writing and flushing that message to the sled queue (observers hear \
             of a message only once it is durable). No cloud connection: nothing MQTT is in it. \
             A reading sent before the routes are in place is unrouted, and then the next one, \
             10 ms later, is the first."
                .to_string(),
            "\"gateway running\" is the log line `ganglion run` writes once the gateway has \
             started (every module's init returned); the first message can arrive before it."
                .to_string(),
        ],
    }
}

fn memory_table(bin: &Path) -> Table {
    let mut baseline = Vec::new();
    let (mut first, mut restart, mut relays) = (Vec::new(), Vec::new(), Vec::new());
    let (mut np_restart, mut np_relays) = (Vec::new(), Vec::new());
    let mut page_on = Vec::new();
    let mut allocations = (String::new(), String::new(), String::new());
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("demo.toml");
        std::fs::write(&demo, demo_manifest(0)).unwrap();
        let with_relays = dir.path().join("demo-relays.toml");
        std::fs::write(&with_relays, demo_manifest(EXTRA_RELAYS)).unwrap();
        let charted = dir.path().join("demo-charts.toml");
        std::fs::write(&charted, demo_with_charts()).unwrap();

        baseline.push(before_gateway(bin, dir.path()));

        let data = dir.path().join("pool");
        first.push(idle(bin, &demo, &data, &[]).footprint);
        let r = idle(bin, &demo, &data, &[]);
        allocations.0 = r.allocation;
        restart.push(r.footprint);
        let port = page::free_port();
        let addr = format!("127.0.0.1:{port}");
        let flags = ["--metrics-addr", addr.as_str()];
        let r = idle_with(bin, &charted, &data, &flags, || page::read_page(port));
        page_on.push(r.footprint);

        let data = dir.path().join("pool-relays");
        warm_up(bin, &with_relays, &data, &[]);
        let r = idle(bin, &with_relays, &data, &[]);
        allocations.1 = r.allocation;
        relays.push(r.footprint);

        let data = dir.path().join("no-pool");
        warm_up(bin, &demo, &data, &["--no-pool"]);
        let r = idle(bin, &demo, &data, &["--no-pool"]);
        allocations.2 = r.allocation;
        np_restart.push(r.footprint);

        let data = dir.path().join("no-pool-relays");
        warm_up(bin, &with_relays, &data, &["--no-pool"]);
        np_relays.push(idle(bin, &with_relays, &data, &["--no-pool"]).footprint);
    }
    let per_relay = |with: &[Footprint], without: &[Footprint], part: fn(&Footprint) -> f64| {
        with.iter()
            .zip(without)
            .map(|(w, o)| (part(w) - part(o)) * 1e3 / EXTRA_RELAYS as f64)
            .collect::<Vec<f64>>()
    };
    let col = |f: &[Footprint], part: fn(&Footprint) -> f64| f.iter().map(part).collect();
    let rss = |f: &Footprint| f.rss;
    let anon = |f: &Footprint| f.anon;
    let file = |f: &Footprint| f.file;
    let threads = |f: &Footprint| f.threads;
    let vm = |f: &Footprint| f.vm_size;

    let base = "RSS, runtime up, no gateway (blocked opening a FIFO manifest)";
    let first_case = "RSS, demo idle, first start (fresh data dir: 2 components compiled)";
    let restart_case = "RSS, demo idle, restart (from the compiled cache)";
    let per_relay_case = format!("added RSS per idle relay ({EXTRA_RELAYS} added), restart");
    let page_case = "RSS, demo idle, restart, web endpoint on (3 charts; /metrics and the page's \
                     stream read once)";
    Table {
        id: "memory".to_string(),
        rows: vec![
            Row::new(base, "MB", col(&baseline, rss)),
            Row::new(first_case, "MB", col(&first, rss))
                .against(base, None)
                .goal(Goal::AtMost(15.0)),
            Row::new(
                "  of which anonymous (first start)",
                "MB",
                col(&first, anon),
            ),
            Row::new(
                "  of which file-backed (first start)",
                "MB",
                col(&first, file),
            ),
            Row::new("  threads (first start)", "threads", col(&first, threads)),
            Row::new(restart_case, "MB", col(&restart, rss))
                .against(base, None)
                .goal(Goal::AtMost(15.0)),
            Row::new("  of which anonymous (restart)", "MB", col(&restart, anon)),
            Row::new(
                "  of which file-backed (restart)",
                "MB",
                col(&restart, file),
            ),
            Row::new("  threads (restart)", "threads", col(&restart, threads)),
            Row::new("  VmSize (restart)", "MB", col(&restart, vm)),
            Row::new(page_case, "MB", col(&page_on, rss)).against(restart_case, None),
            Row::new(
                "  added by the web endpoint (RSS with it − without, restart)",
                "MB",
                page_on
                    .iter()
                    .zip(&restart)
                    .map(|(w, o)| w.rss - o.rss)
                    .collect(),
            )
            .goal(Goal::AtMost(1.0)),
            Row::new(
                format!("RSS, demo + {EXTRA_RELAYS} idle relays, restart"),
                "MB",
                col(&relays, rss),
            ),
            Row::new(&per_relay_case, "KB", per_relay(&relays, &restart, rss))
                .goal(Goal::AtMost(200.0)),
            Row::new(
                "  of which anonymous, per relay",
                "KB",
                per_relay(&relays, &restart, anon),
            ),
            Row::new(
                "RSS, demo idle, restart, --no-pool",
                "MB",
                col(&np_restart, rss),
            )
            .against(restart_case, None),
            Row::new("  VmSize (restart, --no-pool)", "MB", col(&np_restart, vm)),
            Row::new(
                format!("added RSS per idle relay ({EXTRA_RELAYS} added), restart, --no-pool"),
                "KB",
                per_relay(&np_relays, &np_restart, rss),
            )
            .against(&per_relay_case, None),
        ],
        notes: vec![
            "Demo deployment: demo/deployment.toml's temp-sensor (a reading every 500 ms) and \
             temp-filter (alerts above 25 °C to $upstream), no upstream configured, \
             `--flow-every 0`. Alerts wait in the sled queue."
                .to_string(),
            format!(
                "Sampled {} s after `ganglion run` logged \"gateway running\" (the baseline: {} s \
                 after its spawn). RSS is VmRSS of /proc/PID/status, split into RssAnon and \
                 RssFile (the binary's and libraries' pages; RssShmem is the small rest). MB = \
                 10^6 bytes, KB = 10^3 bytes.",
                SETTLE.as_secs(),
                BASELINE_SETTLE.as_secs()
            ),
            format!(
                "Added RSS per idle relay = (RSS with {EXTRA_RELAYS} relays − RSS of the demo) / \
                 {EXTRA_RELAYS}, both on a restart, run by run; each relay is an instance of its \
                 own, no route sends it anything."
            ),
            format!(
                "Allocation as logged: demo {}; demo + relays {}; --no-pool {}.",
                allocations.0, allocations.1, allocations.2
            ),
            format!(
                "Threads, first start: {}. Restart: {}.",
                first.last().map(|f| f.thread_names.as_str()).unwrap_or(""),
                restart
                    .last()
                    .map(|f| f.thread_names.as_str())
                    .unwrap_or("")
            ),
        ],
    }
}

fn main() {
    let bin = ganglion_bin();
    let started = Instant::now();
    cold_start_table(&bin).publish().unwrap();
    memory_table(&bin).publish().unwrap();
    eprintln!("footprint: {:.0} s", started.elapsed().as_secs_f64());
}
