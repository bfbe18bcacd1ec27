//! Supervision: a module that fails is restarted as its restart policy says,
//! after a backoff of min(base · 2^n, cap), never in a hot loop. The timing is
//! checked with paused tokio time, on the `trapper` module (which traps at once,
//! so no CPU deadline is involved).

use crate::support::collect_until;
use ganglion::message::new_message;
use ganglion::metrics::{ExitReason, ModuleSnapshot, ModuleStatus};
use ganglion::{Gateway, Manifest, Message};
use ganglion_tests::artifacts::{RELAY, TRAPPER};
use ganglion_tests::toml_path;
use std::path::Path;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

/// A module for [`deploy`]: name, component path, extra TOML keys.
pub type Deployed<'a> = (&'a str, &'a str, &'a str);

/// Writes and loads a manifest with these modules. Route `to-<name>` takes a
/// device's message whose property `to` names the module to its input `in`, and
/// route `up` takes every module's output to `$upstream`.
pub fn deploy(dir: &Path, modules: &[Deployed<'_>]) -> Manifest {
    let mut text = String::new();
    for (name, path, keys) in modules {
        text.push_str(&format!(
            "[modules.{name}]\npath = \"{}\"\n{keys}\n",
            toml_path(path)
        ));
    }
    text.push_str("[routes]\nup = \"FROM /messages/modules/* INTO $upstream\"\n");
    for (name, _, _) in modules {
        text.push_str(&format!(
            "to-{name} = 'FROM /messages/* WHERE is_defined($connectionDeviceId) AND to = \"{name}\" INTO BrokeredEndpoint(\"/modules/{name}/inputs/in\")'\n"
        ));
    }
    let path = ganglion_tests::write_manifest(dir, &text);
    Manifest::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A device message for module `module`.
pub fn to(module: &str, body: &str) -> Message {
    let mut msg = new_message(body.as_bytes().to_vec());
    msg.properties.push(("to".into(), module.into()));
    msg
}

/// Module `name`'s counters now.
pub fn module(gw: &Gateway, name: &str) -> ModuleSnapshot {
    gw.metrics().module(name).unwrap().clone()
}

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);
/// How long an observer waits (in paused time) for a message that is due now.
const WAIT: Duration = Duration::from_millis(500);

#[tokio::test(start_paused = true)]
async fn a_module_that_traps_on_every_message_backs_off_instead_of_restarting_hot() {
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(
        dir.path(),
        &[("trapper", TRAPPER, ""), ("relay", RELAY, "")],
    );
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let t0 = Instant::now();
    for _ in 0..5 {
        gw.inject("dev", to("trapper", "trap")).await.unwrap();
    }
    // Each restart takes the next message, which traps again: with the default
    // base of 1 s the restarts come 1, 2, 4, 8 and 16 s apart.
    let mut at = Duration::ZERO;
    for (n, delay) in [1u32, 2, 4, 8, 16].into_iter().enumerate() {
        let n = n as u64;
        at += delay * S;
        sleep_until(t0 + at - 10 * MS).await;
        let t = module(&gw, "trapper");
        assert_eq!(
            (t.status, t.traps, t.restarts),
            (ModuleStatus::Backoff, n + 1, n),
            "10 ms before restart {n}, due at {at:?}"
        );
        if n == 0 {
            gw.inject("dev", to("relay", "beside")).await.unwrap();
            let got = collect_until(&mut up, WAIT, |g| !g.is_empty()).await;
            assert_eq!(
                crate::support::body(&got[0]),
                "beside",
                "the module beside it keeps working"
            );
        }
        sleep_until(t0 + at + 10 * MS).await;
        assert_eq!(module(&gw, "trapper").restarts, n + 1, "restart {n}");
    }
    let t = module(&gw, "trapper");
    assert_eq!(
        (t.status, t.received, t.traps, t.failed),
        (ModuleStatus::Running, 5, 5, 5),
        "the queue is empty and the last instance runs"
    );
    match &t.exit_reason {
        Some(ExitReason::Trap(detail)) => assert!(detail.contains("unreachable"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert!(t.last_start.unwrap() >= t.last_exit.unwrap());
    let snap = gw.shutdown().await;
    let t = snap.module("trapper").unwrap();
    assert_eq!(
        (t.status, t.exit_reason.clone()),
        (ModuleStatus::Stopped, Some(ExitReason::Shutdown))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stable_run_resets_the_backoff_and_the_cap_holds() {
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(
        dir.path(),
        &[(
            "trapper",
            TRAPPER,
            "restart-backoff-base-ms = 100\nrestart-backoff-cap-ms = 300\nrestart-stable-secs = 5",
        )],
    );
    let gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    // Four traps in a row: 100, 200, 300 (capped) and 300 ms.
    let t0 = Instant::now();
    for _ in 0..4 {
        gw.inject("dev", to("trapper", "trap")).await.unwrap();
    }
    for (restarts, at) in [(1, 100), (2, 300), (3, 600), (4, 900)] {
        sleep_until(t0 + at * MS - MS).await;
        assert_eq!(module(&gw, "trapper").restarts, restarts - 1, "at {at} ms");
        sleep_until(t0 + at * MS + MS).await;
        assert_eq!(module(&gw, "trapper").restarts, restarts, "at {at} ms");
    }
    // Not yet stable: the next delay is still the cap.
    sleep_until(t0 + 3 * S).await;
    let t1 = Instant::now();
    gw.inject("dev", to("trapper", "trap")).await.unwrap();
    sleep_until(t1 + 299 * MS).await;
    assert_eq!(module(&gw, "trapper").status, ModuleStatus::Backoff);
    sleep_until(t1 + 301 * MS).await;
    assert_eq!(module(&gw, "trapper").status, ModuleStatus::Running);
    // After 5 s of running, the delay starts again from the base.
    sleep_until(t1 + 301 * MS + 5 * S).await;
    let t2 = Instant::now();
    gw.inject("dev", to("trapper", "trap")).await.unwrap();
    sleep_until(t2 + 99 * MS).await;
    assert_eq!(module(&gw, "trapper").status, ModuleStatus::Backoff);
    sleep_until(t2 + 101 * MS).await;
    let t = module(&gw, "trapper");
    assert_eq!((t.status, t.restarts), (ModuleStatus::Running, 6));
    gw.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn never_leaves_a_failed_module_failed_and_a_clean_exit_is_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(
        dir.path(),
        &[
            ("never", TRAPPER, "restart-policy = \"never\""),
            ("on-failure", TRAPPER, ""),
            ("always", TRAPPER, "restart-policy = \"always\""),
        ],
    );
    let gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let t0 = Instant::now();
    gw.inject("dev", to("never", "trap")).await.unwrap();
    gw.inject("dev", to("on-failure", "exit")).await.unwrap();
    gw.inject("dev", to("always", "exit")).await.unwrap();
    sleep_until(t0 + 100 * MS).await;
    let never = module(&gw, "never");
    assert_eq!((never.status, never.traps), (ModuleStatus::Failed, 1));
    assert!(matches!(never.exit_reason, Some(ExitReason::Trap(_))));
    let on_failure = module(&gw, "on-failure");
    assert_eq!(
        (
            on_failure.status,
            on_failure.exit_reason.clone(),
            on_failure.failed,
            on_failure.traps
        ),
        (ModuleStatus::Stopped, Some(ExitReason::Exit(0)), 0, 0),
        "exit code 0 is not a failure, and on-failure leaves it stopped"
    );
    assert_eq!(module(&gw, "always").status, ModuleStatus::Backoff);
    sleep_until(t0 + 1100 * MS).await;
    let always = module(&gw, "always");
    assert_eq!(
        (always.status, always.restarts),
        (ModuleStatus::Running, 1),
        "always restarts after a clean exit too"
    );
    // The modules that are not coming back drop what is routed to them.
    gw.inject("dev", to("never", "lost")).await.unwrap();
    gw.inject("dev", to("on-failure", "lost")).await.unwrap();
    sleep_until(t0 + 1200 * MS).await;
    let snap = gw.shutdown().await;
    for name in ["never", "on-failure"] {
        let s = snap.module(name).unwrap();
        assert_eq!((s.dropped_not_running, s.restarts), (1, 0), "{name}");
    }
    assert_eq!(snap.module("never").unwrap().status, ModuleStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn messages_wait_in_the_queue_during_backoff_and_a_full_queue_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(dir.path(), &[("trapper", TRAPPER, "queue-length = 2")]);
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let mut up = gw.subscribe_upstream();
    let t0 = Instant::now();
    gw.inject("dev", to("trapper", "trap")).await.unwrap();
    sleep_until(t0 + 100 * MS).await;
    assert_eq!(module(&gw, "trapper").status, ModuleStatus::Backoff);
    for body in ["a", "b", "c", "d", "e"] {
        gw.inject("dev", to("trapper", body)).await.unwrap();
    }
    sleep_until(t0 + 200 * MS).await;
    let t = module(&gw, "trapper");
    assert_eq!(
        (t.received, t.dropped_queue_full),
        (1, 3),
        "two wait in the queue, the newest three are dropped"
    );
    sleep_until(t0 + 1100 * MS).await;
    let got = collect_until(&mut up, WAIT, |g| g.len() >= 2).await;
    let bodies: Vec<String> = got.iter().map(crate::support::body).collect();
    assert_eq!(
        bodies,
        ["a", "b"],
        "the waiting messages are delivered after the restart"
    );
    gw.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_module_whose_init_keeps_failing_backs_off_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(
        dir.path(),
        &[(
            "sensor",
            ganglion_tests::artifacts::TEMP_SENSOR,
            "config = { machine-temp-min = 50, machine-temp-max = 40 }",
        )],
    );
    let gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let t0 = Instant::now();
    assert_eq!(gw.failed_to_start().len(), 1);
    let s = module(&gw, "sensor");
    assert_eq!((s.status, s.restarts), (ModuleStatus::Backoff, 0));
    match &s.exit_reason {
        Some(ExitReason::InitFailed(d)) => assert!(d.contains("machine-temp-max"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert!(s.last_start.is_none(), "it never started");
    sleep_until(t0 + 3 * S + 10 * MS).await;
    let s = module(&gw, "sensor");
    assert_eq!(
        (s.status, s.restarts),
        (ModuleStatus::Backoff, 2),
        "tried again after 1 s and 2 more"
    );
    gw.shutdown().await;
}
