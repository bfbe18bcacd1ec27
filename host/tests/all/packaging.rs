//! `packaging/ganglion.service`, checked by systemd itself: `systemd-analyze
//! verify` on the unit, pointed at the binary just built, must accept every
//! key and find the command; and it keeps what running as a service needs
//! (a restart on failure, a user of its own, the state directory as the data
//! directory, SIGTERM with a stop timeout).

use std::process::Command;

#[test]
fn the_systemd_unit_verifies_and_runs_the_gateway_as_a_service() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/ganglion.service"
    ))
    .unwrap();
    for line in [
        "Restart=on-failure",
        "User=ganglion",
        "StateDirectory=ganglion",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=30",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks `{line}`");
    }
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    assert!(
        exec.starts_with("/usr/local/bin/ganglion run ")
            && exec.contains("--data-dir ${STATE_DIRECTORY}"),
        "{exec}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ganglion.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/ganglion", env!("CARGO_BIN_EXE_ganglion")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package) verifies the unit");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd refuses the unit: {said}");
    assert!(!said.contains("Unknown key"), "{said}");
}
