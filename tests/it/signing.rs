//! Signed artifacts with real components: a gateway given trusted keys runs a
//! module signed by one of them, and refuses, naming the reason, one that is
//! unsigned, signed by an unknown key, tampered with, or carries a forged
//! signature; a refused deployment leaves the running version serving.

use crate::support::{body, collect_until, manifest};
use ganglion::artifact::{self, ArtifactError, signature_path};
use ganglion::message::{new_message, property};
use ganglion::{Gateway, GatewayError, GatewayOptions, Manifest};
use ganglion_tests::artifacts::{RELAY, TRAPPER};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Copies `component` into `dir` as `name`, so that its signature can sit
/// beside it.
fn copy(dir: &Path, component: &str, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(component, &to).unwrap();
    to
}

fn relay_manifest(dir: &Path, file: &Path) -> Manifest {
    manifest(
        dir,
        &[("m", file.to_str().unwrap(), &[])],
        &[
            (
                "r",
                "FROM /messages/* WHERE NOT is_defined($connectionModuleId) INTO BrokeredEndpoint(\"/modules/m/inputs/in\")",
            ),
            ("out", "FROM /messages/modules/m/* INTO $upstream"),
        ],
    )
}

async fn start(dir: &Path, m: &Manifest, keys: &Path) -> Result<Gateway, GatewayError> {
    let mut options = GatewayOptions::new(dir.join("data"));
    options.trusted_keys = Some(keys.to_path_buf());
    Gateway::start_with(m, &options).await
}

fn refused(result: Result<Gateway, GatewayError>) -> String {
    match result {
        Ok(_) => panic!("the gateway started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_artifacts_signed_by_a_trusted_key_run() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("trusted");
    std::fs::create_dir(&keys).unwrap();
    let (secret, public) = artifact::generate_key(dir.path(), "ops").unwrap();
    std::fs::copy(&public, keys.join("ops.pub")).unwrap();
    let (stranger, _) = artifact::generate_key(dir.path(), "stranger").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the secret key is readable by its owner only"
        );
    }

    // Unsigned.
    let unsigned = copy(dir.path(), RELAY, "unsigned.wasm");
    let e = refused(start(dir.path(), &relay_manifest(dir.path(), &unsigned), &keys).await);
    assert!(e.contains("module `m`") && e.contains("unsigned"), "{e}");

    // Signed by a key the gateway does not trust.
    let foreign = copy(dir.path(), RELAY, "foreign.wasm");
    artifact::sign(&foreign, &stranger).unwrap();
    let e = refused(start(dir.path(), &relay_manifest(dir.path(), &foreign), &keys).await);
    assert!(e.contains("does not trust"), "{e}");

    // Signed, then the bytes changed: the digest no longer matches.
    let tampered = copy(dir.path(), RELAY, "tampered.wasm");
    artifact::sign(&tampered, &secret).unwrap();
    std::fs::copy(TRAPPER, &tampered).unwrap();
    let e = refused(start(dir.path(), &relay_manifest(dir.path(), &tampered), &keys).await);
    assert!(e.contains("digest"), "{e}");

    // A trusted key and the right digest, but a forged signature.
    let forged = copy(dir.path(), RELAY, "forged.wasm");
    let mut sig = artifact::sign(&forged, &secret).unwrap();
    let other = copy(dir.path(), TRAPPER, "other.wasm");
    let other_sig = artifact::sign(&other, &secret).unwrap();
    sig.signature = other_sig.signature;
    std::fs::write(
        signature_path(&forged),
        serde_json::to_string(&sig).unwrap(),
    )
    .unwrap();
    let e = refused(start(dir.path(), &relay_manifest(dir.path(), &forged), &keys).await);
    assert!(e.contains("does not verify"), "{e}");

    // Signed by the trusted key: it runs.
    let good = copy(dir.path(), RELAY, "good.wasm");
    artifact::sign(&good, &secret).unwrap();
    let mut gw = start(dir.path(), &relay_manifest(dir.path(), &good), &keys)
        .await
        .unwrap();
    let mut up = gw.subscribe_upstream();

    // A deployment of an unsigned version is refused, and the good one serves.
    let outcome = gw
        .apply(&relay_manifest(dir.path(), &unsigned))
        .await
        .unwrap();
    assert_eq!(outcome.code, 400, "{}", outcome.description);
    assert!(
        outcome.description.contains("unsigned"),
        "{}",
        outcome.description
    );
    gw.inject("dev", new_message("still")).await.unwrap();
    let got = collect_until(&mut up, Duration::from_secs(10), |g| !g.is_empty()).await;
    assert_eq!(body(&got[0]), "still");
    assert!(property(&got[0].message, "relayed-by").is_some());
    gw.shutdown().await;
}

#[test]
fn signature_and_key_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let e = artifact::read_trusted_keys(dir.path()).unwrap_err();
    assert!(e.to_string().contains("no trusted key"), "{e}");
    std::fs::write(dir.path().join("bad.pub"), "not base64!\n").unwrap();
    let e = artifact::read_trusted_keys(dir.path()).unwrap_err();
    assert!(matches!(e, ArtifactError::File { .. }), "{e}");
    assert!(e.to_string().contains("bad.pub"), "{e}");
    artifact::generate_key(dir.path(), "k").unwrap();
    let again = artifact::generate_key(dir.path(), "k").unwrap_err();
    assert!(again.to_string().contains("not overwritten"), "{again}");
}
