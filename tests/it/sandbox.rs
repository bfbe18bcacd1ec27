//! The capability sandbox: a module sees no files, no environment and no
//! network unless its manifest grants them, and never the network in this
//! version. The `sandbox-probe` module tries each and reports the outcome.

use crate::support::{collect_until, start_all};
use ganglion::Manifest;
use ganglion::harness::{HarnessError, ModuleHarness};
use ganglion::message::new_message;
use ganglion::runtime::grants::{DirGrant, DirMode, Grants};
use ganglion_tests::artifacts::SANDBOX_PROBE;
use ganglion_tests::toml_path;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn harness(grants: &Grants) -> ModuleHarness {
    ModuleHarness::load_with_grants("probe", Path::new(SANDBOX_PROBE), &[], grants)
        .await
        .unwrap()
}

/// Sends `request` to the probe and returns its result: `{"ok": ...}` or
/// `{"err": ...}`. The call itself must succeed: a refusal is an error the
/// guest sees, never a trap.
async fn probe(h: &mut ModuleHarness, request: Value) -> Value {
    let msg = new_message(serde_json::to_vec(&request).unwrap());
    let out = h.send("input1", &msg).await.unwrap();
    assert_eq!(out.len(), 1, "{request}: {out:?}");
    assert_eq!(out[0].0, "result");
    serde_json::from_slice(&out[0].1.body).unwrap()
}

/// The error text of a refused request; fails if it was allowed.
async fn refused(h: &mut ModuleHarness, request: Value) -> String {
    let result = probe(h, request.clone()).await;
    match result.get("err").and_then(Value::as_str) {
        Some(e) => e.to_string(),
        None => panic!("{request} was allowed: {result}"),
    }
}

/// The value of an allowed request; fails if it was refused.
async fn allowed(h: &mut ModuleHarness, request: Value) -> Value {
    let result = probe(h, request.clone()).await;
    match result.get("ok") {
        Some(v) => v.clone(),
        None => panic!("{request} was refused: {result}"),
    }
}

fn dir_grant(host: &Path, guest: &str, mode: DirMode) -> Grants {
    Grants {
        dirs: vec![DirGrant {
            host: host.to_path_buf(),
            guest: guest.to_string(),
            mode,
        }],
        env: Vec::new(),
    }
}

/// A listener a connection would reach if the network were open.
fn listener() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

fn nothing_accepted(listener: &std::net::TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener saw a connection: {other:?}"),
    }
}

#[tokio::test]
async fn without_grants_files_env_and_network_are_errors_not_traps() {
    let host = tempfile::tempdir().unwrap();
    let target = host.path().join("written.txt");
    let (listener, addr) = listener();
    let mut h = harness(&Grants::default()).await;
    refused(&mut h, json!({"op": "read", "path": "/etc/passwd"})).await;
    refused(&mut h, json!({"op": "read", "path": "passwd"})).await;
    let target_text = target.display().to_string();
    refused(
        &mut h,
        json!({"op": "write", "path": target_text, "text": "x"}),
    )
    .await;
    assert!(!target.exists());
    refused(&mut h, json!({"op": "list", "path": "/"})).await;
    refused(&mut h, json!({"op": "list", "path": "."})).await;
    assert!(
        std::env::var_os("PATH").is_some(),
        "the test needs PATH set"
    );
    refused(&mut h, json!({"op": "env", "name": "PATH"})).await;
    assert_eq!(allowed(&mut h, json!({"op": "env-all"})).await, json!([]));
    refused(&mut h, json!({"op": "connect", "addr": addr})).await;
    nothing_accepted(&listener);
}

#[tokio::test]
async fn a_read_only_dir_can_be_read_and_listed_but_not_written() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("hello.txt"), "hello").unwrap();
    let mut h = harness(&dir_grant(host.path(), "/data", DirMode::ReadOnly)).await;
    assert_eq!(
        allowed(&mut h, json!({"op": "read", "path": "/data/hello.txt"})).await,
        json!("hello")
    );
    assert_eq!(
        allowed(&mut h, json!({"op": "list", "path": "/data"})).await,
        json!(["hello.txt"])
    );
    refused(
        &mut h,
        json!({"op": "write", "path": "/data/new.txt", "text": "x"}),
    )
    .await;
    refused(
        &mut h,
        json!({"op": "write", "path": "/data/hello.txt", "text": "changed"}),
    )
    .await;
    assert!(!host.path().join("new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(host.path().join("hello.txt")).unwrap(),
        "hello"
    );
}

