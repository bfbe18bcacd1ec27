//! The MQTT pipeline, end to end, with real processes: a leaf publisher →
//! mosquitto → `ganglion run` (ingest → the `temp-filter` component →
//! `$upstream` queue, a segment log → uplink) → the same mosquitto → a
//! subscriber, QoS 1 throughout.
//!
//! Each run starts its own mosquitto (`Broker::start`) and its own gateway
//! process (the release `ganglion` binary, fresh data directory) and measures,
//! on that broker:
//!
//! - **broker raw** (the baseline): a rumqttc publisher → mosquitto → a
//!   rumqttc subscriber, `MESSAGES` SimulatedTemperatureSensor readings, the
//!   same bodies as the leaf sends;
//! - **absorbed**: the leaf publishes `MESSAGES` readings, half of them above
//!   the filter's threshold of 25; the rate is the published count divided by
//!   the time from the first publish until the subscriber on
//!   `ganglion/bench-gw/messages/events` has every forwarded one (so every
//!   leaf message has been ingested, filtered, and, if above 25, appended to
//!   the queue and delivered);
//! - the gateway's **CPU per published message** over that load phase
//!   (utime + stime from `/proc/PID/stat`), and its **peak RSS under load**
//!   (`VmHWM` of `/proc/PID/status`, reset through `/proc/PID/clear_refs`
//!   once the gateway is forwarding, so it covers the paced phases and the
//!   burst; the peak of the start-up is its own row). A first start of each
//!   run compiles the filter into the cache and stops, so the measured one
//!   starts from the cache, as a deployed gateway does. The burst is capped
//!   at `BURST_LIMIT`, and a capped run says so;
//! - how often the ingest session reconnected (the gateway's log), and how
//!   many forwarded messages the subscriber got more than once (every bench
//!   message carries a sequence number);
//! - the bytes the gateway wrote to disk per 1,000 forwarded messages over the
//!   burst (queued, synced, removed: the SD card's wear);
//! - the CPU per message over the paced phase alone;
//! - a typical small site (`SMALL_SITE`, 100 msg/s): the CPU per published
//!   message and the bytes written per forwarded one;
//! - the same paced phase and burst through a gateway under each other flush
//!   policy (`POLICIES`): the bytes written per 1,000 forwarded messages, the
//!   rate and the latency, against the default policy of the same run;
//! - **two copies**: a gateway whose routes also send every leaf message
//!   straight to `$upstream`, so the subscriber gets each message once
//!   straight and the ones above 25 once more through the filter (told apart
//!   by the `$route` user property): its absorbed rate against the broker
//!   alone, its CPU per leaf message, paced and burst, its paced latency and
//!   the bytes written per 1,000 delivered copies;
//! - **latency** leaf publish → subscriber receipt at a paced `RATE` msg/s for
//!   `PACED_SECS` s, through the gateway and, as the baseline, straight
//!   through the broker; the send time travels in an MQTT 5 user property,
//!   which ingest turns into an application property and the uplink publishes
//!   again as a user property.
//!
//! Reproduce: `cargo build --release -p ganglion-host --bin ganglion`, then
//! `cargo bench -p ganglion-benches --bench mqtt` (or `cargo xtask bench`).
//! The gateway binary is `$GANGLION_BIN`, else `target/release/ganglion`.

// A failed unwrap, expect or panic here is a broken benchmark, not a result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "mqtt/clients.rs"]
mod clients;
#[path = "mqtt/gateway.rs"]
mod gateway;
#[path = "mqtt/runs.rs"]
mod runs;

use clients::{
    Expected, Pace, bodies, burst, forwarded, forwarded_and_straight, once, paced, publisher,
    settle, subscriber, until_ready,
};
use ganglion_benches::results::{Goal, Row, Table};
use ganglion_tests::broker::Broker;
use gateway::{
    Copies, clock_ticks, cpu_us, disk_write_bytes, peak_rss_mb, reset_peak_rss, start_gateway,
};
use runs::run;
use std::time::{Duration, Instant};

