//! The measured phases of the MQTT bench: one run (the broker alone, then
//! the gateway paced, under a burst and at a small site's rate), the runs
//! under the other flush policies and the two-copies deployment, and the
//! disk-write readings they share. `mqtt.rs` has what each measures and why.

use super::*;

/// A paced phase through the gateway `pid`: its latencies, its CPU time per
/// published message, and the bytes written per 1,000 delivered copies
/// (read `DELETES_SETTLE` after the subscriber was quiet).
#[allow(clippy::too_many_arguments)]
async fn written_paced(
    pid: u32,
    tick_hz: f64,
    leaf: &rumqttc::v5::AsyncClient,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<clients::Arrival>,
    expected: Expected,
    pace: Pace,
    origin: Instant,
    what: &str,
) -> Paced {
    let cpu_before = cpu_us(pid, tick_hz);
    let written_before = disk_write_bytes(pid);
    let latencies = paced(leaf, LEAF_TOPIC, rx, expected, pace, origin, what).await;
    settle(rx, &(0..0)).await;
    let cpu_us = cpu_us(pid, tick_hz) - cpu_before;
    tokio::time::sleep(DELETES_SETTLE).await;
    let delivered = latencies.len() as f64;
    let kb_per_1000 = (disk_write_bytes(pid) - written_before) as f64 / 1e3 / (delivered / 1000.0);
    Paced {
        latencies,
        cpu_per_msg_us: cpu_us / f64::from(pace.messages()),
        kb_per_1000,
    }
}

/// What a burst through the gateway measured.
struct Written {
    burst: clients::Burst,
    /// The gateway's CPU time over the burst, µs.
    cpu_us: f64,
    /// Its peak RSS at the end of the burst, MB.
    peak_rss_mb: f64,
    /// Bytes written per 1,000 delivered copies, KB.
    kb_per_1000: f64,
}

/// The burst through the gateway `pid`, its CPU time and peak RSS, and the
/// bytes written per 1,000 delivered copies (read `DELETES_SETTLE` later).
async fn written_burst(
    pid: u32,
    tick_hz: f64,
    leaf: &rumqttc::v5::AsyncClient,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<clients::Arrival>,
    expected: Expected,
    what: &str,
) -> Written {
    let cpu_before = cpu_us(pid, tick_hz);
    let written_before = disk_write_bytes(pid);
    let burst = burst(leaf, LEAF_TOPIC, rx, expected, what).await;
    let cpu_us = cpu_us(pid, tick_hz) - cpu_before;
    let peak_rss_mb = peak_rss_mb(pid);
    // The removals of delivered messages are synced in the background.
    tokio::time::sleep(DELETES_SETTLE).await;
    let kb_per_1000 =
        (disk_write_bytes(pid) - written_before) as f64 / 1e3 / (burst.delivered as f64 / 1000.0);
    Written {
        burst,
        cpu_us,
        peak_rss_mb,
        kb_per_1000,
    }
}

/// A gateway of `variant`: the paced phase (its latency p50, CPU and
/// written bytes), then the burst (its rate, CPU and written bytes).
async fn policy_run(
    dir: &std::path::Path,
    broker: &Broker,
    variant: &Variant,
    tick_hz: f64,
    leaf: &rumqttc::v5::AsyncClient,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<clients::Arrival>,
    origin: Instant,
) -> PolicyRun {
    let what = variant.what;
    let gateway = start_gateway(
        dir,
        broker,
        Copies::One,
        variant.keys,
        variant.worker_threads,
    );
    until_ready(leaf, rx).await;
    let pid = gateway.pid();
    let mut paced = written_paced(pid, tick_hz, leaf, rx, forwarded, PACE, origin, what).await;
    let w = written_burst(pid, tick_hz, leaf, rx, forwarded, what).await;
    assert!(
        !w.burst.capped,
        "{what}: the burst took over {BURST_LIMIT:?}"
    );
    gateway.stop();
    let p50 = quantile(&mut paced.latencies, 0.50);
    eprintln!(
        "{what}: {:.0} msg/s, KB written per 1,000 forwarded: {:.0} paced, {:.0} burst; p50 {p50:.3} ms",
        w.burst.rate, paced.kb_per_1000, w.kb_per_1000,
    );
    PolicyRun {
        kb_per_1000: w.kb_per_1000,
        paced_kb_per_1000: paced.kb_per_1000,
        rate: w.burst.rate,
        p50,
        paced_cpu_us: paced.cpu_per_msg_us,
        burst_cpu_us: w.cpu_us / MESSAGES as f64,
    }
}

/// A gateway (default policy) whose routes send every leaf message through
/// the filter and straight to `$upstream`: the paced phase, then the burst.
async fn two_copies_run(
    dir: &std::path::Path,
    broker: &Broker,
    tick_hz: f64,
    leaf: &rumqttc::v5::AsyncClient,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<clients::Arrival>,
    origin: Instant,
) -> TwoCopies {
    let what = "two copies";
    let gateway = start_gateway(dir, broker, Copies::Two, "", 1);
    until_ready(leaf, rx).await;
    let pid = gateway.pid();
    let mut paced = written_paced(
        pid,
        tick_hz,
        leaf,
        rx,
        forwarded_and_straight,
        PACE,
        origin,
        "two copies, paced",
    )
    .await;
    let w = written_burst(pid, tick_hz, leaf, rx, forwarded_and_straight, what).await;
    gateway.stop();
    let two = TwoCopies {
        rate: w.burst.rate,
        capped: w.burst.capped,
        cpu_us: w.cpu_us / MESSAGES as f64,
        paced_cpu_us: paced.cpu_per_msg_us,
        p50: quantile(&mut paced.latencies, 0.50),
        paced_kb_per_1000: paced.kb_per_1000,
        duplicates: w.burst.duplicates,
    };
    eprintln!(
        "{what}: {}{:.0} msg/s, {:.2} µs CPU/msg burst, {:.2} paced; p50 {:.3} ms; \
         KB written per 1,000 delivered, paced: {:.0}; {} duplicates",
        if two.capped { "at most " } else { "" },
        two.rate,
        two.cpu_us,
        two.paced_cpu_us,
        two.p50,
        two.paced_kb_per_1000,
        two.duplicates
    );
    two
}

