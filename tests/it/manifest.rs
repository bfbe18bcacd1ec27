//! Every manifest error is refused with the file, line and field at fault.

use ganglion::manifest::Problem;
use ganglion::{Manifest, ManifestError};
use ganglion_tests::artifacts::{RELAY, TEMP_FILTER};
use ganglion_tests::toml_path;

fn load(text: &str) -> Result<Manifest, ManifestError> {
    let dir = tempfile::tempdir().unwrap();
    let path = ganglion_tests::write_manifest(dir.path(), text);
    Manifest::load(&path)
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Ok(_) => panic!("manifest accepted:\n{text}"),
        Err(e) => {
            let shown = e.to_string();
            assert!(
                shown.contains("manifest.toml:"),
                "the error names the file: {shown}"
            );
            e.problems().to_vec()
        }
    }
}

fn one_problem(text: &str) -> Problem {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:?}");
    p.into_iter().next().unwrap()
}

#[test]
fn a_valid_manifest_loads_with_config_as_strings_in_order() {
    let m = load(&format!(
        "[modules.filter]\npath = \"{}\"\nconfig = {{ threshold = 25, name = \"x\", strict = true, ratio = 0.5 }}\n\n[routes]\nup = \"FROM /messages/modules/filter/* INTO $upstream\"\n",
        toml_path(TEMP_FILTER)
    ))
    .unwrap();
    let f = m.module("filter").unwrap();
    assert_eq!(
        f.config,
        [
            ("threshold", "25"),
            ("name", "x"),
            ("strict", "true"),
            ("ratio", "0.5")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(m.routes[0].name, "up");
}

#[test]
fn an_unknown_field_is_refused_with_its_line() {
    let p = one_problem(&format!(
        "[modules.filter]\npath = \"{}\"\nmemroy = 5\n",
        toml_path(TEMP_FILTER)
    ));
    assert_eq!(p.line, 3, "{p}");
    assert!(p.message.contains("unknown field `memroy`"), "{p}");
    let p = one_problem("[modulez.filter]\npath = \"x\"\n");
    assert_eq!(p.line, 1, "{p}");
    assert!(p.message.contains("modulez"), "{p}");
}

#[test]
fn a_duplicate_module_name_is_refused_with_its_line() {
    let path = toml_path(RELAY);
    let p = one_problem(&format!(
        "[modules.relay]\npath = \"{path}\"\n\n[modules.relay]\npath = \"{path}\"\n"
    ));
    assert_eq!(p.line, 4, "{p}");
    assert!(
        p.message.contains("duplicate") || p.message.contains("defined"),
        "{p}"
    );
}

#[test]
fn a_duplicate_route_name_is_refused_with_its_line() {
    let p = one_problem(
        "[routes]\nup = \"FROM /* INTO $upstream\"\nup = \"FROM /messages/* INTO $upstream\"\n",
    );
    assert_eq!(p.line, 3, "{p}");
    assert!(p.message.contains("duplicate"), "{p}");
}

#[test]
fn a_route_naming_a_missing_module_is_refused() {
    let text = format!(
        "[modules.relay]\npath = \"{}\"\n\n[routes]\nok = \"FROM /messages/modules/relay/* INTO $upstream\"\nbad-from = \"FROM /messages/modules/ghost/* INTO $upstream\"\nbad-into = 'FROM /messages/* INTO BrokeredEndpoint(\"/modules/phantom/inputs/in\")'\n",
        toml_path(RELAY)
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!((p[0].line, p[0].field.as_str()), (6, "routes.bad-from"));
    assert!(p[0].message.contains("`ghost`"), "{}", p[0]);
    assert_eq!((p[1].line, p[1].field.as_str()), (7, "routes.bad-into"));
    assert!(p[1].message.contains("`phantom`"), "{}", p[1]);
}

#[test]
fn a_missing_file_is_refused_with_its_line() {
    let p = one_problem("\n[modules.gone]\npath = \"does/not/exist.wasm\"\n");
    assert_eq!((p.line, p.field.as_str()), (3, "modules.gone.path"));
    assert!(
        p.message.contains("no such file") && p.message.contains("exist.wasm"),
        "{p}"
    );
}

#[test]
fn a_malformed_route_is_refused_with_the_column() {
    let p = one_problem("[routes]\n\nbroken = \"FROM /messages/* WHERE a = INTO $upstream\"\n");
    assert_eq!((p.line, p.field.as_str()), (3, "routes.broken"));
    assert!(p.message.contains("column 28"), "{p}");
    assert!(p.message.contains("expected an operand"), "{p}");
}

#[test]
fn bad_names_and_values_are_refused_and_all_problems_reported_at_once() {
    let text = format!(
        "[modules.\"bad name\"]\npath = \"{}\"\n\n[modules.ok]\npath = \"{}\"\nconfig = {{ list = [1, 2] }}\n",
        toml_path(RELAY),
        toml_path(RELAY)
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].message.contains("module name"), "{}", p[0]);
    assert_eq!(p[1].field, "modules.ok.config.list");
    assert_eq!(p[1].line, 6);
}

#[test]
fn toml_syntax_errors_carry_the_line() {
    let p = one_problem("[modules.x]\npath = \"unterminated\n");
    assert_eq!(p.line, 2, "{p}");
}

#[test]
fn route_objects_and_store_and_forward_settings_are_validated() {
    let m = load(
        "[store-and-forward]\ntime-to-live-secs = 60\n\n[routes]\n\
         a = { route = \"FROM /* INTO $upstream\", priority = 9, time-to-live-secs = 5 }\n",
    )
    .unwrap();
    assert_eq!(m.routes[0].priority, Some(9));
    assert_eq!(m.store_and_forward.time_to_live.as_secs(), 60);
    let p = problems(
        "[routes]\n\
         a = { route = \"FROM /* INTO $upstream\", priority = 10 }\n\
         b = { route = \"FROM /* INTO $upstream\", prio = 1 }\n\
         c = { priority = 1 }\n\
         d = { route = \"FROM /* INTO $upstream\", time-to-live-secs = -1 }\n\
         e = 42\n\n[store-and-forward]\ntime-to-live-secs = 0\n",
    );
    let by_field = |f: &str| {
        p.iter()
            .find(|x| x.field == f)
            .unwrap_or_else(|| panic!("{f}: {p:?}"))
    };
    assert!(by_field("routes.a").message.contains("0 (highest) to 9"));
    assert_eq!(by_field("routes.a").line, 2);
    assert!(
        by_field("routes.b")
            .message
            .contains("unknown field `prio`")
    );
    assert!(
        by_field("routes.c")
            .message
            .contains("missing field `route`")
    );
    assert!(by_field("routes.d").message.contains("negative"));
    assert!(by_field("routes.e").message.contains("must be a string"));
    assert!(
        by_field("store-and-forward.time-to-live-secs")
            .message
            .contains("positive")
    );
}

#[test]
fn the_flush_policy_defaults_to_durable_and_its_keys_are_validated() {
    use ganglion::store::flush::FlushPolicy;
    use std::time::Duration;
    assert_eq!(
        load("").unwrap().store_and_forward.flush,
        FlushPolicy::Durable {
            window: ganglion::store::flush::DEFAULT_WINDOW
        }
    );
    let window = load("[store-and-forward]\ncommit-window-ms = 20\n").unwrap();
    assert_eq!(
        window.store_and_forward.flush,
        FlushPolicy::Durable {
            window: Duration::from_millis(20)
        }
    );
    let periodic = load("[store-and-forward]\nflush = \"periodic\"\n").unwrap();
    assert_eq!(
        periodic.store_and_forward.flush,
        FlushPolicy::Periodic {
            interval: Duration::from_secs(1)
        }
    );
    let every =
        load("[store-and-forward]\nflush = \"periodic\"\nflush-interval-ms = 250\n").unwrap();
    assert_eq!(
        every.store_and_forward.flush,
        FlushPolicy::Periodic {
            interval: Duration::from_millis(250)
        }
    );
    for (text, field, says) in [
        (
            "flush = \"sometimes\"",
            "store-and-forward.flush",
            "`durable` or `periodic`",
        ),
        (
            "commit-window-ms = 5000",
            "store-and-forward.commit-window-ms",
            "from 0 to 1000 ms",
        ),
        (
            "commit-window-ms = -1",
            "store-and-forward.commit-window-ms",
            "not -1",
        ),
        (
            "flush = \"periodic\"\nflush-interval-ms = 0",
            "store-and-forward.flush-interval-ms",
            "from 1 to 60000 ms",
        ),
        (
            "flush-interval-ms = 100",
            "store-and-forward.flush-interval-ms",
            "only to `flush = \"periodic\"`",
        ),
        (
            "flush = \"periodic\"\ncommit-window-ms = 5",
            "store-and-forward.commit-window-ms",
            "only to `flush = \"durable\"`",
        ),
    ] {
        let p = one_problem(&format!("[store-and-forward]\n{text}\n"));
        assert_eq!(p.field, field, "{text}: {p:?}");
        assert!(p.message.contains(says), "{text}: {p:?}");
        assert_eq!(p.line, 1, "{text}: {p:?}");
    }
}

#[test]
fn a_bad_module_status_is_refused() {
    let p = one_problem(&format!(
        "[modules.r]\npath = \"{}\"\nstatus = \"paused\"\n",
        toml_path(RELAY)
    ));
    assert_eq!((p.line, p.field.as_str()), (3, "modules.r.status"));
}

#[test]
fn the_upstream_table_is_validated_and_its_files_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("password"), "s3cret\n").unwrap();
    let path = ganglion_tests::write_manifest(
        dir.path(),
        "[upstream]\nurl = \"mqtt://broker.example:1884\"\ndevice-id = \"gw-7\"\n\
         username = \"gw-7\"\npassword-file = \"password\"\nin-flight = 16\n",
    );
    let m = Manifest::load(&path).unwrap();
    let up = m.upstream.unwrap();
    assert_eq!((up.host.as_str(), up.port), ("broker.example", 1884));
    assert_eq!(up.device_id, "gw-7");
    assert_eq!(up.in_flight, 16);
    assert_eq!(
        up.credentials,
        Some(("gw-7".to_string(), "s3cret".to_string())),
        "the password file's trailing newline is not part of the password"
    );
    assert!(up.tls.is_none());

    let p = one_problem("[upstream]\nurl = \"mqtt://b\"\nca-file = \"ca.pem\"\n");
    assert_eq!((p.line, p.field.as_str()), (1, "upstream.url"));
    assert!(p.message.contains("mqtts://"), "{p:?}");
    let p = one_problem("[upstream]\nurl = \"mqtts://b\"\ncert-file = \"c.pem\"\n");
    assert_eq!(p.field, "upstream.cert-file");
    let p = one_problem("[upstream]\nurl = \"mqtts://b\"\nca-file = \"absent.pem\"\n");
    assert!(
        p.message.contains("CA file") && p.message.contains("absent.pem"),
        "{p:?}"
    );
    let p = one_problem("[upstream]\nurl = \"mqtt://b\"\npassword-file = \"p\"\n");
    assert_eq!(p.field, "upstream.password-file");
    let p = one_problem("[upstream]\nurl = \"http://b\"\n");
    assert!(p.message.contains("mqtt://"), "{p:?}");
    let p = one_problem("[upstream]\nurl = \"mqtt://b\"\nin-flight = 0\n");
    assert_eq!(p.field, "upstream.in-flight");
    let p = one_problem("[ingest]\nurl = \"mqtts://b\"\ntopics = [\"a/+\"]\n");
    assert_eq!(p.field, "ingest.url");
}

