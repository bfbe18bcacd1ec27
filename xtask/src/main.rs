//! Developer commands, run as `cargo xtask <command>`:
//!
//! - `demo`: installs the wasm32-wasip2 target if missing, builds the example
//!   modules and runs `ganglion run` on `demo/deployment.toml` (no broker needed),
//!   or with `--scenario maintenance` on `demo/maintenance.toml` (a fan wearing
//!   out: windows, models, drift, a purchase order).
//! - `test`: installs what the tests need, checks formatting and lints (the
//!   runtime-only build's too), and runs every test. `.ci/run` calls it.
//! - `modules`: builds the guest modules to components under `target/guests/`.
//! - `cross`: builds `ganglion` for aarch64 Linux (Raspberry Pi 3/4/5) with
//!   Debian's cross gcc; `--demo` then runs the demo under qemu-user (see
//!   `cross.rs`).
//! - `cross --runtime-only`: the aarch64 build without a compiler, which loads
//!   only precompiled components (`ganglion module compile`).
//! - `test-cross`: builds both aarch64 binaries and runs the process-level
//!   subset of the tests against them under qemu-user. `.ci/run` calls it
//!   after `test`.
//! - `sizes`: builds the full and runtime-only release binaries for x86-64
//!   and aarch64 and writes their stripped sizes for `BENCHMARKS.md`.
//! - `bench`: builds everything once in release, runs every benchmark in
//!   `benches/` and rewrites `BENCHMARKS.md` (see `bench.rs`).
//! - `train`: trains the fan-health ONNX models into `ml/models/` (see `train.rs`).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

mod bench;
mod cross;
mod cycles;
mod report;
mod train;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root()?;
    match args.first().map(String::as_str) {
        Some("demo") => demo(&root, &args[1..]),
        Some("test") => test(&root),
        Some("modules") => build_modules(&root),
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("cycles") => cycles::cycles(&root),
        Some("train") => train::train(&root),
        Some("cross") => cross::cross(&root, &args[1..]),
        Some("test-cross") => cross::test_cross(&root),
        Some("sizes") => cross::sizes(&root),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo [--release] [--scenario alerts|maintenance] | test | modules | bench [NAME ...] | cycles | train | cross [--demo] [--runtime-only] | test-cross | sizes>"
            );
            bail!("unknown or missing command: {:?}", args.first());
        }
    }
}

fn project_root() -> Result<PathBuf> {
    let manifest_dir =
        std::env::var("CARGO_MANIFEST_DIR").context("run me through `cargo xtask`")?;
    Path::new(&manifest_dir)
        .parent()
        .map(Path::to_path_buf)
        .context("xtask/ has no parent folder")
}

/// A cargo command without the variables `cargo run` set for xtask itself
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, …): build scripts that watch them
/// (ring's does) would otherwise see a change between a build from xtask and
/// one by hand, and rebuild everything above them each time.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn status(cmd: &mut Command) -> Result<ExitStatus> {
    eprintln!("xtask: running {cmd:?}");
    cmd.status().with_context(|| format!("cannot run {cmd:?}"))
}

/// Adds the wasm32-wasip2 target through rustup when it is missing.
pub(crate) fn ensure_wasm_target() -> Result<()> {
    ensure_rust_target(WASM_TARGET)
}

/// Adds the rustup target `target` when it is missing.
pub(crate) fn ensure_rust_target(target: &str) -> Result<()> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("cannot run rustc")?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .is_dir()
    {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", target]))
        .with_context(|| format!("install the target by hand: rustup target add {target}"))
}

/// Installs Debian `packages` through apt-get (as root) unless `probe`, a
/// shell command, succeeds.
pub(crate) fn ensure_packages(probe: &str, packages: &[&str]) -> Result<()> {
    let found = Command::new("sh")
        .args(["-c", probe])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing: install them (apt-get install {}) or run as root",
            packages.join(" ")
        );
    }
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Installs mosquitto (the MQTT broker the tests start on free ports) through
/// apt-get when it is missing and we are root.
pub(crate) fn ensure_mosquitto() -> Result<()> {
    ensure_packages(
        "command -v mosquitto || test -x /usr/sbin/mosquitto",
        &["mosquitto"],
    )
}

pub(crate) fn build_modules(root: &Path) -> Result<()> {
    ensure_wasm_target()?;
    run(cargo()
        .current_dir(root.join("example-modules"))
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--target-dir",
        ])
        .arg(root.join("target").join("guests")))
}

/// The demo scenarios: name, manifest, data directory.
const SCENARIOS: [(&str, &str, &str); 2] = [
    ("alerts", "demo/deployment.toml", "target/demo-data"),
    (
        "maintenance",
        "demo/maintenance.toml",
        "target/demo-maintenance-data",
    ),
];

fn demo(root: &Path, args: &[String]) -> Result<()> {
    let release = args.iter().any(|a| a == "--release");
    let scenario = match args.iter().position(|a| a == "--scenario") {
        Some(i) => args
            .get(i + 1)
            .context("--scenario needs a name: alerts or maintenance")?
            .as_str(),
        None => "alerts",
    };
    let Some(&(_, manifest, data_dir)) = SCENARIOS.iter().find(|(name, _, _)| *name == scenario)
    else {
        bail!("unknown scenario `{scenario}`: alerts or maintenance");
    };
    build_modules(root)?;
    let mut build = cargo();
    build
        .current_dir(root)
        .args(["build", "-p", "ganglion-host", "--bin", "ganglion"]);
    if release {
        build.arg("--release");
    }
    run(&mut build)?;
    let profile = if release { "release" } else { "debug" };
    let binary = root.join("target").join(profile).join("ganglion");
    // Ctrl-C reaches the whole process group: let the gateway handle it and
    // report its own exit status.
    ctrlc::set_handler(|| {}).context("cannot set the Ctrl-C handler")?;
    let code = status(Command::new(binary).current_dir(root).args([
        "run",
        "--manifest",
        manifest,
        "--data-dir",
        data_dir,
    ]))?;
    if !code.success() {
        bail!("the gateway exited with {code}");
    }
    Ok(())
}

fn test(root: &Path) -> Result<()> {
    cycles::cycles(root)?;
    ensure_wasm_target()?;
    ensure_mosquitto()?;
    let guests = root.join("example-modules");
    for dir in [root, guests.as_path()] {
        run(cargo()
            .current_dir(dir)
            .args(["fmt", "--all", "--", "--check"]))?;
    }
    run(cargo()
        .current_dir(&guests)
        .args([
            "clippy",
            "--release",
            "--target",
            WASM_TARGET,
            "--target-dir",
        ])
        .arg(root.join("target").join("guests"))
        .args(["--", "-D", "warnings"]))?;
    // The guests' own unit tests (pure logic, run natively).
    run(cargo()
        .current_dir(&guests)
        .args([
            "test",
            "-p",
            "window-stats",
            "-p",
            "fan-sensor",
            "-p",
            "drift-monitor",
            "--target-dir",
        ])
        .arg(root.join("target").join("guests")))?;
    run(cargo().current_dir(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The runtime-only build (no compiler) is linted too: its `cfg`s are
    // code no other command here compiles for this machine.
    run(cargo().current_dir(root).args([
        "clippy",
        "-p",
        "ganglion-host",
        "--no-default-features",
        "--lib",
        "--bins",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().current_dir(root).args(["test", "--workspace"]))
}