#[tokio::test]
async fn a_read_write_dir_can_be_written_and_the_file_appears_on_the_host() {
    let host = tempfile::tempdir().unwrap();
    let mut h = harness(&dir_grant(host.path(), "/data", DirMode::ReadWrite)).await;
    allowed(
        &mut h,
        json!({"op": "write", "path": "/data/out.txt", "text": "from the module"}),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(host.path().join("out.txt")).unwrap(),
        "from the module"
    );
    assert_eq!(
        allowed(&mut h, json!({"op": "read", "path": "/data/out.txt"})).await,
        json!("from the module")
    );
}

#[tokio::test]
async fn paths_outside_a_granted_dir_are_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
    let granted = root.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.path().join("secret.txt"), granted.join("link")).unwrap();
    let mut h = harness(&dir_grant(&granted, "/data", DirMode::ReadWrite)).await;
    refused(&mut h, json!({"op": "read", "path": "/etc/passwd"})).await;
    refused(&mut h, json!({"op": "read", "path": "/data/../secret.txt"})).await;
    refused(&mut h, json!({"op": "read", "path": "../secret.txt"})).await;
    refused(&mut h, json!({"op": "list", "path": "/data/.."})).await;
    refused(
        &mut h,
        json!({"op": "write", "path": "/data/../escaped.txt", "text": "x"}),
    )
    .await;
    assert!(!root.path().join("escaped.txt").exists());
    #[cfg(unix)]
    refused(&mut h, json!({"op": "read", "path": "/data/link"})).await;
}

#[tokio::test]
async fn granted_env_vars_are_visible_and_no_others() {
    let path = std::env::var("PATH").expect("the test needs PATH set");
    const UNSET: &str = "GANGLION_SANDBOX_TEST_NEVER_SET";
    assert!(std::env::var_os(UNSET).is_none());
    let grants = Grants {
        dirs: Vec::new(),
        env: vec!["PATH".to_string(), UNSET.to_string()],
    };
    let mut h = harness(&grants).await;
    assert_eq!(
        allowed(&mut h, json!({"op": "env", "name": "PATH"})).await,
        json!(path)
    );
    // The unset one is skipped, and nothing else comes along.
    refused(&mut h, json!({"op": "env", "name": UNSET})).await;
    assert_eq!(
        allowed(&mut h, json!({"op": "env-all"})).await,
        json!(["PATH"])
    );
}

#[tokio::test]
async fn tcp_connect_fails_even_with_every_grant() {
    let host = tempfile::tempdir().unwrap();
    let (listener, addr) = listener();
    let mut grants = dir_grant(host.path(), "/", DirMode::ReadWrite);
    grants.env = vec!["PATH".to_string()];
    let mut h = harness(&grants).await;
    allowed(&mut h, json!({"op": "list", "path": "/"})).await;
    refused(&mut h, json!({"op": "connect", "addr": addr})).await;
    refused(&mut h, json!({"op": "connect", "addr": "localhost:80"})).await;
    nothing_accepted(&listener);
}

#[tokio::test]
async fn invalid_grants_given_to_the_harness_are_refused() {
    let host = tempfile::tempdir().unwrap();
    let err = ModuleHarness::load_with_grants(
        "probe",
        Path::new(SANDBOX_PROBE),
        &[],
        &dir_grant(host.path(), "data", DirMode::ReadOnly),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, HarnessError::Instantiate { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("`probe`") && text.contains("dirs[0].guest") && text.contains("absolute"),
        "{text}"
    );
}

fn load(dir: &Path, text: &str) -> Result<Manifest, ganglion::ManifestError> {
    let path = ganglion_tests::write_manifest(dir, text);
    Manifest::load(&path)
}

#[test]
fn grants_are_read_from_the_manifest_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("models")).unwrap();
    let logs = tempfile::tempdir().unwrap();
    let m = load(
        dir.path(),
        &format!(
            "[modules.logger]\npath = \"{}\"\n[modules.logger.grants]\ndirs = [{{ host = \"{}\", guest = \"/logs\", mode = \"read-write\" }}, {{ host = \"models\", guest = \"/models\" }}]\nenv = [\"SITE_NAME\", \"TZ\"]\n\n[modules.plain]\npath = \"{0}\"\n",
            toml_path(SANDBOX_PROBE),
            toml_path(&logs.path().display().to_string()),
        ),
    )
    .unwrap();
    let g = &m.module("logger").unwrap().grants;
    assert_eq!(
        g.dirs,
        [
            DirGrant {
                host: logs.path().to_path_buf(),
                guest: "/logs".to_string(),
                mode: DirMode::ReadWrite,
            },
            DirGrant {
                host: dir.path().join("models"),
                guest: "/models".to_string(),
                mode: DirMode::ReadOnly,
            },
        ]
    );
    assert_eq!(g.env, ["SITE_NAME", "TZ"]);
    assert_eq!(m.module("plain").unwrap().grants, Grants::default());
}