#[test]
fn limits_and_restart_settings_have_defaults_and_are_read() {
    use ganglion::supervisor::policy::{
        Backoff, DEFAULT_BACKOFF, DEFAULT_STABLE_PERIOD, RestartPolicy,
    };
    use std::time::Duration;
    let path = toml_path(RELAY);
    let m = load(&format!(
        "[modules.plain]\npath = \"{path}\"\n\n[modules.tuned]\npath = \"{path}\"\n\
         memory-mib = 16\ncpu-deadline-ms = 250\nqueue-length = 8\nrestart-policy = \"always\"\n\
         restart-backoff-base-ms = 200\nrestart-backoff-cap-ms = 5000\nrestart-stable-secs = 30\n\n\
         [modules.slow]\npath = \"{path}\"\nrestart-backoff-base-ms = 120000\nrestart-policy = \"never\"\n"
    ))
    .unwrap();
    let plain = m.module("plain").unwrap();
    assert_eq!(plain.limits, ganglion::runtime::Limits::default());
    assert_eq!(plain.limits.memory_bytes, 64 << 20);
    assert_eq!(plain.limits.call_deadline, Duration::from_secs(1));
    assert_eq!(plain.queue_length, 256);
    assert_eq!(plain.restart.policy, RestartPolicy::OnFailure);
    assert_eq!(plain.restart.backoff, DEFAULT_BACKOFF);
    assert_eq!(plain.restart.stable, DEFAULT_STABLE_PERIOD);
    let tuned = m.module("tuned").unwrap();
    assert_eq!(tuned.limits.memory_bytes, 16 << 20);
    assert_eq!(tuned.limits.call_deadline, Duration::from_millis(250));
    assert_eq!(tuned.queue_length, 8);
    assert_eq!(tuned.restart.policy, RestartPolicy::Always);
    assert_eq!(
        tuned.restart.backoff,
        Backoff::new(Duration::from_millis(200), Duration::from_secs(5))
    );
    assert_eq!(tuned.restart.stable, Duration::from_secs(30));
    let slow = m.module("slow").unwrap();
    assert_eq!(slow.restart.policy, RestartPolicy::Never);
    assert_eq!(
        (slow.restart.backoff.base, slow.restart.backoff.cap),
        (Duration::from_secs(120), Duration::from_secs(120)),
        "a base above the default cap raises the cap"
    );
}

