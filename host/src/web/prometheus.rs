//! The gateway's counters in the Prometheus text exposition format (version
//! 0.0.4): one `# HELP` and `# TYPE` line per metric family, then one sample
//! per label set. Names and labels are stable: dashboards and alerts are
//! written against them.
//!
//! | family | labels |
//! |---|---|
//! | `ganglion_module_messages_received_total`, `_sent_total`, `_failed_total` | `module` |
//! | `ganglion_module_messages_dropped_total` | `module`, `reason` (`queue_full`, `not_running`) |
//! | `ganglion_module_traps_total`, `ganglion_module_restarts_total`, `ganglion_module_timer_calls_total` | `module` |
//! | `ganglion_module_status` (1 for the status the module is in) | `module`, `status` |
//! | `ganglion_module_call_seconds_total` (time in calls into the module) | `module` |
//! | `ganglion_module_call_duration_seconds` (histogram: `_bucket`, `_sum`, `_count`) | `module`, `le` |
//! | `ganglion_module_memory_bytes`, `ganglion_module_memory_limit_bytes` (linear memory) | `module` |
//! | `ganglion_module_queue_messages` (waiting in its input queue) | `module` |
//! | `ganglion_route_messages_matched_total` | `route` |
//! | `ganglion_messages_unrouted_total`, `ganglion_upstream_messages_accepted_total` | |
//! | `ganglion_upstream_queue_messages`, `ganglion_upstream_queue_bytes` | |
//! | `ganglion_upstream_oldest_message_age_seconds` (0 when empty) | |
//! | `ganglion_upstream_messages_delivered_total`, `_refused_total`, `_expired_total`, `_dropped_total` | |
//! | `ganglion_upstream_broker_refused_total`, `ganglion_store_errors_total` | |
//! | `ganglion_uplink_connected`, `ganglion_uplink_connects_total` | |
//! | `ganglion_ingest_active`, `ganglion_ingest_connected`, `ganglion_ingest_connects_total`, `ganglion_ingest_pending_messages` | |
//! | `process_resident_memory_bytes`, `process_storage_written_bytes_total` | |

