//! A Python module (componentize-py, `tests/modules-py/py-relay`) in the real
//! gateway process under the default settings: it loads into the default
//! instance pool, forwards, and when it raises, its traceback reaches the
//! gateway's log with its name, before the trap, and the module is
//! restarted and forwards again.

use ganglion_tests::process::Running;
use ganglion_tests::{artifacts, python_module, toml_path, write_manifest};
use std::process::Command;
use std::time::Duration;

/// How long a step may take (a Python component compiles in seconds).
const WAIT: Duration = Duration::from_secs(120);

#[test]
fn a_python_module_runs_in_the_default_pool_and_its_exception_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            "[modules.temp-sensor]\npath = \"{}\"\nconfig = {{ interval-ms = 50 }}\n\n\
             [modules.py-relay]\npath = \"{}\"\nconfig = {{ raise-on = \"3\" }}\n\
             restart-backoff-base-ms = 100\n\n\
             [routes]\n\
             in = \"FROM /messages/modules/temp-sensor/* INTO BrokeredEndpoint('/modules/py-relay/inputs/in')\"\n\
             up = \"FROM /messages/modules/py-relay/* INTO $upstream\"\n",
            toml_path(artifacts::TEMP_SENSOR),
            toml_path(&python_module("py-relay")),
        ),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ganglion"));
    cmd.args(["run", "--flow-every", "3600", "--log-format", "json"])
        .arg("--manifest")
        .arg(&manifest)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("GANGLION_LOG", "info");
    let gateway = Running::spawn(cmd, WAIT);
    let forwarded = |l: &str| l.starts_with("→ $upstream") && l.contains("from py-relay");
    // An instance forwards two and raises on the third: four forwarded means
    // the module was restarted and forwards again.
    gateway.until(4, forwarded);
    let (log, _) = gateway.stop();
    assert!(
        log.contains("allocation") && log.contains("pooling"),
        "not the default pool: {log}"
    );
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let said = |l: &serde_json::Value, text: &str| {
        l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(text))
    };
    let raised = lines
        .iter()
        .position(|l| said(l, "RuntimeError: refused message 3 of this instance"))
        .unwrap_or_else(|| panic!("no line of the exception in {log}"));
    assert_eq!(lines[raised]["fields"]["module"], "py-relay", "{log}");
    assert_eq!(lines[raised]["fields"]["stream"], "stderr", "{log}");
    assert_eq!(lines[raised]["level"], "WARN", "{log}");
    assert!(
        lines[..raised]
            .iter()
            .any(|l| said(l, "Traceback (most recent call last)")),
        "the traceback's head comes first: {log}"
    );
    let trapped = lines
        .iter()
        .position(|l| said(l, "module trapped"))
        .unwrap_or_else(|| panic!("no trap in {log}"));
    assert!(
        raised < trapped,
        "the exception comes before the trap: {log}"
    );
}
