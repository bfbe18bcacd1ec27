//! Files that are not components, or components of the wrong world, are refused
//! with an error that names the module and what does not fit.

use crate::support::manifest;
use ganglion::runtime::{LoadError, Runtime};
use ganglion::{Gateway, GatewayError};
use ganglion_tests::artifacts::{RELAY, WRONG_WORLD};

#[test]
fn a_file_that_is_not_webassembly_is_refused() {
    let rt = Runtime::new().unwrap();
    let err = rt
        .load_bytes("junk", b"this is not wasm at all")
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("module `junk`") && text.contains("magic"),
        "{text}"
    );
}

#[test]
fn a_core_module_is_refused_with_the_build_hint() {
    let rt = Runtime::new().unwrap();
    let core = b"\0asm\x01\0\0\0";
    let err = rt.load_bytes("core", core).err().unwrap();
    let text = err.to_string();
    assert!(
        text.contains("module `core`") && text.contains("wasm32-wasip2"),
        "{text}"
    );
}

#[test]
fn a_truncated_component_is_refused() {
    let rt = Runtime::new().unwrap();
    let bytes = std::fs::read(RELAY).unwrap();
    let err = rt
        .load_bytes("cut", &bytes[..bytes.len() / 2])
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");
    assert!(err.to_string().contains("module `cut`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_of_the_wrong_world_is_refused_naming_the_missing_export() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[("relay", RELAY, &[]), ("impostor", WRONG_WORLD, &[])],
        &[],
    );
    let err = Gateway::start(&m, &dir.path().join("data"))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, GatewayError::Load(LoadError::WrongWorld { .. })),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("module `impostor`"), "{text}");
    assert!(
        text.contains("ganglion:module/guest"),
        "names the missing export: {text}"
    );
}

#[test]
fn modules_running_the_same_component_share_its_machine_code_while_one_holds_it() {
    let rt = Runtime::new().unwrap();
    let first = rt.load_file("a", std::path::Path::new(RELAY)).unwrap();
    assert!(!first.from_cache(), "no cache: the first load compiles");
    let second = rt.load_file("b", std::path::Path::new(RELAY)).unwrap();
    assert!(
        second.from_cache(),
        "the second module shares the first's code"
    );
    assert_eq!(first.digest(), second.digest());
    // Once no module holds it, a load compiles it again (there is no cache).
    drop((first, second));
    let third = rt.load_file("c", std::path::Path::new(RELAY)).unwrap();
    assert!(!third.from_cache(), "nothing held it: compiled again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_are_cached_by_digest_and_a_damaged_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("compiled");
    let first = Runtime::with_cache(&cache).unwrap();
    let loaded = first
        .load_file("relay", std::path::Path::new(RELAY))
        .unwrap();
    assert!(!loaded.from_cache(), "compiled the first time");
    let bytes = std::fs::read(RELAY).unwrap();
    assert_eq!(loaded.digest(), ganglion::artifact::digest(&bytes));
    assert!(loaded.digest().starts_with("sha256:") && loaded.digest().len() == 7 + 64);
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&loaded.digest()[7..]) && name.ends_with(".cwasm"),
        "{name}"
    );

    // A new runtime (a restart) loads it from the cache.
    let again = Runtime::with_cache(&cache).unwrap();
    let cached = again
        .load_file("relay", std::path::Path::new(RELAY))
        .unwrap();
    assert!(cached.from_cache(), "loaded from the cache");

    // A damaged entry is dropped and the component compiled again.
    drop((first, again, loaded, cached));
    std::fs::write(&entries[0], b"damaged").unwrap();
    let third = Runtime::with_cache(&cache).unwrap();
    let recompiled = third
        .load_file("relay", std::path::Path::new(RELAY))
        .unwrap();
    assert!(!recompiled.from_cache());
    assert!(
        std::fs::read(&entries[0]).unwrap().len() > 1000,
        "rewritten"
    );

    // And a gateway restarted on a data directory with its cache runs.
    let m = manifest(
        dir.path(),
        &[("relay", RELAY, &[])],
        &[("r", "FROM /messages/* INTO $upstream")],
    );
    let data = dir.path().join("data");
    Gateway::start(&m, &data).await.unwrap().shutdown().await;
    let gw = Gateway::start(&m, &data).await.unwrap();
    assert!(data.join("compiled").is_dir());
    gw.shutdown().await;
}