use super::process::ScrapeFigures;
use crate::metrics::{CALL_BUCKETS_US, MetricsSnapshot, ModuleSnapshot, ModuleStatus};
use std::fmt::{Display, Write};

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every module status, as its label value.
const STATUSES: [(ModuleStatus, &str); 5] = [
    (ModuleStatus::Starting, "starting"),
    (ModuleStatus::Running, "running"),
    (ModuleStatus::Backoff, "backoff"),
    (ModuleStatus::Stopped, "stopped"),
    (ModuleStatus::Failed, "failed"),
];

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    /// A sample with `labels` (name, value pairs, values escaped here).
    fn sample(&mut self, labels: &[(&str, &str)], value: impl Display) {
        self.suffixed("", labels, value);
    }

    /// A sample of the family's series `name` + `suffix` (a histogram's
    /// `_bucket`, `_sum` and `_count`).
    fn suffixed(&mut self, suffix: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(self.name);
        self.out.push_str(suffix);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_into(self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Starts family `name` of `kind` (`counter` or `gauge`) with its help text.
fn family<'a>(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out, name }
}

/// A label value with `\`, `"` and newlines escaped, as the format says.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A per-module counter family.
fn per_module(
    out: &mut String,
    modules: &[ModuleSnapshot],
    name: &'static str,
    help: &str,
    value: impl Fn(&ModuleSnapshot) -> u64,
) {
    per_module_of(out, modules, name, "counter", help, value);
}

/// A per-module family of `kind` (`counter` or `gauge`).
fn per_module_of(
    out: &mut String,
    modules: &[ModuleSnapshot],
    name: &'static str,
    kind: &str,
    help: &str,
    value: impl Fn(&ModuleSnapshot) -> u64,
) {
    let mut f = family(out, name, kind, help);
    for m in modules {
        f.sample(&[("module", &m.name)], value(m));
    }
}

/// A family with one unlabelled sample.
fn single(out: &mut String, name: &'static str, kind: &str, help: &str, value: u64) {
    family(out, name, kind, help).sample(&[], value);
}

/// The exposition of `snapshot` and `process`.
pub fn render(snapshot: &MetricsSnapshot, process: &ScrapeFigures) -> String {
    let mut out = String::with_capacity(4096);
    let modules = &snapshot.modules;
    per_module(
        &mut out,
        modules,
        "ganglion_module_messages_received_total",
        "Messages handed to the module.",
        |m| m.received,
    );
    per_module(
        &mut out,
        modules,
        "ganglion_module_messages_sent_total",
        "Messages the module sent.",
        |m| m.sent,
    );
    per_module(
        &mut out,
        modules,
        "ganglion_module_messages_failed_total",
        "Messages the module refused or trapped on.",
        |m| m.failed,
    );
    let mut f = family(
        &mut out,
        "ganglion_module_messages_dropped_total",
        "counter",
        "Messages routed to the module and dropped, by reason.",
    );
    for m in modules {
        f.sample(
            &[("module", &m.name), ("reason", "queue_full")],
            m.dropped_queue_full,
        );
        f.sample(
            &[("module", &m.name), ("reason", "not_running")],
            m.dropped_not_running,
        );
    }
    per_module(
        &mut out,
        modules,
        "ganglion_module_traps_total",
        "Traps of the module's instances (deadlines and memory exhaustion included).",
        |m| m.traps,
    );
    per_module(
        &mut out,
        modules,
        "ganglion_module_restarts_total",
        "Restarts of the module.",
        |m| m.restarts,
    );
    per_module(
        &mut out,
        modules,
        "ganglion_module_timer_calls_total",
        "Timer calls into the module.",
        |m| m.timer_calls,
    );
    let mut f = family(
        &mut out,
        "ganglion_module_status",
        "gauge",
        "1 for the status the module is in, 0 for the others.",
    );
    for m in modules {
        for (status, label) in STATUSES {
            f.sample(
                &[("module", &m.name), ("status", label)],
                u64::from(m.status == status),
            );
        }
    }
    usage(&mut out, modules);
    let mut f = family(
        &mut out,
        "ganglion_route_messages_matched_total",
        "counter",
        "Messages the route matched.",
    );
    for r in &snapshot.routes {
        f.sample(&[("route", &r.name)], r.matched);
    }
    single(
        &mut out,
        "ganglion_messages_unrouted_total",
        "counter",
        "Messages no route matched.",
        snapshot.unrouted,
    );
    upstream(&mut out, snapshot, process.oldest_queued_secs);
    if let Some(bytes) = process.resident_bytes {
        single(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            bytes,
        );
    }
    if let Some(bytes) = process.written_bytes {
        single(
            &mut out,
            "process_storage_written_bytes_total",
            "counter",
            "Bytes the process caused to be written to storage (its data directory).",
            bytes,
        );
    }
    out
}

/// Seconds in `nanos` nanoseconds.
fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// What each module's calls cost, its memory and its queue.
fn usage(out: &mut String, modules: &[ModuleSnapshot]) {
    let mut f = family(
        out,
        "ganglion_module_call_seconds_total",
        "counter",
        "Time spent in calls into the module (a batch of messages is one call).",
    );
    for m in modules {
        f.sample(&[("module", &m.name)], seconds(m.usage.busy_nanos));
    }
    let mut f = family(
        out,
        "ganglion_module_call_duration_seconds",
        "histogram",
        "How long each call into the module took.",
    );
    for m in modules {
        let mut cumulative = 0;
        for (bound, n) in CALL_BUCKETS_US.iter().zip(m.usage.buckets) {
            cumulative += n;
            let le = (*bound as f64 / 1e6).to_string();
            f.suffixed("_bucket", &[("module", &m.name), ("le", &le)], cumulative);
        }
        f.suffixed(
            "_bucket",
            &[("module", &m.name), ("le", "+Inf")],
            m.usage.calls,
        );
        f.suffixed("_sum", &[("module", &m.name)], seconds(m.usage.busy_nanos));
        f.suffixed("_count", &[("module", &m.name)], m.usage.calls);
    }
    per_module_of(
        out,
        modules,
        "ganglion_module_memory_bytes",
        "gauge",
        "Linear memory of the module's instance, after its last call.",
        |m| m.usage.memory_bytes,
    );
    per_module_of(
        out,
        modules,
        "ganglion_module_memory_limit_bytes",
        "gauge",
        "The most linear memory the module's instance may have.",
        |m| m.usage.memory_limit_bytes,
    );
    per_module_of(
        out,
        modules,
        "ganglion_module_queue_messages",
        "gauge",
        "Messages waiting for the module.",
        |m| m.usage.queued,
    );
}

/// The `$upstream` queue, the cloud link and the leaf ingest.
fn upstream(out: &mut String, snapshot: &MetricsSnapshot, oldest_secs: Option<f64>) {
    let q = &snapshot.queue;
    single(
        out,
        "ganglion_upstream_messages_accepted_total",
        "counter",
        "Messages routed to $upstream and accepted into its queue.",
        snapshot.upstream,
    );
    single(
        out,
        "ganglion_upstream_queue_messages",
        "gauge",
        "Messages waiting in the $upstream queue.",
        q.depth,
    );
    single(
        out,
        "ganglion_upstream_queue_bytes",
        "gauge",
        "Bytes of the messages waiting in the $upstream queue.",
        q.bytes,
    );
    if let Some(age) = oldest_secs {
        family(
            out,
            "ganglion_upstream_oldest_message_age_seconds",
            "gauge",
            "How long the message that has waited longest in the queue has existed (0 when empty).",
        )
        .sample(&[], age);
    }
    single(
        out,
        "ganglion_upstream_messages_delivered_total",
        "counter",
        "Messages the cloud broker acknowledged.",
        q.delivered,
    );
    single(
        out,
        "ganglion_upstream_messages_refused_total",
        "counter",
        "Messages refused at the queue (it was full and its policy refuses).",
        q.refused,
    );
    single(
        out,
        "ganglion_upstream_messages_expired_total",
        "counter",
        "Messages dropped from the queue when their time to live ran out.",
        q.expired,
    );
    single(
        out,
        "ganglion_upstream_messages_dropped_total",
        "counter",
        "Messages dropped from a full queue to make room (drop-oldest).",
        q.dropped_oldest,
    );
    single(
        out,
        "ganglion_upstream_broker_refused_total",
        "counter",
        "Publishes the cloud broker refused.",
        q.broker_refused,
    );
    single(
        out,
        "ganglion_store_errors_total",
        "counter",
        "Errors of the store under the queue.",
        q.store_errors,
    );
    single(
        out,
        "ganglion_uplink_connected",
        "gauge",
        "1 while the cloud link is connected.",
        u64::from(q.connected),
    );
    single(
        out,
        "ganglion_uplink_connects_total",
        "counter",
        "Connections made to the cloud broker (the first and each reconnection).",
        q.connects,
    );
    single(
        out,
        "ganglion_ingest_connected",
        "gauge",
        "1 while the session to the local broker is up.",
        u64::from(snapshot.ingest.connected),
    );
    single(
        out,
        "ganglion_ingest_connects_total",
        "counter",
        "Sessions made to the local broker (the first and each reconnection).",
        snapshot.ingest.connects,
    );
    single(
        out,
        "ganglion_ingest_active",
        "gauge",
        "1 once the leaf ingest session runs.",
        u64::from(snapshot.ingest.active),
    );
    single(
        out,
        "ganglion_ingest_pending_messages",
        "gauge",
        "Leaf messages read and not yet accepted by the router.",
        snapshot.ingest.pending,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn every_family_is_declared_once_and_labels_are_escaped() {
        let metrics = Metrics::new(["a\"b\\c\nd"], ["r1"]);
        let text = render(
            &metrics.snapshot(),
            &ScrapeFigures {
                oldest_queued_secs: Some(2.5),
                resident_bytes: Some(4096),
                written_bytes: Some(512),
            },
        );
        assert!(
            text.contains(
                "ganglion_module_messages_received_total{module=\"a\\\"b\\\\c\\nd\"} 0\n"
            )
        );
        assert!(text.contains("ganglion_route_messages_matched_total{route=\"r1\"} 0\n"));
        assert!(text.contains("process_resident_memory_bytes 4096\n"));
        assert!(text.contains("process_storage_written_bytes_total 512\n"));
        assert!(text.contains("ganglion_upstream_oldest_message_age_seconds 2.5\n"));
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(seen.insert(name.to_string()), "{name} declared twice");
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| seen.contains(*f))
                .unwrap_or(name);
            assert!(seen.contains(family), "{name} has no # TYPE line");
        }
    }

    #[test]
    fn call_durations_are_a_cumulative_histogram() {
        let metrics = Metrics::new(["m"], []);
        let m = metrics.module("m").unwrap();
        m.call_took(std::time::Duration::from_micros(30), 65536, 1 << 20);
        m.call_took(std::time::Duration::from_millis(2), 131072, 1 << 20);
        let text = render(&metrics.snapshot(), &ScrapeFigures::default());
        for (series, value) in [
            (
                "ganglion_module_call_duration_seconds_bucket{module=\"m\",le=\"0.00001\"}",
                "0",
            ),
            (
                "ganglion_module_call_duration_seconds_bucket{module=\"m\",le=\"0.00005\"}",
                "1",
            ),
            (
                "ganglion_module_call_duration_seconds_bucket{module=\"m\",le=\"0.005\"}",
                "2",
            ),
            (
                "ganglion_module_call_duration_seconds_bucket{module=\"m\",le=\"+Inf\"}",
                "2",
            ),
            (
                "ganglion_module_call_duration_seconds_count{module=\"m\"}",
                "2",
            ),
            (
                "ganglion_module_call_duration_seconds_sum{module=\"m\"}",
                "0.00203",
            ),
            (
                "ganglion_module_call_seconds_total{module=\"m\"}",
                "0.00203",
            ),
            ("ganglion_module_memory_bytes{module=\"m\"}", "131072"),
            (
                "ganglion_module_memory_limit_bytes{module=\"m\"}",
                "1048576",
            ),
        ] {
            assert!(
                text.contains(&format!("{series} {value}\n")),
                "{series} {value} in\n{text}"
            );
        }
    }

    #[test]
    fn a_module_is_in_one_status() {
        let metrics = Metrics::new(["m"], []);
        let text = render(&metrics.snapshot(), &ScrapeFigures::default());
        let ones: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ganglion_module_status{") && l.ends_with(" 1"))
            .collect();
        assert_eq!(
            ones,
            ["ganglion_module_status{module=\"m\",status=\"starting\"} 1"]
        );
    }

    #[test]
    fn this_process_has_a_resident_size() {
        if cfg!(target_os = "linux") {
            let now = ScrapeFigures::now();
            assert!(now.resident_bytes.unwrap_or(0) > 0);
            assert!(now.written_bytes.is_some());
        }
    }
}