/// Runs; each figure is one sample per run.
const RUNS: usize = 3;
/// Leaf messages per throughput phase (half of them are forwarded). Fewer
/// than the broker alone could take in the time: under a burst the gateway
/// refuses leaf messages and falls to a few hundred messages a second (see the
/// notes), and 20,000 or more then take 40–90 s a run.
const MESSAGES: usize = 10_000;
/// The paced publisher's rate in the latency phase, messages per second.
const RATE: u32 = 2_500;
/// How long the latency phase publishes.
const PACED_SECS: u32 = 3;
/// The latency phase.
const PACE: Pace = Pace {
    rate: RATE,
    secs: PACED_SECS,
};
/// A typical small site: 100 msg/s, for long enough (2,000 leaf messages,
/// 1,000 forwarded) that the kernel's CPU clock ticks of 10 ms are a small
/// part of the gateway's CPU time over it.
const SMALL_SITE: Pace = Pace {
    rate: 100,
    secs: 20,
};
/// The gateway's device id: its telemetry topic is under it.
const DEVICE: &str = "bench-gw";
/// The ingest filter; its `+` names the leaf device.
const LEAF_FILTER: &str = "leaves/+/telemetry";
/// Where the leaf publishes.
const LEAF_TOPIC: &str = "leaves/leaf-1/telemetry";
/// The baseline's topic.
const RAW_TOPIC: &str = "bench/raw";
/// The gateway's log (warnings), in the run's tempdir.
const LOG: &str = "ganglion.log";
/// How long after a phase the bytes written to disk are read, so that the
/// queue's removal records of the delivered messages (the durable policy
/// syncs them every 500 ms, the periodic one every 1 s) are in.
const DELETES_SETTLE: std::time::Duration = std::time::Duration::from_millis(1500);

/// A gateway configuration measured beside the default.
struct Variant {
    /// How the tables name it.
    what: &'static str,
    /// Its `[store-and-forward]` keys.
    keys: &'static str,
    /// Its `--worker-threads`.
    worker_threads: u16,
}

/// The flush policies, and the runtime of two worker threads, measured
/// beside the default (`[store-and-forward]` keys, one worker thread).
const POLICIES: &[Variant] = &[
    Variant {
        what: "durable, each flush as soon as the last is done",
        keys: "commit-window-ms = 0",
        worker_threads: 1,
    },
    Variant {
        what: "periodic, flushed every 1 s",
        keys: "flush = \"periodic\"\nflush-interval-ms = 1000",
        worker_threads: 1,
    },
    Variant {
        what: "the default policy on two worker threads",
        keys: "",
        worker_threads: 2,
    },
];

