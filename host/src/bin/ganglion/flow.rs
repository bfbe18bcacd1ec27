//! The live flow display of `ganglion run`: one line per message that reaches
//! `$upstream` (alerts marked), and a periodic summary of routes and modules.

use ganglion::envelope::UpstreamMessage;
use ganglion::message::property;
use ganglion::metrics::MetricsSnapshot;
use std::io::Write;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// The running display.
pub struct Flow {
    printer: JoinHandle<()>,
}

/// Starts printing `$upstream` messages as they arrive.
pub fn spawn(mut upstream: broadcast::Receiver<UpstreamMessage>) -> Flow {
    let printer = tokio::spawn(async move {
        loop {
            match upstream.recv().await {
                Ok(msg) => print_upstream(&msg),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    println!("  … {n} $upstream messages not shown (display fell behind)");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    Flow { printer }
}

fn print_upstream(msg: &UpstreamMessage) {
    let m = &msg.message;
    let from = m
        .system
        .connection_module_id
        .as_deref()
        .or(m.system.connection_device_id.as_deref())
        .unwrap_or("?");
    let kind = match property(m, "MessageType") {
        Some(t) if t.eq_ignore_ascii_case("alert") => "ALERT ",
        _ => "",
    };
    let body = String::from_utf8_lossy(&m.body);
    let body: String = body.chars().take(160).collect();
    println!(
        "→ $upstream {kind}[route {}] from {from}: {body}",
        msg.route
    );
    let _ = std::io::stdout().flush();
}

impl Flow {
    /// Prints a summary of every route and module.
    pub fn summary(&mut self, snap: &MetricsSnapshot) {
        println!("── flow ──────────────────────────────────────────────");
        for r in &snap.routes {
            println!("  route  {:<28} {:>8} messages", r.name, r.matched);
        }
        for m in &snap.modules {
            println!(
                "  module {:<28} {:>8} in {:>8} out {:>5} failed {:>4} traps  {:?}",
                m.name, m.received, m.sent, m.failed, m.traps, m.status
            );
        }
        let q = &snap.queue;
        println!(
            "  $upstream {:>34} accepted, {} queued ({} KiB), {} delivered, {} expired, {} refused, {} dropped; cloud {}",
            snap.upstream,
            q.depth,
            q.bytes / 1024,
            q.delivered,
            q.expired,
            q.refused,
            q.dropped_oldest,
            if q.connected {
                "connected"
            } else {
                "not connected"
            }
        );
        if let (false, Some(why)) = (q.connected, &q.link_error) {
            println!("  cloud link down: {why}");
        }
        if snap.unrouted > 0 {
            println!("  unrouted  {:>34} (matched no route)", snap.unrouted);
        }
        let _ = std::io::stdout().flush();
    }

    /// Prints the last summary once the gateway has stopped.
    pub async fn finish(mut self, last: &MetricsSnapshot) {
        let _ = (&mut self.printer).await;
        self.summary(last);
    }
}
