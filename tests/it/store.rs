//! The `$upstream` queue is durable: what the gateway accepted is still there,
//! in order, after it stops and starts again on the same data directory.

use crate::support::{collect_until, manifest};
use ganglion::Gateway;
use ganglion::message::new_message;
use ganglion::store::{Store, StoreConfig, queue::key_priority};
use ganglion_tests::artifacts::RELAY;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_survive_a_restart_in_priority_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text = format!(
        "[modules.relay]\npath = \"{}\"\n\n[routes]\n\
         normal = \"FROM /messages/* WHERE NOT is_defined(urgent) INTO $upstream\"\n\
         urgent = {{ route = \"FROM /messages/* WHERE urgent = 'yes' INTO $upstream\", priority = 0 }}\n",
        ganglion_tests::toml_path(RELAY)
    );
    let m = ganglion::Manifest::load(&ganglion_tests::write_manifest(dir.path(), &text)).unwrap();
    {
        let mut gw = Gateway::start(&m, &data).await.unwrap();
        let mut up = gw.subscribe_upstream();
        for i in 0..20 {
            let mut msg = new_message(format!("m{i}").into_bytes());
            if i % 5 == 0 {
                msg.properties.push(("urgent".into(), "yes".into()));
            }
            gw.inject("dev", msg).await.unwrap();
        }
        collect_until(&mut up, Duration::from_secs(30), |g| g.len() == 20).await;
        let snap = gw.shutdown().await;
        assert_eq!((snap.upstream, snap.queue.depth), (20, 20));
    }
    {
        let gw = Gateway::start(&m, &data).await.unwrap();
        assert_eq!(
            gw.metrics().queue.depth,
            20,
            "the queue is back after a restart"
        );
        gw.shutdown().await;
    }
    let mut store = Store::open(
        &data,
        StoreConfig {
            quota: m.store_and_forward.quota,
            default_ttl: m.store_and_forward.time_to_live,
            flush: m.store_and_forward.flush,
        },
    )
    .unwrap();
    let (queued, expired) = store.next_batch(100, |_| false).unwrap();
    assert_eq!(expired, 0);
    let order: Vec<String> = queued
        .iter()
        .map(|(_, r)| String::from_utf8_lossy(&r.message.body).into_owned())
        .collect();
    let mut want: Vec<String> = (0..20).step_by(5).map(|i| format!("m{i}")).collect();
    want.extend((0..20).filter(|i| i % 5 != 0).map(|i| format!("m{i}")));
    assert_eq!(order, want, "priority 0 first, then arrival order");
    assert!(queued.iter().take(4).all(|(k, _)| key_priority(k) == 0));
    assert_eq!(queued[0].1.route, "urgent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_that_is_not_a_store_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("photo.jpg"), b"not ours").unwrap();
    let m = manifest(dir.path(), &[("relay", RELAY, &[])], &[]);
    let err = Gateway::start(&m, &data).await.err().unwrap();
    let text = err.to_string();
    assert!(
        text.contains("not a ganglion store") && text.contains("data"),
        "{text}"
    );
    assert!(data.join("photo.jpg").is_file());
}
