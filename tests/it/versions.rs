//! Both versions of the module world side by side (issue 18): a component
//! built against `ganglion:module@0.1.0` (one `on-message` call per message)
//! and one built with the SDK against `@0.2.0` (`on-messages`, a batch per
//! call) in one gateway; and what a batch does with a trap in its middle.

use crate::support::{body, collect_until, drain_for, manifest, start_all};
use ganglion::harness::ModuleHarness;
use ganglion::message::{new_message, property};
use ganglion::metrics::ModuleStatus;
use ganglion::runtime::Fault;
use ganglion_tests::artifacts::{RELAY, RELAY_V0_1, SPINNER, TRAPPER};
use ganglion_tests::eventually::eventually;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_1_0_and_a_0_2_0_module_run_in_one_gateway() {
    const N: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[
            ("old", RELAY_V0_1, &[("tag", "old")]),
            ("new", RELAY, &[("tag", "new")]),
        ],
        &[
            (
                "in",
                r#"FROM /messages/* WHERE is_defined($connectionDeviceId) INTO BrokeredEndpoint("/modules/old/inputs/in")"#,
            ),
            (
                "old-to-new",
                r#"FROM /messages/modules/old/outputs/output1 INTO BrokeredEndpoint("/modules/new/inputs/in")"#,
            ),
            ("up", "FROM /messages/modules/new/* INTO $upstream"),
        ],
    );
    let mut gw = start_all(&m, dir.path()).await;
    let mut up = gw.subscribe_upstream();
    // Injected as fast as the gateway takes them, so that messages wait in
    // the queues and the 0.2.0 module gets them in batches.
    for i in 0..N {
        gw.inject("dev", new_message(i.to_string().into_bytes()))
            .await
            .unwrap();
    }
    let got = collect_until(&mut up, WAIT, |g| g.len() >= N).await;
    assert!(drain_for(&mut up, GRACE).await.is_empty());
    let bodies: Vec<String> = got.iter().map(body).collect();
    let expected: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(bodies, expected, "every message once, in order");
    for msg in &got {
        assert_eq!(property(&msg.message, "relayed-by"), Some("old,new"));
        assert_eq!(
            msg.message.system.connection_module_id.as_deref(),
            Some("new")
        );
    }
    let snap = gw.shutdown().await;
    for name in ["old", "new"] {
        let s = snap.module(name).unwrap();
        assert_eq!(
            (s.received, s.sent, s.failed, s.traps),
            (N as u64, N as u64, 0, 0),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_harness_names_each_version_and_a_batch_sends_for_each_message() {
    let mut old = ModuleHarness::load("old", Path::new(RELAY_V0_1), &[])
        .await
        .unwrap();
    let mut new = ModuleHarness::load("new", Path::new(RELAY), &[])
        .await
        .unwrap();
    assert_eq!(old.world_version(), "0.1.0");
    assert_eq!(new.world_version(), "0.2.0");
    let msgs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|b| new_message(b.as_bytes().to_vec()))
        .collect();
    for h in [&mut old, &mut new] {
        let batch = h.send_batch("in", &msgs).await;
        assert!(
            batch.fault.is_none() && batch.failed.is_empty(),
            "{batch:?}"
        );
        assert_eq!(batch.done, 3);
        let sent: Vec<(u32, String, Vec<u8>)> = batch
            .sent
            .into_iter()
            .map(|(i, o, m)| (i, o, m.body))
            .collect();
        assert_eq!(
            sent,
            [
                (0, "output1".to_string(), b"a".to_vec()),
                (1, "output1".to_string(), b"b".to_vec()),
                (2, "output1".to_string(), b"c".to_vec()),
            ],
            "{}",
            h.world_version()
        );
    }
}

#[tokio::test]
async fn a_trap_in_a_batch_discards_only_the_sends_of_the_message_at_fault() {
    let mut h = ModuleHarness::load("trapper", Path::new(TRAPPER), &[])
        .await
        .unwrap();
    let msgs: Vec<_> = ["one", "fail", "trap", "two"]
        .iter()
        .map(|b| new_message(b.as_bytes().to_vec()))
        .collect();
    let batch = h.send_batch("in", &msgs).await;
    let sent: Vec<(u32, Vec<u8>)> = batch
        .sent
        .into_iter()
        .map(|(i, _, m)| (i, m.body))
        .collect();
    assert_eq!(
        sent,
        [(0, b"one".to_vec()), (1, b"fail".to_vec())],
        "what was sent before the trap stands; the trapping message's send goes"
    );
    assert_eq!(batch.failed.len(), 1);
    assert_eq!(batch.failed[0].0, 1);
    assert!(
        batch.failed[0].1.contains("asked to fail"),
        "{:?}",
        batch.failed
    );
    assert_eq!(batch.done, 2, "the message at fault is the third");
    assert!(batch.fault.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_trap_mid_batch_the_rest_of_the_batch_goes_to_the_next_instance() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[("trapper", TRAPPER, &[])],
        &[
            (
                "in",
                r#"FROM /messages/* WHERE is_defined($connectionDeviceId) INTO BrokeredEndpoint("/modules/trapper/inputs/in")"#,
            ),
            ("up", "FROM /messages/modules/* INTO $upstream"),
        ],
    );
    let mut gw = start_all(&m, dir.path()).await;
    let mut up = gw.subscribe_upstream();
    // A first trap puts the module in backoff; what arrives meanwhile waits
    // in its queue and reaches the next instance as one batch.
    gw.inject("dev", new_message(b"trap".to_vec()))
        .await
        .unwrap();
    eventually(WAIT, "the trapper in backoff", || {
        let status = gw.metrics().module("trapper").map(|m| m.status);
        if status == Some(ModuleStatus::Backoff) {
            Ok(())
        } else {
            Err(status)
        }
    })
    .await;
    for text in ["a", "trap", "b", "c"] {
        gw.inject("dev", new_message(text.as_bytes().to_vec()))
            .await
            .unwrap();
    }
    let got = collect_until(&mut up, WAIT, |g| g.len() >= 3).await;
    assert!(drain_for(&mut up, GRACE).await.is_empty());
    let bodies: Vec<String> = got.iter().map(body).collect();
    assert_eq!(bodies, ["a", "b", "c"], "only the message at fault is lost");
    let snap = gw.shutdown().await;
    let t = snap.module("trapper").unwrap();
    assert_eq!(
        (t.received, t.sent, t.traps, t.failed, t.restarts),
        (5, 3, 2, 2, 2),
        "each message reached the module once; each trap fails its message"
    );
}

#[tokio::test]
async fn a_message_that_runs_past_its_deadline_in_a_batch_ends_the_call_there() {
    let mut h = ModuleHarness::load("spinner", Path::new(SPINNER), &[])
        .await
        .unwrap();
    let msgs: Vec<_> = ["a", "b", "spin", "c"]
        .iter()
        .map(|b| new_message(b.as_bytes().to_vec()))
        .collect();
    let batch = h.send_batch("in", &msgs).await;
    assert!(
        matches!(batch.fault, Some(Fault::Deadline { .. })),
        "{batch:?}"
    );
    assert_eq!(batch.done, 2, "the third message ran past its deadline");
    let sent: Vec<Vec<u8>> = batch.sent.into_iter().map(|(_, _, m)| m.body).collect();
    assert_eq!(sent, [b"a".to_vec(), b"b".to_vec()]);
}
