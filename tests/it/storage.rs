//! Module storage: values persist across a restart, the quota holds, and one
//! module never sees another's keys.

use crate::support::{body, collect_until};
use ganglion::Gateway;
use ganglion::message::new_message;
use ganglion_tests::artifacts::COUNTER;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn to(module: &str, text: &str) -> ganglion::Message {
    let mut m = new_message(text.as_bytes().to_vec());
    m.properties.push(("to".into(), module.into()));
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_persists_is_private_and_has_a_quota() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = ganglion_tests::toml_path(COUNTER);
    let text = format!(
        "[modules.a]\npath = \"{path}\"\nstorage-quota-bytes = 5000\nconfig = {{ big-bytes = 6000 }}\n\n\
         [modules.b]\npath = \"{path}\"\nconfig = {{ big-bytes = 1000 }}\n\n[routes]\n\
         to-a = 'FROM /messages/* WHERE is_defined($connectionDeviceId) AND to = \"a\" INTO BrokeredEndpoint(\"/modules/a/inputs/in\")'\n\
         to-b = 'FROM /messages/* WHERE is_defined($connectionDeviceId) AND to = \"b\" INTO BrokeredEndpoint(\"/modules/b/inputs/in\")'\n\
         up = \"FROM /messages/modules/* INTO $upstream\"\n"
    );
    let m = ganglion::Manifest::load(&ganglion_tests::write_manifest(dir.path(), &text)).unwrap();
    let replies = |got: &[ganglion::envelope::UpstreamMessage], module: &str| -> Vec<String> {
        got.iter()
            .filter(|m| m.message.system.connection_module_id.as_deref() == Some(module))
            .map(body)
            .collect()
    };
    {
        let mut gw = Gateway::start(&m, &data).await.unwrap();
        let mut up = gw.subscribe_upstream();
        for text in ["x", "y", "z"] {
            gw.inject("dev", to("a", text)).await.unwrap();
        }
        gw.inject("dev", to("b", "w")).await.unwrap();
        let got = collect_until(&mut up, WAIT, |g| g.len() == 4).await;
        assert_eq!(replies(&got, "a"), ["1", "2", "3"]);
        assert_eq!(replies(&got, "b"), ["1"], "b has its own `count`");
        gw.shutdown().await;
    }
    let mut gw = Gateway::start(&m, &data).await.unwrap();
    let mut up = gw.subscribe_upstream();
    gw.inject("dev", to("a", "again")).await.unwrap();
    gw.inject("dev", to("a", "list")).await.unwrap();
    gw.inject("dev", to("b", "list")).await.unwrap();
    gw.inject("dev", to("a", "big")).await.unwrap();
    gw.inject("dev", to("b", "big")).await.unwrap();
    let got = collect_until(&mut up, WAIT, |g| g.len() == 5).await;
    let a = replies(&got, "a");
    assert_eq!(a[0], "4", "the count survived the restart");
    assert_eq!(a[1], "seen/again,seen/x,seen/y,seen/z");
    assert_eq!(a[2], "storage quota of 5000 bytes exceeded");
    let b = replies(&got, "b");
    assert_eq!(b, ["seen/w", "stored"], "b sees only its own keys");
    gw.shutdown().await;
}
