//! Faults the lifecycle issue names that `limits` and `lifecycle` do not
//! already cover, each in a real component beside a healthy one: a panic in
//! `init`, and a recursion that exhausts the stack. Each is isolated (the
//! gateway and the module beside it carry on), reported (status and exit
//! reason) and supervised (restarted by its policy, with backoff); the
//! healthy module relays every message it is sent, in order, with none
//! dropped, while its neighbours fail.

use crate::lifecycle::{deploy, module, to};
use crate::support::{body, collect_until, start_all};
use ganglion::Gateway;
use ganglion::metrics::{ExitReason, ModuleStatus};
use ganglion_tests::artifacts::{RELAY, TRAPPER};
use ganglion_tests::eventually::eventually;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn a_panic_in_init_is_reported_and_backed_off_while_the_module_beside_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(
        dir.path(),
        &[
            (
                "broken",
                TRAPPER,
                "config = { panic-in-init = \"true\" }\nrestart-backoff-base-ms = 1000",
            ),
            ("relay", RELAY, ""),
        ],
    );
    let mut gw = Gateway::start(&m, &dir.path().join("data")).await.unwrap();
    let t0 = Instant::now();
    let failed = gw.failed_to_start().to_vec();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "broken");
    let s = module(&gw, "broken");
    assert_eq!((s.status, s.restarts), (ModuleStatus::Backoff, 0));
    match &s.exit_reason {
        Some(ExitReason::InitFailed(d)) => assert!(d.contains("unreachable"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert!(s.last_start.is_none(), "it never started");

    let mut up = gw.subscribe_upstream();
    for n in 0..100 {
        gw.inject("dev", to("relay", &format!("r{n}")))
            .await
            .unwrap();
    }
    let got = collect_until(&mut up, WAIT, |g| g.len() >= 100).await;
    let bodies: Vec<String> = got.iter().map(body).collect();
    let expected: Vec<String> = (0..100).map(|n| format!("r{n}")).collect();
    assert_eq!(bodies, expected, "every message, in order");

    // Tried again after the backoff (1 s), then after 2 s more.
    sleep_until(t0 + Duration::from_millis(3010)).await;
    let s = module(&gw, "broken");
    assert_eq!((s.status, s.restarts), (ModuleStatus::Backoff, 2));
    assert_eq!(module(&gw, "relay").dropped_queue_full, 0);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_and_traps_on_every_message_leave_the_module_beside_them_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let m = deploy(
        dir.path(),
        &[
            ("deep", TRAPPER, "restart-backoff-base-ms = 20"),
            (
                "trapping",
                TRAPPER,
                "restart-backoff-base-ms = 20\nrestart-backoff-cap-ms = 40",
            ),
            ("relay", RELAY, "queue-length = 1024"),
        ],
    );
    let mut gw = start_all(&m, dir.path()).await;
    let mut up = gw.subscribe_upstream();
    gw.inject("dev", to("deep", "recurse")).await.unwrap();
    const N: usize = 500;
    for n in 0..N {
        gw.inject("dev", to("relay", &format!("r{n}")))
            .await
            .unwrap();
        if n % 50 == 0 {
            gw.inject("dev", to("trapping", "trap")).await.unwrap();
        }
    }
    let got = collect_until(&mut up, WAIT, |g| {
        g.iter().filter(|m| body(m).starts_with('r')).count() >= N
    })
    .await;
    let relayed: Vec<String> = got
        .iter()
        .map(body)
        .filter(|b| b.starts_with('r'))
        .collect();
    let expected: Vec<String> = (0..N).map(|n| format!("r{n}")).collect();
    assert_eq!(relayed, expected, "every message, in order");
    let relay = module(&gw, "relay");
    assert_eq!((relay.dropped_queue_full, relay.traps), (0, 0));

    let deep = eventually(WAIT, "deep restarted", || {
        let deep = module(&gw, "deep");
        if deep.exit_reason.is_some() && deep.status == ModuleStatus::Running {
            Ok(deep)
        } else {
            Err(Box::new(deep))
        }
    })
    .await;
    match &deep.exit_reason {
        Some(ExitReason::Trap(d)) => assert!(
            d.contains("out of bounds") || d.contains("stack"),
            "the stack ran out: {d}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(deep.restarts, 1);
    let trapping = module(&gw, "trapping");
    assert!(trapping.traps >= 1, "{trapping:?}");
    assert!(matches!(trapping.exit_reason, Some(ExitReason::Trap(_))));

    // The restarted instance works.
    gw.inject("dev", to("deep", "after")).await.unwrap();
    collect_until(&mut up, WAIT, |g| g.iter().any(|m| body(m) == "after")).await;
    gw.shutdown().await;
}