#[test]
fn bad_limits_and_restart_settings_name_the_module_field_and_line() {
    let text = format!(
        "[modules.r]\npath = \"{}\"\nmemory-mib = 0\ncpu-deadline-ms = 5\nqueue-length = -1\n\
         restart-policy = \"sometimes\"\nrestart-backoff-base-ms = 2000\nrestart-backoff-cap-ms = 1000\n\
         restart-stable-secs = 0\n",
        toml_path(RELAY)
    );
    let p = problems(&text);
    let expect = [
        (3, "modules.r.memory-mib", "must be 1 to 4096 MiB, not 0"),
        (
            4,
            "modules.r.cpu-deadline-ms",
            "must be 10 to 300000 milliseconds, not 5",
        ),
        (
            5,
            "modules.r.queue-length",
            "must be 1 to 65536 messages, not -1",
        ),
        (
            6,
            "modules.r.restart-policy",
            "`never`, `on-failure` or `always`, not `sometimes`",
        ),
        (
            8,
            "modules.r.restart-backoff-cap-ms",
            "at least restart-backoff-base-ms (2000 ms)",
        ),
        (
            9,
            "modules.r.restart-stable-secs",
            "must be 1 to 86400 seconds, not 0",
        ),
    ];
    assert_eq!(p.len(), expect.len(), "{p:?}");
    for (p, (line, field, message)) in p.iter().zip(expect) {
        assert_eq!((p.line, p.field.as_str()), (line, field), "{p}");
        assert!(p.message.contains(message), "{p}");
    }
    let p = one_problem(&format!(
        "[modules.r]\npath = \"{}\"\nmemory-mib = \"lots\"\n",
        toml_path(RELAY)
    ));
    assert_eq!(
        p.line, 3,
        "a value of the wrong type is refused with its line: {p}"
    );
}
