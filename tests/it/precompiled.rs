//! Precompiled components (`ganglion module compile`), what a runtime-only
//! gateway loads: one compiled for this machine runs in a gateway with the
//! default pool, and one compiled for another architecture, another memory
//! geometry, or damaged, is refused with the reason. Pushed, precompiled
//! machine code is accepted only signed by a trusted key.

use crate::support::{body, collect_until, manifest, start_all};
use ganglion::message::new_message;
use ganglion::runtime::alloc::{Allocation, PoolSize};
use ganglion::runtime::{LoadError, Runtime, RuntimeOptions, is_precompiled, precompile};
use ganglion::{Gateway, GatewayError};
use ganglion_tests::artifacts::{RELAY, TEMP_FILTER};
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The architecture that is not this machine's. (An x86-64 build compiles
/// for aarch64 as well; an aarch64 one only for itself, so these tests
/// expect the x86-64 host CI runs on.)
fn other_arch() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "x86_64"
    } else {
        "aarch64"
    }
}

/// Precompiles `component` for `target` into `dir`.
fn compiled(dir: &Path, component: &str, target: &str) -> PathBuf {
    let bytes = std::fs::read(component).unwrap();
    let out = precompile(component, &bytes, target).unwrap();
    assert!(is_precompiled(&out), "a precompiled component");
    let name = Path::new(component).file_stem().unwrap().to_string_lossy();
    let path = dir.join(format!("{name}.{target}.cwasm"));
    std::fs::write(&path, out).unwrap();
    path
}

/// A runtime with the pool `ganglion run` sets up by default.
fn default_pool() -> Runtime {
    Runtime::with_options(RuntimeOptions {
        allocation: Allocation::Pooling(PoolSize::for_limits(2, 0)),
        ..RuntimeOptions::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_precompiled_for_this_machine_runs_and_filters_as_the_wasm_does() {
    let dir = tempfile::tempdir().unwrap();
    let filter = compiled(dir.path(), TEMP_FILTER, std::env::consts::ARCH);
    let m = manifest(
        dir.path(),
        &[("filter", filter.to_str().unwrap(), &[("threshold", "25")])],
        &[
            (
                "in",
                r#"FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint("/modules/filter/inputs/input1")"#,
            ),
            (
                "up",
                "FROM /messages/modules/filter/outputs/output1 INTO $upstream",
            ),
        ],
    );
    let mut gw = start_all(&m, dir.path()).await;
    let mut up = gw.subscribe_upstream();
    for t in [20.0, 31.5, 24.0, 26.25] {
        let reading = format!(r#"{{"machine": {{"temperature": {t}}}}}"#);
        gw.inject("machine-1", new_message(reading.into_bytes()))
            .await
            .unwrap();
    }
    let got = collect_until(&mut up, WAIT, |g| g.len() >= 2).await;
    let temps: Vec<f64> = got
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_str(&body(m)).unwrap();
            v["machine"]["temperature"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(temps, [31.5, 26.25], "only the readings above 25 pass");
    gw.shutdown().await;
}

#[test]
fn a_component_precompiled_for_another_architecture_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let other = compiled(dir.path(), RELAY, other_arch());
    let err = default_pool().load_file("relay", &other).err().unwrap();
    assert!(matches!(err, LoadError::WrongEngine { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("module `relay`"), "{text}");
    assert!(
        text.contains(&format!("compiled for architecture '{}'", other_arch())),
        "wasmtime's reason: {text}"
    );
    assert!(
        text.contains(&format!(
            "ganglion module compile --target {}",
            std::env::consts::ARCH
        )),
        "what to do: {text}"
    );
}

#[test]
fn a_precompiled_component_loads_only_into_the_memory_geometry_it_was_built_for() {
    let dir = tempfile::tempdir().unwrap();
    let here = compiled(dir.path(), RELAY, std::env::consts::ARCH);
    let loaded = default_pool().load_file("relay", &here).unwrap();
    assert!(loaded.from_cache(), "nothing was compiled");
    assert_eq!(
        loaded.digest(),
        ganglion::artifact::digest(&std::fs::read(&here).unwrap())
    );
    // wasmtime's own default on-demand engine reserves 4 GiB per memory.
    let err = Runtime::new()
        .unwrap()
        .load_file("relay", &here)
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::WrongEngine { .. }), "{err}");
    assert!(err.to_string().contains("memory reservation"), "{err}");
}

#[test]
fn a_damaged_precompiled_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(compiled(dir.path(), RELAY, std::env::consts::ARCH)).unwrap();
    let rt = default_pool();
    for cut in [bytes.len() / 2, 64, 20] {
        let err = rt.load_bytes("cut", &bytes[..cut]).err().unwrap();
        assert!(
            matches!(
                err,
                LoadError::WrongEngine { .. } | LoadError::NotAComponent { .. }
            ),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().contains("module `cut`"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_machine_code_is_accepted_only_signed_by_a_trusted_key() {
    let dir = tempfile::tempdir().unwrap();
    let here = compiled(dir.path(), RELAY, std::env::consts::ARCH);
    let bytes = std::fs::read(&here).unwrap();
    let name = ganglion::artifact::digest(&bytes);
    let rt = default_pool();
    // The operator's own file loads; the same bytes pushed unsigned do not,
    // even while a module holds that file's machine code.
    let held = rt.load_file("relay", &here).unwrap();
    let err = rt
        .load_artifact("relay", &name, &bytes, None)
        .err()
        .unwrap();
    drop(held);
    assert!(matches!(err, LoadError::Untrusted { .. }), "{err}");
    assert!(
        err.to_string().contains("machine code") && err.to_string().contains("--trusted-keys"),
        "{err}"
    );

    let (secret, public) = ganglion::artifact::generate_key(dir.path(), "ops").unwrap();
    ganglion::artifact::sign(&here, &secret).unwrap();
    let signature = std::fs::read_to_string(ganglion::artifact::signature_path(&here)).unwrap();
    let mut trusting = default_pool();
    trusting.trust_only(vec![ganglion::artifact::read_public_key(&public).unwrap()]);
    let loaded = trusting
        .load_artifact("relay", &name, &bytes, Some(&signature))
        .unwrap();
    assert_eq!(loaded.digest(), name);
    let unsigned = trusting
        .load_artifact("relay", &name, &bytes, None)
        .err()
        .unwrap();
    assert!(
        matches!(unsigned, LoadError::Untrusted { .. }),
        "{unsigned}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_refuses_a_deployment_precompiled_for_another_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let other = compiled(dir.path(), RELAY, other_arch());
    let m = manifest(dir.path(), &[("relay", other.to_str().unwrap(), &[])], &[]);
    let err = Gateway::start(&m, &dir.path().join("data"))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, GatewayError::Load(LoadError::WrongEngine { .. })),
        "{err}"
    );
}
