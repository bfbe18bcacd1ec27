//! Developer commands, run as `cargo xtask <command>`:
//!
//! - `demo`: installs the wasm32-wasip2 target if missing, builds the guest
//!   modules the demo deployment loads and the `ganglion` binary, and runs
//!   `ganglion run` on `demo/deployment.toml` (no broker needed), or with
//!   `--scenario maintenance` on `demo/maintenance.toml` (a fan wearing out:
//!   windows, models, drift, a purchase order), serving the web page on
//!   127.0.0.1:9600 (`--metrics-addr` for another). See `demo.rs`.
//! - `test`: installs what the tests need (the wasm target, mosquitto,
//!   chromium, componentize-py in a virtual environment), builds the Python
//!   test modules, checks formatting and lints (the
//!   runtime-only build's too), and runs every test. `.ci/run` calls it.
//! - `modules`: builds the guest modules, Rust and Python (see `python.rs`),
//!   to components under `target/guests/`.
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
mod demo;
mod python;
mod report;
mod train;

pub(crate) const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root()?;
    match args.first().map(String::as_str) {
        Some("demo") => demo::demo(&root, &args[1..]),
        Some("test") => test(&root),
        Some("modules") => {
            build_modules(&root)?;
            python::build_python_modules(&root)
        }
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("cycles") => cycles::cycles(&root),
        Some("train") => train::train(&root),
        Some("cross") => cross::cross(&root, &args[1..]),
        Some("test-cross") => cross::test_cross(&root),
        Some("sizes") => cross::sizes(&root),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo [--release] [--scenario alerts|maintenance] [--metrics-addr ADDR|off] | test | modules | bench [NAME ...] | cycles | train | cross [--demo] [--runtime-only] | test-cross | sizes>"
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

/// Installs Debian's chromium (and a font for it to draw text with), which
/// the web page's test drives headless, when it is missing and we are root.
pub(crate) fn ensure_chromium() -> Result<()> {
    ensure_packages("command -v chromium", &["chromium", "fonts-liberation"])
}

/// Builds every guest module to a component under `target/guests/`.
pub(crate) fn build_modules(root: &Path) -> Result<()> {
    build_guests(root, &[])
}

/// Builds the guest `packages` (every guest module when empty) to components
/// under `target/guests/`.
pub(crate) fn build_guests(root: &Path, packages: &[String]) -> Result<()> {
    ensure_wasm_target()?;
    let mut cmd = cargo();
    cmd.current_dir(root.join("example-modules"))
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--target-dir",
        ])
        .arg(root.join("target").join("guests"));
    for package in packages {
        cmd.args(["-p", package]);
    }
    run(&mut cmd)
}

fn test(root: &Path) -> Result<()> {
    cycles::cycles(root)?;
    ensure_wasm_target()?;
    ensure_mosquitto()?;
    ensure_chromium()?;
    python::build_python_modules(root)?;
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
