//! The `ganglion` command line: `route test` answers with its exit code, and
//! `manifest import` converts an Azure deployment manifest.

use ganglion::Manifest;
use ganglion::manifest::DesiredStatus;
use ganglion::supervisor::policy::RestartPolicy;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn ganglion(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(args)
        .output()
        .expect("run ganglion")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sample(dir: &Path, json: &str) -> String {
    let path = dir.join("msg.json");
    std::fs::write(&path, json).unwrap();
    path.display().to_string()
}

#[test]
fn route_test_answers_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let msg = sample(
        dir.path(),
        r#"{"body": {"machine": {"temperature": 31.5}},
            "properties": {"MessageType": "Alert"},
            "systemProperties": {"contentType": "application/json", "contentEncoding": "utf-8",
                                 "connectionModuleId": "filter", "outputName": "output1"}}"#,
    );
    let o = ganglion(&[
        "route",
        "test",
        "--message",
        &msg,
        "$body.machine.temperature > 30",
    ]);
    assert_eq!((o.status.code(), stdout(&o).trim()), (Some(0), "true"));
    let o = ganglion(&[
        "route",
        "test",
        "-m",
        &msg,
        "$body.machine.temperature > 40",
    ]);
    assert_eq!((o.status.code(), stdout(&o).trim()), (Some(1), "false"));
    let o = ganglion(&["route", "test", "-m", &msg, "nothere = 'x'"]);
    assert_eq!((o.status.code(), stdout(&o).trim()), (Some(1), "undefined"));
    let o = ganglion(&[
        "route",
        "test",
        "--json",
        "-m",
        &msg,
        "MessageType = 'Alert'",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (o.status.code(), v["result"].as_str()),
        (Some(0), Some("true"))
    );

    let route =
        "FROM /messages/modules/filter/outputs/output1 WHERE MessageType = 'Alert' INTO $upstream";
    let o = ganglion(&["route", "test", "-m", &msg, route]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("source: /messages/modules/filter/outputs/output1"),
        "{out}"
    );
    assert!(
        out.contains("sink:   $upstream") && out.trim_end().ends_with("true"),
        "{out}"
    );
    let other = "FROM /messages/modules/sensor/* INTO $upstream";
    let o = ganglion(&["route", "test", "--json", "-m", &msg, other]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(v["sourceSelectsMessage"], false);

    let o = ganglion(&["route", "test", "-m", &msg, "MessageType = "]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("does not compile") && err.contains("column"),
        "{err}"
    );
    // A condition that starts with `-` is a condition, not an option; after
    // `--` too.
    let o = ganglion(&[
        "route",
        "test",
        "-m",
        &msg,
        "-40 < $body.machine.temperature",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o).trim()),
        (Some(0), "true"),
        "{o:?}"
    );
    let o = ganglion(&["route", "test", "-m", &msg, "--", "-1 > 0"]);
    assert_eq!(
        (o.status.code(), stdout(&o).trim()),
        (Some(1), "false"),
        "{o:?}"
    );

    let bad = sample(dir.path(), "{not json");
    let o = ganglion(&["route", "test", "-m", &bad, "true"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn manifest_import_carries_routes_env_status_and_ttl_and_warns_about_docker() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported.toml");
    let deployment = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/azure-deployment.json"
    );
    let o = ganglion(&[
        "manifest",
        "import",
        deployment,
        "-o",
        &out.display().to_string(),
    ]);
    let warnings = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{warnings}");
    for expected in [
        "SimulatedTemperatureSensor.settings.image",
        "azureiotedge-simulated-temperature-sensor",
        "filtermodule.settings.createOptions",
        "filtermodule.startupOrder",
        "$edgeAgent.systemModules",
        "modulesContent.SimulatedTemperatureSensor.properties.desired",
    ] {
        assert!(
            warnings.contains(expected),
            "warning for {expected}: {warnings}"
        );
    }
    // The operator fills in the component paths; then it is a valid manifest.
    let text = std::fs::read_to_string(&out).unwrap();
    let wasm = dir.path().join("m.wasm");
    std::fs::write(&wasm, b"placeholder; loading is not part of this test").unwrap();
    let filled = text.replace("path = \"\"", "path = \"m.wasm\"");
    let manifest = Manifest::parse(&filled, "imported.toml", dir.path())
        .unwrap_or_else(|e| panic!("{e}\n{filled}"));
    let sensor = manifest.module("SimulatedTemperatureSensor").unwrap();
    assert_eq!(
        sensor.config,
        [
            ("MessageCount".to_string(), "500".to_string()),
            ("SendInterval".to_string(), "5".to_string())
        ]
    );
    assert_eq!(sensor.status, DesiredStatus::Running);
    assert_eq!(sensor.restart.policy, RestartPolicy::Always);
    assert!(
        !warnings.contains("restartPolicy"),
        "the restart policy is carried: {warnings}"
    );
    assert_eq!(
        manifest.module("filtermodule").unwrap().status,
        DesiredStatus::Stopped
    );
    let up = manifest
        .routes
        .iter()
        .find(|r| r.name == "filterToIoTHub")
        .unwrap();
    assert_eq!(up.priority, Some(0));
    assert_eq!(up.time_to_live, Some(Duration::from_secs(86400)));
    assert!(up.route.condition.is_some());
    let to_filter = manifest
        .routes
        .iter()
        .find(|r| r.name == "sensorToFilter")
        .unwrap();
    assert_eq!(to_filter.priority, None);
    assert_eq!(
        manifest.store_and_forward.time_to_live,
        Duration::from_secs(7200)
    );
    // Unfilled, the manifest says exactly what is missing.
    let err = Manifest::parse(&text, "imported.toml", dir.path()).unwrap_err();
    assert!(err.to_string().contains("the path is empty"), "{err}");
}

#[test]
fn manifest_import_refuses_what_is_not_a_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.json");
    std::fs::write(&path, r#"{"hello": "world"}"#).unwrap();
    let o = ganglion(&["manifest", "import", &path.display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("$edgeHub"));
}

#[test]
fn module_compile_precompiles_for_an_architecture_and_names_what_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("relay.wasm");
    std::fs::copy(ganglion_tests::artifacts::RELAY, &wasm).unwrap();
    let o = ganglion(&[
        "module",
        "compile",
        "--target",
        "aarch64",
        wasm.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let out = dir.path().join("relay.aarch64.cwasm");
    assert!(
        stdout(&o).contains("aarch64-unknown-linux-gnu")
            && stdout(&o).contains("relay.aarch64.cwasm"),
        "{}",
        stdout(&o)
    );
    assert!(ganglion::runtime::is_precompiled(
        &std::fs::read(&out).unwrap()
    ));

    let o = ganglion(&[
        "module",
        "compile",
        "--target",
        "sparc",
        wasm.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot compile for target `sparc`"), "{err}");

    let o = ganglion(&["module", "compile", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not a WebAssembly component"), "{err}");
}