/// Waits until the gateway has written a compiled component into `cache`.
fn wait_for_compiled(cache: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(cache).map_or(true, |d| {
        !d.flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never compiled the filter into {}",
            cache.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What ingest logs (at warn) when its session to the broker ends and it
/// reconnects.
const NOT_TAKEN: &str = "local broker session:";
/// How long the gateway's burst may take: past it, the run reports the bound
/// MESSAGES / BURST_LIMIT (the true rate is lower), so that a collapsed run
/// cannot take the whole time budget.
const BURST_LIMIT: Duration = Duration::from_secs(35);
/// How long a paced phase may take, its publishing included, before the
/// benchmark counts it as broken.
const PHASE_TIMEOUT: Duration = Duration::from_secs(45);

fn telemetry_topic() -> String {
    format!("ganglion/{DEVICE}/messages/events")
}

/// The `q` quantile (0..=1) of `xs`, nearest rank.
fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

/// One run's figures.
struct Run {
    raw_rate: f64,
    gw_rate: f64,
    capped: bool,
    cpu_per_msg_us: f64,
    kb_per_1000: f64,
    paced_kb_per_1000: f64,
    paced_cpu_us: f64,
    /// CPU per published message at `SMALL_SITE`, µs.
    small_site_cpu_us: f64,
    /// Bytes written per forwarded message at `SMALL_SITE`.
    small_site_bytes: f64,
    startup_rss_mb: f64,
    peak_rss_mb: f64,
    duplicates: usize,
    reconnects: usize,
    raw_p50: f64,
    raw_p99: f64,
    gw_p50: f64,
    gw_p99: f64,
    /// One per entry of `POLICIES`.
    policies: Vec<PolicyRun>,
    two: TwoCopies,
}

/// The figures of a gateway under one variant.
struct PolicyRun {
    kb_per_1000: f64,
    paced_kb_per_1000: f64,
    rate: f64,
    p50: f64,
    /// CPU per published message, paced and burst, µs.
    paced_cpu_us: f64,
    burst_cpu_us: f64,
}

/// The figures of the gateway that sends every leaf message both through the
/// filter and straight to `$upstream`.
struct TwoCopies {
    /// Leaf messages per second, burst.
    rate: f64,
    capped: bool,
    /// CPU per leaf message over the burst, µs.
    cpu_us: f64,
    /// CPU per leaf message at the paced `RATE`, µs.
    paced_cpu_us: f64,
    /// Latency p50 of every copy at the paced `RATE`, ms.
    p50: f64,
    /// Bytes written per 1,000 copies delivered at the paced `RATE`, KB.
    paced_kb_per_1000: f64,
    duplicates: usize,
}

/// What a paced phase through the gateway measured.
struct Paced {
    /// Each delivered copy's latency, ms.
    latencies: Vec<f64>,
    /// The gateway's CPU time per published message, until the subscriber
    /// was quiet, µs.
    cpu_per_msg_us: f64,
    /// Bytes written per 1,000 delivered copies, KB (so bytes per copy).
    kb_per_1000: f64,
}

fn main() -> std::io::Result<()> {
    let tick_hz = clock_ticks();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let origin = Instant::now();
    let runs: Vec<Run> = runtime.block_on(async {
        let mut runs = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            runs.push(run(i, tick_hz, origin).await);
        }
        runs
    });
    let col = |f: fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let size = bodies()[0].len();
    let pipeline_notes = capped_note(&runs, |r| r.capped, "forwarded message");
    let two_notes = capped_note(&runs, |r| r.two.capped, "expected copy");

    let raw = "broker raw: publisher → mosquitto → subscriber (baseline)";
    let small_site = SMALL_SITE.rate;
    Table {
        id: "mqtt-pipeline".to_string(),
        rows: vec![
            Row::new(raw, "msg/s", col(|r| r.raw_rate)),
            Row::new(
                "absorbed: leaf → mosquitto → ganglion (ingest → temp-filter → $upstream → uplink) → mosquitto → subscriber",
                "msg/s",
                col(|r| r.gw_rate),
            )
            .against(raw, Some(Goal::AtLeast(0.8))),
            Row::new(
                "ganglion CPU (utime + stime) per published message",
                "µs",
                col(|r| r.cpu_per_msg_us),
            )
            .goal(Goal::AtMost(10.0)),
            Row::new(
                "ganglion peak RSS under load (VmHWM over the paced phases and the burst)",
                "MB (10^6 B)",
                col(|r| r.peak_rss_mb),
            )
            .goal(Goal::AtMost(25.0)),
            Row::new(
                "written to disk per 1,000 forwarded messages (queued, synced, removed)",
                "KB",
                col(|r| r.kb_per_1000),
            ),
            Row::new(
                format!("ganglion CPU per published message at a paced {RATE} msg/s"),
                "µs",
                col(|r| r.paced_cpu_us),
            )
            .goal(Goal::AtMost(25.0)),
            Row::new(
                format!("ganglion CPU per published message at a paced {small_site} msg/s"),
                "µs",
                col(|r| r.small_site_cpu_us),
            ),
            Row::new(
                format!("written per forwarded message at a paced {small_site} msg/s"),
                "B per message",
                col(|r| r.small_site_bytes),
            ),
            Row::new(
                "ganglion peak RSS at start-up (VmHWM; the filter from the cache)",
                "MB (10^6 B)",
                col(|r| r.startup_rss_mb),
            ),
            Row::new(
                "ingest session reconnects",
                "count",
                col(|r| r.reconnects as f64),
            ),
            Row::new(
                "forwarded messages the subscriber received more than once",
                "messages",
                col(|r| r.duplicates as f64),
            ),
        ],
        notes: [vec![
            format!(
                "{MESSAGES} SimulatedTemperatureSensor readings of {size} B per run, QoS 1 \
                 publish and subscribe, one mosquitto per run; the baseline publishes the \
                 same bodies to a topic the subscriber reads directly."
            ),
            format!(
                "absorbed = {MESSAGES} leaf messages / (time from the first leaf publish until \
                 the subscriber has received all {} forwarded ones). Half the readings are \
                 above the threshold of 25: the other half end at the filter, so the \
                 gateway's subscriber receives half as many messages as the baseline's.",
                MESSAGES / 2
            ),
            "Ingest acknowledges a leaf message to the broker only once every copy is safe: \
             here, once the filter has handled it and what it sent for it (a reading above 25) \
             is synced into the `$upstream` queue, a segment log under `queue/` in the data \
             directory (a tempdir on the machine's disk; sled keeps twins, module data and \
             deployments). Under the default policy a record is appended at once and may be \
             published upstream before its fdatasync; the leaf's PUBACK waits for the sync, \
             which starts once 4 KiB wait or the oldest has waited 10 ms (`commit-window-ms`), \
             the next as soon as the previous is done. When the filter's input queue (default \
             length 256) is full the router refuses the copy, and ingest holds routing back \
             for a pause and routes it again, only where it was refused; the duplicates row \
             counts the copies that reached the subscriber twice (every message carries a \
             sequence number in a user property, the baseline's too)."
                .to_string(),
            format!(
                "CPU: the gateway process's utime + stime from /proc/PID/stat (clock ticks \
                 of 1/{tick_hz:.0} s) from the first leaf publish until the subscriber had \
                 been quiet for 0.5 s after the last forwarded message, divided by the \
                 {MESSAGES} published messages. The paced rows: the same over each paced \
                 phase, until the subscriber was quiet for 0.5 s, divided by the messages \
                 published in it ({} at {RATE} msg/s for {PACED_SECS} s, {} at \
                 {small_site} msg/s for {} s).",
                PACE.messages(),
                SMALL_SITE.messages(),
                SMALL_SITE.secs
            ),
            format!(
                "Written to disk: `write_bytes` of /proc/PID/io (what the process sent to the \
                 storage layer: the queue's records, the pages each sync writes, the removal \
                 records of delivered messages, and sled's own writes) from the start of the \
                 phase until 1.5 s after the subscriber had every forwarded message, per 1,000 \
                 of the forwarded messages (the filter drops the other half before the queue). \
                 At {small_site} msg/s: bytes per forwarded message ({} of them)."
                ,
                SMALL_SITE.messages() / 2
            ),
            "Peak RSS: VmHWM of the gateway process, in MB of 10^6 bytes: at start-up (the \
             filter loaded from the compiled cache, which a first start filled), then reset (`5` into \
             /proc/PID/clear_refs) and read at the end of the paced phases and the burst."
                .to_string(),
            format!(
                "One run: a fresh mosquitto and a fresh data directory; a first `ganglion run` \
                 (release binary) compiles the filter into its cache and stops, and a second \
                 one is measured; its phases start after a probe message has come through it: \
                 the paced latency phase first, then {small_site} msg/s for {} s, then the burst.",
                SMALL_SITE.secs
            ),
        ], pipeline_notes]
        .concat(),
    }
    .publish()?;

    let (p50, p99) = ("broker raw p50 (baseline)", "broker raw p99 (baseline)");
    Table {
        id: "mqtt-latency".to_string(),
        rows: vec![
            Row::new(p50, "ms", col(|r| r.raw_p50)),
            Row::new(p99, "ms", col(|r| r.raw_p99)),
            Row::new("through the gateway, p50", "ms", col(|r| r.gw_p50))
                .against(p50, None)
                .goal(Goal::AtMost(1.0)),
            Row::new("through the gateway, p99", "ms", col(|r| r.gw_p99)).against(p99, None),
        ],
        notes: vec![
            format!(
                "Leaf publish → subscriber receipt, at a paced {RATE} msg/s for {PACED_SECS} s \
                 ({} messages per run; {} of them forwarded by the filter), QoS 1, {size} B \
                 bodies. The send time rides in an MQTT 5 user property, which ingest keeps as \
                 an application property and the uplink publishes again.",
                PACE.messages(),
                PACE.messages().div_ceil(2)
            ),
            "The publisher is a thread that sleeps to each message's due time; publisher and \
             subscriber are in the bench process, so one clock times both ends. The baseline \
             is the same paced publisher straight through the broker, in the same run."
                .to_string(),
        ],
    }
    .publish()?;

    let two = "two copies";
    Table {
        id: "mqtt-two-copies".to_string(),
        rows: vec![
            Row::new(raw, "msg/s", col(|r| r.raw_rate)),
            Row::new(
                format!("{two}: absorbed, burst (leaf messages)"),
                "msg/s",
                col(|r| r.two.rate),
            )
            .against(raw, None),
            Row::new(
                format!("{two}: ganglion CPU per leaf message, burst"),
                "µs",
                col(|r| r.two.cpu_us),
            ),
            Row::new(
                format!("{two}: ganglion CPU per leaf message at a paced {RATE} msg/s"),
                "µs",
                col(|r| r.two.paced_cpu_us),
            ),
            Row::new(p50, "ms", col(|r| r.raw_p50)),
            Row::new(
                format!("{two}: latency p50 at a paced {RATE} msg/s (every copy)"),
                "ms",
                col(|r| r.two.p50),
            )
            .against(p50, None),
            Row::new(
                format!("{two}: written per 1,000 delivered copies, paced at {RATE} msg/s"),
                "KB",
                col(|r| r.two.paced_kb_per_1000),
            ),
            Row::new(
                format!("{two}: copies the subscriber received more than once, burst"),
                "messages",
                col(|r| r.two.duplicates as f64),
            ),
        ],
        notes: [
            vec![
                format!(
                    "The pipeline above with one more route, `straight = \"FROM /messages/* WHERE \
                 is_defined($connectionDeviceId) INTO $upstream\"`: each leaf message goes to \
                 `$upstream` straight and through temp-filter, so the subscriber gets every \
                 message once and the half above 25 twice, {} copies per {MESSAGES} leaf \
                 messages (the uplink's `$route` user property tells the two copies of a \
                 message apart). A leaf message is acknowledged once both copies are safe.",
                    MESSAGES + MESSAGES / 2
                ),
                format!(
                    "Each run, after the gateways of the flush-policy table, starts this gateway \
                 (default policy) on the same data directory and broker: {RATE} msg/s paced for \
                 {PACED_SECS} s, then a burst of {MESSAGES} readings. absorbed = leaf messages / \
                 time until the subscriber had every copy; CPU per leaf message published; \
                 latency over every delivered copy; written: `write_bytes` from the start of the \
                 phase until 1.5 s after the last copy, per 1,000 delivered copies. The \
                 baselines are the broker alone, in the same run."
                ),
            ],
            two_notes,
        ]
        .concat(),
    }
    .publish()?;

    let default = "durable, group commit within 10 ms (the default)";
    let label = |what: &str, figure: &str| format!("{what}: {figure}");
    let paced_written = format!("written per 1,000 forwarded, paced at {RATE} msg/s");
    let burst_written = "written per 1,000 forwarded, burst";
    let mut rows = vec![
        Row::new(
            label(default, &paced_written),
            "KB",
            col(|r| r.paced_kb_per_1000),
        )
        .goal(Goal::AtMost(1000.0)),
        Row::new(label(default, burst_written), "KB", col(|r| r.kb_per_1000)),
        Row::new(label(default, "latency p50"), "ms", col(|r| r.gw_p50)),
        Row::new(
            label(default, "absorbed, burst"),
            "msg/s",
            col(|r| r.gw_rate),
        ),
    ];
    rows.push(Row::new(
        label(default, "CPU per published message, paced"),
        "µs",
        col(|r| r.paced_cpu_us),
    ));
    rows.push(Row::new(
        label(default, "CPU per published message, burst"),
        "µs",
        col(|r| r.cpu_per_msg_us),
    ));
    for (i, variant) in POLICIES.iter().enumerate() {
        let what = variant.what;
        let of = |f: fn(&PolicyRun) -> f64| -> Vec<f64> {
            runs.iter().map(|r| f(&r.policies[i])).collect()
        };
        for (figure, unit, values) in [
            (paced_written.as_str(), "KB", of(|p| p.paced_kb_per_1000)),
            (burst_written, "KB", of(|p| p.kb_per_1000)),
            ("latency p50", "ms", of(|p| p.p50)),
            ("absorbed, burst", "msg/s", of(|p| p.rate)),
            (
                "CPU per published message, paced",
                "µs",
                of(|p| p.paced_cpu_us),
            ),
            (
                "CPU per published message, burst",
                "µs",
                of(|p| p.burst_cpu_us),
            ),
        ] {
            rows.push(
                Row::new(label(what, figure), unit, values).against(label(default, figure), None),
            );
        }
    }
    Table {
        id: "flush-policy".to_string(),
        rows,
        notes: vec![
            format!(
                "Each run, after the gateway above, starts a gateway under each other policy \
                 (and one under the default policy on two worker threads, \
                 `--worker-threads 2`; the default runs on one) on the same data directory \
                 and broker, and runs the same two phases through it: {RATE} msg/s paced \
                 for {PACED_SECS} s, then a burst of {MESSAGES} readings. The default's rows \
                 are the phases of the tables above."
            ),
            "The default appends each record at once (it may be published upstream before \
             its sync) and holds the leaf's PUBACK until an fdatasync covers it; a sync starts \
             once 4 KiB wait or the oldest has waited 10 ms, the next as soon as the previous \
             is done. A window of 0 syncs as soon as the previous sync is done. The periodic \
             policy acknowledges once the record is written and syncs every 1 s."
                .to_string(),
            "Written: `write_bytes` of /proc/PID/io from the start of a phase until 1.5 s \
             after the subscriber had every forwarded message, per 1,000 forwarded \
             messages; it counts the queued records, the pages each sync writes (a sync \
             writes whole 4 KiB pages, so a sync that carries one 133 B message writes a \
             page), the removal records of delivered messages and sled's own writes."
                .to_string(),
        ],
    }
    .publish()?;
    Ok(())
}

/// The note for the runs whose burst hit `BURST_LIMIT` (`capped` says which),
/// if any did: their samples are bounds.
fn capped_note(runs: &[Run], capped: fn(&Run) -> bool, awaited: &str) -> Vec<String> {
    let which: Vec<String> = (0..runs.len())
        .filter(|i| capped(&runs[*i]))
        .map(|i| (i + 1).to_string())
        .collect();
    if which.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "Run(s) {} did not have every {awaited} within {} s: the absorbed sample is the \
         bound {MESSAGES} / {} s, above the true rate, and the CPU sample covers only \
         those {} s.",
        which.join(", "),
        BURST_LIMIT.as_secs(),
        BURST_LIMIT.as_secs(),
        BURST_LIMIT.as_secs()
    )]
}
