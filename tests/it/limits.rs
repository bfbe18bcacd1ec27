//! Per-module limits from the manifest: a call that spins is ended at its CPU
//! deadline, a module that grows its memory past its limit is refused, and each
//! is reported and restarted with backoff while a healthy module beside it keeps
//! working. These run in real time: the epoch ticker is a real clock.

use crate::lifecycle::{deploy, module, to};
use crate::support::{body, collect_until, start_all};
use ganglion::Gateway;
use ganglion::metrics::{ExitReason, ModuleStatus};
use ganglion::runtime::EPOCH_TICK;
use ganglion_tests::artifacts::{HOG, RELAY, SPINNER};
use ganglion_tests::eventually::eventually_every;
use std::time::Duration;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);
/// Scheduling noise allowed on a loaded two-core machine, on top of the
/// promised bound.
const SLACK: Duration = Duration::from_millis(250);

/// Polls module `name` every millisecond until `done` says so, or fails.
async fn wait_for(gw: &Gateway, name: &str, what: &str, done: impl Fn(&ModuleView) -> bool) {
    eventually_every(
        Duration::from_millis(1),
        WAIT,
        &format!("{name}: {what}"),
        || {
            let m = module(gw, name);
            if done(&m) { Ok(()) } else { Err(Box::new(m)) }
        },
    )
    .await;
}

type ModuleView = ganglion::metrics::ModuleSnapshot;

// One thread on purpose: the spinning call yields at every epoch tick, so the
// module beside it keeps working even without a second worker.
// The scheduler also looks at wake-ups from other threads (the store's flush
// runs on the blocking pool) after every task it polls, not after 61 of them
// (tokio's default, here 61 slices of 10 ms of the spinner): what the test
// observes is then the modules, not tokio's batching.
#[test]
fn an_infinite_loop_is_ended_within_its_deadline_plus_a_tick_and_restarted() {
    tokio::runtime::Builder::new_current_thread()
        .event_interval(1)
        .enable_all()
        .build()
        .unwrap()
        .block_on(an_infinite_loop());
}

async fn an_infinite_loop() {
    let deadline = Duration::from_millis(300);
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(
        dir.path(),
        &[
            (
                "spinner",
                SPINNER,
                "cpu-deadline-ms = 300\nrestart-backoff-base-ms = 50",
            ),
            ("relay", RELAY, ""),
            (
                "stuck",
                SPINNER,
                "config = { spin-in-init = \"true\" }\ncpu-deadline-ms = 50\nrestart-policy = \"never\"",
            ),
        ],
    );
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let failed = gw.failed_to_start().to_vec();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "stuck");
    assert!(
        failed[0].1.contains("CPU deadline of 50 ms"),
        "{}",
        failed[0].1
    );
    assert_eq!(module(&gw, "stuck").status, ModuleStatus::Failed);

    let mut up = gw.subscribe_upstream();
    let start = Instant::now();
    gw.inject("dev", to("spinner", "spin")).await.unwrap();
    gw.inject("dev", to("relay", "beside")).await.unwrap();
    // The relay's own counter, not the durable queue after it: how long a
    // flush takes while one core spins is the disk's business.
    wait_for(&gw, "relay", "its answer", |m| m.sent >= 1).await;
    let when = start.elapsed();
    assert!(
        when < deadline,
        "the module beside it answered while the spinner spun, after {when:?}"
    );
    assert_eq!(module(&gw, "spinner").exit_reason, None, "still spinning");
    let got = collect_until(&mut up, WAIT, |g| !g.is_empty()).await;
    assert_eq!(body(&got[0]), "beside");
    wait_for(&gw, "spinner", "the deadline", |m| m.exit_reason.is_some()).await;
    let took = start.elapsed();
    assert!(
        took >= deadline && took <= deadline + EPOCH_TICK + SLACK,
        "ended after {took:?}, for a deadline of {deadline:?}"
    );
    let s = module(&gw, "spinner");
    match &s.exit_reason {
        Some(ExitReason::Deadline(d)) => assert!(d.contains("300 ms"), "{d}"),
        other => panic!("{other:?}"),
    }
    wait_for(&gw, "spinner", "the restart", |m| {
        m.status == ModuleStatus::Running && m.restarts == 1
    })
    .await;
    gw.inject("dev", to("spinner", "after")).await.unwrap();
    let got = collect_until(&mut up, WAIT, |g| !g.is_empty()).await;
    assert_eq!(body(&got[0]), "after", "the new instance works");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_growth_past_the_limit_is_refused_reported_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(
        dir.path(),
        &[
            ("hog", HOG, "memory-mib = 8\nrestart-backoff-base-ms = 50"),
            ("relay", RELAY, ""),
        ],
    );
    let mut gw = start_all(&m, dir.path()).await;
    let mut up = gw.subscribe_upstream();
    // A growth that fits is granted; one past the limit is refused, and a module
    // that checks its allocation carries on.
    for ask in ["try:4", "try:16"] {
        gw.inject("dev", to("hog", ask)).await.unwrap();
    }
    let got = collect_until(&mut up, WAIT, |g| g.len() >= 2).await;
    let answers: Vec<String> = got.iter().map(body).collect();
    assert_eq!(answers, ["granted", "refused"]);
    assert_eq!(module(&gw, "hog").traps, 0);

    // One that does not check aborts, which is reported as memory exhaustion.
    gw.inject("dev", to("hog", "bomb")).await.unwrap();
    gw.inject("dev", to("relay", "beside")).await.unwrap();
    wait_for(&gw, "hog", "the bomb", |m| m.exit_reason.is_some()).await;
    let s = module(&gw, "hog");
    match &s.exit_reason {
        Some(ExitReason::OutOfMemory(d)) => assert!(d.contains("8 MiB"), "{d}"),
        other => panic!("{other:?}"),
    }
    wait_for(&gw, "hog", "the restart", |m| {
        m.status == ModuleStatus::Running && m.restarts == 1
    })
    .await;
    gw.inject("dev", to("hog", "try:4")).await.unwrap();
    let got = collect_until(&mut up, WAIT, |g| g.iter().any(|m| body(m) == "granted")).await;
    assert!(
        got.iter().any(|m| body(m) == "beside"),
        "the module beside it kept working"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_over_the_pools_memory_slots_is_refused_and_the_running_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let fits = deploy(dir.path(), &[("relay", RELAY, "memory-mib = 16")]);
    let mut options = ganglion::GatewayOptions::new(dir.path().join("data"));
    options.allocation = ganglion::runtime::alloc::AllocationChoice::Pool {
        instances: Some(4),
        memory_bytes: Some(16 * 1024 * 1024),
    };
    let mut gw = Gateway::start_with(&fits, &options).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let too_big = deploy(dir.path(), &[("relay", RELAY, "memory-mib = 17")]);
    let outcome = gw.apply(&too_big).await.unwrap();
    assert_eq!(outcome.code, 400);
    assert!(
        outcome
            .description
            .contains("memory-mib = 17 is over this gateway's instance pool (pooling (4 instances of up to 16 MiB))"),
        "{}",
        outcome.description
    );
    gw.inject("dev", to("relay", "still")).await.unwrap();
    let got = collect_until(&mut up, WAIT, |g| !g.is_empty()).await;
    assert_eq!(body(&got[0]), "still");
    assert_eq!(module(&gw, "relay").restarts, 0, "untouched");
    gw.shutdown().await;
}
