//! The command blocks of `docs/modules.md`, `docs/operations.md` and
//! `docs/azure.md`, run as a reader would run them: every block fenced
//! ```` ```sh ```` of a page, in order, in one bash session (so that a gateway
//! started in the background by one block is there for the next), in an
//! empty folder, with this build's `ganglion` on the `PATH`, `$GANGLION` the
//! checkout and `$BROKER` a real mosquitto started here. A block fenced
//! ```` ```sh no-run ```` is not run (the page says why). A command that
//! fails fails the test, with the block it was in.

use ganglion_tests::broker::Broker;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How long a page's commands may take (one builds a module from scratch).
const PAGE_TIMEOUT_SECS: u32 = 600;

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is in the checkout")
        .to_path_buf()
}

/// The `sh` blocks of a page, with the line each starts on.
fn blocks(page: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in page.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == "```sh" => current = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.starts_with("```") => out.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "a block is not closed");
    out
}

/// Runs the `sh` blocks of `docs/NAME` and returns the folder they ran in
/// (kept until the returned guard drops) and what they printed.
fn run_page(name: &str) -> (tempfile::TempDir, String) {
    let repo = checkout();
    let page = std::fs::read_to_string(repo.join("docs").join(name)).unwrap();
    let blocks = blocks(&page);
    assert!(
        blocks.len() >= 2,
        "docs/{name} has {} sh blocks",
        blocks.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    std::fs::create_dir(&broker_dir).unwrap();
    let broker = Broker::start(&broker_dir).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // A gateway a failed block left in the background goes with the shell.
    let mut script =
        String::from("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    for (line, text) in &blocks {
        script.push_str(&format!(
            "echo '>>> docs/{name}, the block at line {line}' >&2\n"
        ));
        script.push_str(text);
    }
    let ganglion = Path::new(env!("CARGO_BIN_EXE_ganglion"));
    let path = format!(
        "{}:{}",
        ganglion.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("timeout");
    cmd.arg(PAGE_TIMEOUT_SECS.to_string())
        .args(["bash", "-c", &script])
        .current_dir(&work)
        .env("PATH", path)
        .env("GANGLION", &repo)
        .env("BROKER", broker.url())
        .env("GANGLION_LOG", "warn")
        .env("NO_COLOR", "1");
    // Cargo run by a page builds as a reader's would: without the settings of
    // the cargo that runs this test.
    for (key, _) in std::env::vars() {
        if (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
        {
            cmd.env_remove(&key);
        }
    }
    let out = cmd.output().expect("run bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "docs/{name} failed ({}); the last `>>>` names the block:\n{text}",
        out.status
    );
    (dir, text)
}

#[test]
fn the_blocks_are_found_and_no_run_blocks_are_left_out() {
    let page = "a\n```sh\necho 1\n```\n```sh no-run\nrm -rf /\n```\n```toml\nx = 1\n```\n```sh\necho 2\necho 3\n```\n";
    assert_eq!(
        blocks(page),
        vec![(2, "echo 1\n".into()), (11, "echo 2\necho 3\n".into())]
    );
}

#[test]
fn modules_md_runs_from_a_new_crate_to_a_hot_swap() {
    let (dir, text) = run_page("modules.md");
    let work = dir.path().join("work");
    for file in [
        "filter.wasm.sig",
        "filter-v2.wasm.sig",
        "filter.aarch64.cwasm",
    ] {
        assert!(work.join(file).is_file(), "{file} was not made:\n{text}");
    }
    assert!(text.contains("true"), "the route test:\n{text}");
    assert!(
        text.contains("filter"),
        "the status names the module:\n{text}"
    );
}

#[test]
fn operations_md_checks_backs_up_and_restores_a_gateway() {
    let (dir, text) = run_page("operations.md");
    let work = dir.path().join("work");
    assert!(work.join("ganglion-backup.tar.gz").is_file(), "{text}");
    assert!(work.join("status.json").is_file(), "{text}");
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("status.json")).unwrap())
            .unwrap_or_else(|e| panic!("status.json: {e}\n{text}"));
    assert!(status.get("modules").is_some(), "{status}");
    assert!(text.contains("0 failed"), "the doctor passed:\n{text}");
}

#[test]
fn azure_md_imports_a_deployment_and_tests_its_route() {
    let (dir, text) = run_page("azure.md");
    let toml = std::fs::read_to_string(dir.path().join("work/deployment.toml")).unwrap();
    for expected in [
        "[modules.sensor]",
        "[routes.alerts]",
        "time-to-live-secs = 7200",
    ] {
        assert!(toml.contains(expected), "{expected}:\n{toml}");
    }
    for warned in ["settings.image", "modulesContent.filter.properties.desired"] {
        assert!(text.contains(warned), "warning for {warned}:\n{text}");
    }
}
