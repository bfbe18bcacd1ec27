//! `ganglion doctor` as an operator runs it, with `run`'s flags: against a
//! real mosquitto it passes, and each thing that is wrong (no broker on the
//! address, a data dir that cannot be made, the address space capped, a
//! trusted keys folder with no key, a manifest that does not parse) is named
//! with its fix, and a failure exits 1. The checks themselves are tested one
//! by one in `host/src/doctor/tests.rs`.

use ganglion_tests::artifacts::TEMP_SENSOR;
use ganglion_tests::broker::{Broker, free_port};
use ganglion_tests::toml_path;
use std::path::Path;
use std::process::{Command, Output};

fn manifest(dir: &Path, ingest_port: u16) -> String {
    let text = format!(
        "[modules.sensor]\npath = \"{}\"\n\n[ingest]\nurl = \"mqtt://127.0.0.1:{ingest_port}\"\ntopics = [\"devices/+/telemetry\"]\n",
        toml_path(TEMP_SENSOR)
    );
    ganglion_tests::write_manifest(dir, &text)
        .display()
        .to_string()
}

/// `ganglion doctor ARGS` under `ulimit -v LIMIT`.
fn doctor(limit: &str, args: &[&str]) -> (Output, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(limit)
        .arg(env!("CARGO_BIN_EXE_ganglion"))
        .arg("doctor")
        .args(args)
        .output()
        .expect("run ganglion doctor");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The line of `check`, e.g. `ok   cloud broker ...`.
fn line<'a>(text: &'a str, check: &str) -> &'a str {
    text.lines()
        .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(check)))
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{text}"))
}

#[test]
fn doctor_passes_a_good_device_and_names_each_fault_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path()).unwrap();
    let manifest = manifest(dir.path(), broker.port());
    let data = dir.path().join("data").display().to_string();
    let upstream = broker.url();

    let (out, text) = doctor(
        "unlimited",
        &[
            "--manifest",
            &manifest,
            "--data-dir",
            &data,
            "--upstream",
            &upstream,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    for check in [
        "manifest",
        "data dir",
        "free space",
        "address space",
        "clock",
        "cloud broker",
        "local broker",
        "trusted keys",
    ] {
        assert!(line(&text, check).starts_with("ok"), "{check}:\n{text}");
    }
    assert!(line(&text, "cloud broker").contains("answers"), "{text}");
    assert!(text.contains("8 checks: 0 failed, 0 to look at"), "{text}");

    // No broker on the cloud address; the local one still answers.
    let closed = format!("mqtt://127.0.0.1:{}", free_port().unwrap());
    let (out, text) = doctor(
        "unlimited",
        &[
            "--manifest",
            &manifest,
            "--data-dir",
            &data,
            "--upstream",
            &closed,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    let cloud = line(&text, "cloud broker");
    assert!(
        cloud.starts_with("FAIL") && cloud.contains("cannot connect"),
        "{text}"
    );
    assert!(text.contains("fix: check the address"), "{text}");
    assert!(line(&text, "local broker").starts_with("ok"), "{text}");

    // A data dir under a file, and a keys folder with no key.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (out, text) = doctor(
        "unlimited",
        &[
            "--manifest",
            &manifest,
            "--data-dir",
            &file.join("data").display().to_string(),
            "--trusted-keys",
            &keys.display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        line(&text, "data dir").contains("cannot be created"),
        "{text}"
    );
    assert!(line(&text, "trusted keys").starts_with("FAIL"), "{text}");
    assert!(line(&text, "cloud broker").contains("none set"), "{text}");

    // A capped address space: the pool does not fit, which is a warning.
    let (out, text) = doctor("400000", &["--manifest", &manifest, "--data-dir", &data]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let space = line(&text, "address space");
    assert!(
        space.starts_with("warn") && space.contains("on demand"),
        "{text}"
    );
    assert!(text.contains("ulimit -v unlimited"), "{text}");

    // A manifest that does not parse: named, and the checks that need it skipped.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[modules.x]\nlimits = 3\n").unwrap();
    let (out, text) = doctor(
        "unlimited",
        &[
            "--manifest",
            &bad.display().to_string(),
            "--data-dir",
            &data,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(line(&text, "manifest").starts_with("FAIL"), "{text}");
    assert!(!text.contains("free space"), "{text}");
}
