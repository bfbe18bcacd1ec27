//! `ganglion run --metrics-addr`: the real process serves `/metrics` where
//! the flag says (its log names the address), the demo's counters move
//! between two scrapes, and an address other machines can reach without a
//! token is refused before anything starts; `--log-format json` writes one
//! object a line, with the module as a field; and what a module writes to
//! its standard error (a Rust panic's message) reaches that log.

use ganglion_tests::process::Running;
use ganglion_tests::prometheus::metric as value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Runs `cmd` to its end, at most [`WAIT`]: its exit status and stderr. A
/// gateway that should have refused to start and runs instead fails the
/// test rather than hanging it.
fn finished(cmd: &mut Command) -> (std::process::ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > WAIT {
            child.kill().unwrap();
            panic!("`{cmd:?}` still runs after {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// `GET url`: the status and the body.
fn get(url: &str) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = agent.get(url).call().expect("the endpoint answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

/// `ganglion run` on the demo deployment in `dir`, with `flags` added.
fn demo(dir: &Path, flags: &[&str]) -> Running {
    let manifest = ganglion_tests::write_manifest(dir, &ganglion_tests::demo_manifest(50));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ganglion"));
    cmd.args(["run", "--flow-every", "0"])
        .args(flags)
        .arg("--manifest")
        .arg(&manifest)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("GANGLION_LOG", "info");
    Running::spawn(cmd, WAIT)
}

#[test]
fn run_serves_metrics_where_the_flag_says() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = demo(dir.path(), &["--metrics-addr", "127.0.0.1:0"]);
    let lines = gateway.until(1, |l| l.contains("metrics endpoint on http://"));
    let url = lines
        .last()
        .and_then(|l| l.split("on ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    gateway.until(1, |l| l.contains("gateway running"));
    let sensor = r#"ganglion_module_messages_sent_total{module="temp-sensor"}"#;
    let (status, first) = get(&url);
    assert_eq!(status, 200);
    let started = std::time::Instant::now();
    loop {
        let (_, now) = get(&url);
        if value(&now, sensor) > value(&first, sensor) {
            assert!(
                value(
                    &now,
                    r#"ganglion_module_messages_received_total{module="temp-filter"}"#
                ) > 0.0
            );
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the sensor's count did not move:\n{now}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    gateway.stop();
}

#[test]
fn an_exposed_flag_address_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = ganglion_tests::write_manifest(dir.path(), &ganglion_tests::demo_manifest(50));
    let (status, stderr) = finished(
        Command::new(env!("CARGO_BIN_EXE_ganglion"))
            .args(["run", "--metrics-addr", "0.0.0.0:0", "--manifest"])
            .arg(&manifest)
            .arg("--data-dir")
            .arg(dir.path().join("data")),
    );
    assert!(!status.success());
    assert!(
        stderr.contains("metrics endpoint") && stderr.contains("metrics.token-file"),
        "{stderr}"
    );
    let (status, stderr) = finished(
        Command::new(env!("CARGO_BIN_EXE_ganglion"))
            .args(["run", "--metrics-addr", "gateway:80", "--manifest"])
            .arg(&manifest),
    );
    assert!(!status.success());
    assert!(stderr.contains("HOST:PORT"), "{stderr}");
}

#[test]
fn json_logs_are_one_object_a_line_with_the_module_as_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = demo(dir.path(), &["--log-format", "json"]);
    gateway.until(1, |l| l.contains("gateway running"));
    let (log, _) = gateway.stop();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    let sensor = lines
        .iter()
        .find(|l| l["fields"]["module"] == "temp-sensor")
        .unwrap_or_else(|| panic!("no line of the sensor's in {log}"));
    assert!(sensor["fields"]["message"].is_string(), "{sensor}");
}

#[test]
fn a_module_panic_reaches_the_log_with_its_message_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = ganglion_tests::write_manifest(
        dir.path(),
        &format!(
            "[modules.trapper]\npath = \"{}\"\nrestart-policy = \"never\"\n\
             config = {{ panic-in-init = \"true\" }}\n\n\
             [routes]\nup = \"FROM /messages/modules/trapper/* INTO $upstream\"\n",
            ganglion_tests::toml_path(ganglion_tests::artifacts::TRAPPER)
        ),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ganglion"));
    cmd.args(["run", "--flow-every", "0", "--log-format", "json"])
        .arg("--manifest")
        .arg(&manifest)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("GANGLION_LOG", "info");
    let gateway = Running::spawn(cmd, WAIT);
    gateway.until(1, |l| l.contains("gateway running"));
    let (log, _) = gateway.stop();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let panic = lines
        .iter()
        .position(|l| {
            l["fields"]["stream"] == "stderr"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("asked to panic in init"))
        })
        .unwrap_or_else(|| panic!("no line of the module's stderr in {log}"));
    assert_eq!(lines[panic]["fields"]["module"], "trapper", "{log}");
    assert_eq!(lines[panic]["level"], "WARN", "{log}");
    let trap = lines
        .iter()
        .position(|l| l.to_string().contains("did not start"))
        .unwrap_or_else(|| panic!("no line of the failed start in {log}"));
    assert!(
        panic < trap,
        "the panic's message comes before the trap: {log}"
    );
}