pub(crate) async fn run(run: usize, tick_hz: f64, origin: Instant) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let port = broker.port();

    // The baseline, first, on the same broker.
    let mut raw_rx = subscriber(port, RAW_TOPIC).await;
    let raw_pub = publisher(port).await;
    let raw = burst(&raw_pub, RAW_TOPIC, &mut raw_rx, once, "broker raw").await;
    assert!(!raw.capped, "the broker alone took over {BURST_LIMIT:?}");
    assert_eq!(raw.duplicates, 0, "the broker delivered a message twice");
    let mut raw_lat = paced(
        &raw_pub,
        RAW_TOPIC,
        &mut raw_rx,
        once,
        PACE,
        origin,
        "raw, paced",
    )
    .await;

    // The gateway: latency on a fresh gateway first, then the small site,
    // then the burst, so that what a burst leaves behind cannot delay the
    // paced messages.
    let mut gw_rx = subscriber(port, &telemetry_topic()).await;
    let leaf = publisher(port).await;
    // A first start compiles the filter into the cache and stops, so that the
    // measured gateway starts as a deployed one does: from the cache.
    let first = start_gateway(dir.path(), &broker, Copies::One, "", 1);
    wait_for_compiled(&dir.path().join("data").join("compiled"));
    first.stop();
    let gateway = start_gateway(dir.path(), &broker, Copies::One, "", 1);
    let pid = gateway.pid();
    until_ready(&leaf, &mut gw_rx).await;
    eprintln!("run {run}: gateway pid {pid} is forwarding");
    let startup_rss_mb = peak_rss_mb(pid);
    reset_peak_rss(pid);
    let gw_paced = written_paced(
        pid,
        tick_hz,
        &leaf,
        &mut gw_rx,
        forwarded,
        PACE,
        origin,
        "gateway, paced",
    )
    .await;
    let mut gw_lat = gw_paced.latencies;
    let small_site = written_paced(
        pid,
        tick_hz,
        &leaf,
        &mut gw_rx,
        forwarded,
        SMALL_SITE,
        origin,
        "gateway, small site",
    )
    .await;
    eprintln!(
        "run {run}: at {} msg/s, {:.2} µs CPU per published message, {:.0} B written per forwarded one",
        SMALL_SITE.rate, small_site.cpu_per_msg_us, small_site.kb_per_1000
    );

    let written = written_burst(pid, tick_hz, &leaf, &mut gw_rx, forwarded, "gateway").await;
    let gw = &written.burst;
    let cpu_per_msg_us = written.cpu_us / MESSAGES as f64;
    gateway.stop();
    let log = std::fs::read_to_string(dir.path().join(LOG)).unwrap_or_default();
    let reconnects = log.lines().filter(|l| l.contains(NOT_TAKEN)).count();
    let mut policies = Vec::new();
    for policy in POLICIES {
        policies.push(
            policy_run(
                dir.path(),
                &broker,
                policy,
                tick_hz,
                &leaf,
                &mut gw_rx,
                origin,
            )
            .await,
        );
    }
    let two = two_copies_run(dir.path(), &broker, tick_hz, &leaf, &mut gw_rx, origin).await;

    let r = Run {
        raw_rate: raw.rate,
        gw_rate: gw.rate,
        capped: gw.capped,
        cpu_per_msg_us,
        kb_per_1000: written.kb_per_1000,
        paced_kb_per_1000: gw_paced.kb_per_1000,
        paced_cpu_us: gw_paced.cpu_per_msg_us,
        small_site_cpu_us: small_site.cpu_per_msg_us,
        // KB per 1,000 is bytes per message.
        small_site_bytes: small_site.kb_per_1000,
        startup_rss_mb,
        peak_rss_mb: written.peak_rss_mb,
        duplicates: gw.duplicates,
        reconnects,
        raw_p50: quantile(&mut raw_lat, 0.50),
        raw_p99: quantile(&mut raw_lat, 0.99),
        gw_p50: quantile(&mut gw_lat, 0.50),
        gw_p99: quantile(&mut gw_lat, 0.99),
        policies,
        two,
    };
    eprintln!(
        "run {run}: raw {:.0} msg/s, gateway {}{:.0} msg/s ({:.2}), {:.2} µs CPU/msg, \
         VmHWM under load {:.1} MB, {} duplicates, {} ingest reconnects; \
         latency p50/p99 raw {:.3}/{:.3} ms, gateway {:.3}/{:.3} ms",
        r.raw_rate,
        if r.capped { "at most " } else { "" },
        r.gw_rate,
        r.gw_rate / r.raw_rate,
        r.cpu_per_msg_us,
        r.peak_rss_mb,
        r.duplicates,
        r.reconnects,
        r.raw_p50,
        r.raw_p99,
        r.gw_p50,
        r.gw_p99
    );
    r
}
