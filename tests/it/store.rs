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

/// A tmpfs of a few megabytes mounted on a temporary directory: a disk that
/// really fills up. Unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a small tmpfs failed: this test fills a real disk, and needs root \
             (or CAP_SYS_ADMIN) to make one"
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_refuses_new_messages_and_keeps_what_was_accepted() {
    use ganglion::envelope::UpstreamMessage;
    use ganglion::store::log::Log;
    use ganglion::store::queue::{QueuedMessage, Quota, WhenFull};
    use std::sync::Arc;

    let disk = SmallDisk::mount("3m");
    let data = disk.dir.path().join("data");
    let config = StoreConfig {
        // A quota far above what the disk holds, under each policy.
        quota: Quota {
            max_bytes: 1 << 30,
            when_full: WhenFull::DropOldest,
        },
        default_ttl: Duration::from_secs(7200),
        flush: Default::default(),
    };
    let body = "x".repeat(32 * 1024);
    let up = |i: usize| UpstreamMessage {
        route: Arc::from("r"),
        priority: None,
        time_to_live: None,
        message: new_message(format!("{i:04}{body}").into_bytes()),
        receipt: None,
    };
    let mut store = Store::open(&data, config).unwrap();
    let mut accepted = 0;
    let err = loop {
        match store.accept(&[up(accepted)]) {
            Ok(report) => {
                assert_eq!(report.dropped_oldest, 0, "nothing dropped below the quota");
                accepted += 1;
            }
            Err(e) => break e,
        }
        assert!(accepted < 200, "a 3 MB disk took 6 MB of messages");
    };
    assert!(accepted > 10, "the disk held only {accepted} messages");
    let text = err.to_string();
    assert!(
        text.contains("$upstream queue") && text.contains("space"),
        "{text}"
    );
    assert_eq!(
        store.depth(),
        accepted as u64,
        "the refused one is not queued"
    );

    // What was accepted reads back, now and from the log read again from
    // its files (sled itself needs free space to open: see docs/protocol.md),
    // in order and with nothing torn at the end.
    let (queued, _) = store.next_batch(usize::MAX, |_| false).unwrap();
    assert_eq!(queued.len(), accepted);
    drop(store);
    let (mut log, recovery) = Log::open(&data.join("queue")).unwrap();
    assert_eq!(recovery.truncated, 0);
    let firsts: Vec<String> = log
        .range(std::ops::Bound::Unbounded)
        .map(|(_, loc)| {
            let record: QueuedMessage = postcard::from_bytes(&log.read(loc).unwrap()).unwrap();
            String::from_utf8_lossy(&record.message.body[..4]).into_owned()
        })
        .collect();
    let want: Vec<String> = (0..accepted).map(|i| format!("{i:04}")).collect();
    assert_eq!(firsts, want);

    // Delivered, they give the disk back: the store opens and takes new
    // messages again.
    let keys: Vec<_> = log
        .range(std::ops::Bound::Unbounded)
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(log.remove(&keys).unwrap(), accepted as u64);
    drop(log);
    let mut store = Store::open(&data, config).unwrap();
    assert_eq!(store.depth(), 0);
    let report = store.accept(&[up(9999)]).unwrap();
    assert_eq!(store.depth(), 1, "{report:?}");
}