#[test]
fn bad_grants_name_the_module_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::fs::write(dir.path().join("file.txt"), "").unwrap();
    let text = format!(
        "[modules.logger]\npath = \"{}\"\n[modules.logger.grants]\ndirs = [\n  {{ host = \"models\", guest = \"/models\", mode = \"rw\" }},\n  {{ host = \"missing\", guest = \"/a\" }},\n  {{ host = \"models\", guest = \"relative\" }},\n  {{ host = \"models\", guest = \"/models\" }},\n  {{ host = \"file.txt\", guest = \"/f\" }},\n]\nenv = [\"OK\", \"A=B\", \"\", \"OK\"]\n",
        toml_path(SANDBOX_PROBE)
    );
    let err = load(dir.path(), &text).err().unwrap();
    let p: Vec<_> = err
        .problems()
        .iter()
        .map(|p| (p.line, p.field.as_str(), p.message.as_str()))
        .collect();
    let field = |f: &str| {
        p.iter()
            .find(|(_, field, _)| *field == f)
            .copied()
            .unwrap_or_else(|| panic!("no problem at {f}: {p:?}"))
    };
    let (line, _, msg) = field("modules.logger.grants.dirs[0].mode");
    assert_eq!(line, 5);
    assert!(
        msg.contains("`read-only` or `read-write`") && msg.contains("`rw`"),
        "{msg}"
    );
    let (line, _, msg) = field("modules.logger.grants.dirs[1].host");
    assert_eq!(line, 6);
    assert!(
        msg.contains("no such directory") && msg.contains("missing"),
        "{msg}"
    );
    let (line, _, msg) = field("modules.logger.grants.dirs[2].guest");
    assert_eq!(line, 7);
    assert!(msg.contains("absolute"), "{msg}");
    let (line, _, msg) = field("modules.logger.grants.dirs[3].guest");
    assert_eq!(line, 8);
    assert!(msg.contains("already granted by dirs[0]"), "{msg}");
    let (line, _, msg) = field("modules.logger.grants.dirs[4].host");
    assert_eq!(line, 9);
    assert!(msg.contains("not a directory"), "{msg}");
    let (line, _, msg) = field("modules.logger.grants.env[1]");
    assert_eq!(line, 11);
    assert!(msg.contains('='), "{msg}");
    assert!(field("modules.logger.grants.env[2]").2.contains("empty"));
    assert!(
        field("modules.logger.grants.env[3]")
            .2
            .contains("already granted")
    );
    assert_eq!(p.len(), 8, "{p:?}");
    let shown = err.to_string();
    assert!(shown.contains("manifest.toml:5:"), "{shown}");
}

#[test]
fn unknown_grant_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        dir.path(),
        &format!(
            "[modules.m]\npath = \"{}\"\n[modules.m.grants]\nnetwork = true\n",
            toml_path(SANDBOX_PROBE)
        ),
    )
    .err()
    .unwrap();
    let p = err.problems();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, 4);
    assert!(p[0].message.contains("network"), "{}", p[0].message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_module_gets_the_grants_of_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let m = load(
        dir.path(),
        &format!(
            "[modules.probe]\npath = \"{}\"\n[modules.probe.grants]\ndirs = [{{ host = \"out\", guest = \"/out\", mode = \"read-write\" }}]\n\n[routes]\nin = 'FROM /messages/* WHERE $connectionDeviceId = \"dev-1\" INTO BrokeredEndpoint(\"/modules/probe/inputs/in\")'\nup = \"FROM /messages/modules/probe/outputs/result INTO $upstream\"\n",
            toml_path(SANDBOX_PROBE)
        ),
    )
    .unwrap();
    let mut gw = start_all(&m, dir.path()).await;
    let mut up = gw.subscribe_upstream();
    for request in [
        json!({"op": "write", "path": "/out/deployed.txt", "text": "yes"}),
        json!({"op": "read", "path": "/etc/passwd"}),
    ] {
        gw.inject("dev-1", new_message(serde_json::to_vec(&request).unwrap()))
            .await
            .unwrap();
    }
    let got = collect_until(&mut up, WAIT, |g| g.len() >= 2).await;
    let results: Vec<Value> = got
        .iter()
        .map(|u| serde_json::from_slice(&u.message.body).unwrap())
        .collect();
    assert_eq!(results[0], json!({"ok": null}));
    assert!(results[1].get("err").is_some(), "{}", results[1]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/deployed.txt")).unwrap(),
        "yes"
    );
    gw.shutdown().await;
}
