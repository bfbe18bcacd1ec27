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
