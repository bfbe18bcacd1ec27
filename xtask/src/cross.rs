//! `cargo xtask cross [--demo]`: `ganglion` for aarch64 Linux (Raspberry Pi
//! 3/4/5 with a 64-bit OS), built on this x86-64 machine.
//!
//! - It adds the rustup target `aarch64-unknown-linux-gnu` and Debian's cross
//!   toolchain (`gcc-aarch64-linux-gnu`, `libc6-dev-arm64-cross`) when they
//!   are missing, then builds the release binary with that gcc as linker and
//!   C compiler (for *ring*), to
//!   `target/aarch64-unknown-linux-gnu/release/ganglion`.
//! - `--demo` also runs that binary on the demo deployment under qemu-user
//!   (Debian's `qemu-user`, with `-L` at the aarch64 sysroot) for
//!   [`DEMO_SECONDS`], with the same guest `.wasm` files as on x86-64, and
//!   fails unless alerts reached `$upstream`.
//!
//! `cargo xtask test-cross` builds that binary and runs the process-level
//! subset of the tests (`host/tests/emulated.rs`: routing, a trap isolated,
//! store-and-forward across a restart, the same `.wasm` bytes) against it
//! under qemu-user. CI runs it after `cargo xtask test`.

use crate::{build_modules, cargo, ensure_packages, ensure_rust_target, run};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target of 64-bit Raspberry Pi OS and Debian arm64.
pub const TARGET: &str = "aarch64-unknown-linux-gnu";
/// Debian's cross gcc for it.
const CROSS_GCC: &str = "aarch64-linux-gnu-gcc";
/// The aarch64 sysroot Debian's cross packages install.
const SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// How long the emulated demo runs.
pub const DEMO_SECONDS: u64 = 30;

/// Builds, and with `--demo` runs, the aarch64 binary.
pub fn cross(root: &Path, args: &[String]) -> Result<()> {
    let binary = build(root)?;
    if args.iter().any(|a| a == "--demo") {
        demo(root, &binary)?;
    }
    Ok(())
}

/// Builds the aarch64 binary and runs `host/tests/emulated.rs` against it
/// under qemu-user.
pub fn test_cross(root: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    let binary = build(root)?;
    let built = started.elapsed();
    ensure_packages("command -v qemu-aarch64", &["qemu-user"])?;
    crate::ensure_mosquitto()?;
    build_modules(root)?;
    run(Command::new(emulated_test(root)?)
        .current_dir(root.join("host"))
        .env("GANGLION_BIN", &binary)
        .env("GANGLION_RUNNER", format!("qemu-aarch64 -L {SYSROOT}")))?;
    eprintln!(
        "xtask: test-cross took {:.1} min ({:.1} min of it the aarch64 build)",
        started.elapsed().as_secs_f64() / 60.0,
        built.as_secs_f64() / 60.0
    );
    Ok(())
}

/// The native test binary of `host/tests/emulated.rs`, as `cargo test
/// --workspace` builds it (so after `cargo xtask test` nothing is built
/// again: a narrower selection would resolve other features and rebuild the
/// dependencies).
fn emulated_test(root: &Path) -> Result<PathBuf> {
    let out = cargo()
        .current_dir(root)
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !out.status.success() {
        bail!("building the tests failed (see above)");
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "emulated")
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo built no `emulated` test binary")
}

/// Builds the aarch64 release binary; returns its path.
fn build(root: &Path) -> Result<PathBuf> {
    ensure_rust_target(TARGET)?;
    ensure_packages(
        &format!("command -v {CROSS_GCC} && test -d {SYSROOT}/lib"),
        &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
    )?;
    run(cargo()
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "ganglion-host",
            "--bin",
            "ganglion",
        ])
        .args(["--target", TARGET])
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", CROSS_GCC)
        .env("CC_aarch64_unknown_linux_gnu", CROSS_GCC)
        .env("AR_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-ar"))?;
    let binary = root
        .join("target")
        .join(TARGET)
        .join("release")
        .join("ganglion");
    let size = std::fs::metadata(&binary)
        .with_context(|| format!("no binary at {}", binary.display()))?
        .len();
    eprintln!(
        "xtask: built {} ({:.1} MiB)",
        binary.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(binary)
}

/// Runs the demo deployment under qemu-user and checks that alerts flow.
fn demo(root: &Path, binary: &Path) -> Result<()> {
    ensure_packages("command -v qemu-aarch64", &["qemu-user"])?;
    build_modules(root)?;
    let data = root.join("target").join("cross-demo-data");
    let _ = std::fs::remove_dir_all(&data);
    eprintln!("xtask: running the demo under qemu-aarch64 for {DEMO_SECONDS} s");
    let out = Command::new("timeout")
        .args([
            "-s",
            "INT",
            &DEMO_SECONDS.to_string(),
            "qemu-aarch64",
            "-L",
            SYSROOT,
        ])
        .arg(binary)
        .args([
            "run",
            "--manifest",
            "demo/deployment.toml",
            "--flow-every",
            "60",
        ])
        .arg("--data-dir")
        .arg(&data)
        .current_dir(root)
        .env("GANGLION_LOG", "info")
        .env("NO_COLOR", "1")
        .output()
        .context("cannot run qemu-aarch64")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let alerts = stdout
        .lines()
        .filter(|l| l.contains("$upstream ALERT"))
        .count();
    eprintln!("{stderr}");
    eprintln!("xtask: {alerts} alerts reached $upstream under emulation");
    if alerts == 0 || !stderr.contains("stopped cleanly") {
        bail!("the aarch64 demo did not run as it should:\n{stdout}\n{stderr}");
    }
    Ok(())
}
