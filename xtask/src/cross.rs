//! `cargo xtask cross [--demo] [--runtime-only]`: `ganglion` for aarch64
//! Linux (Raspberry Pi 3/4/5 with a 64-bit OS), built on this x86-64 machine.
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
//! - `--runtime-only` builds the runtime-only binary instead (no compiler:
//!   it loads only components precompiled with `ganglion module compile
//!   --target aarch64`), to
//!   `target/aarch64-unknown-linux-gnu/release/ganglion-runtime-only`.
//!
//! `cargo xtask test-cross` builds both binaries and runs the process-level
//! subset of the tests (`host/tests/all/emulated.rs`: routing, a trap isolated,
//! store-and-forward across a restart, the same `.wasm` bytes, precompiled
//! components) against the full one under qemu-user, then the precompiled
//! test against the runtime-only one. CI runs it after `cargo xtask test`.
//!
//! `cargo xtask sizes` builds `ganglion` in release, full and runtime-only,
//! for this machine and for aarch64, and writes their stripped sizes to
//! [`SIZES_FILE`], which `BENCHMARKS.md` shows.

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

/// Where `cargo xtask sizes` writes its table (under `target/`).
pub const SIZES_FILE: &str = "binary-sizes.md";

/// The two builds of `ganglion`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    /// The default features: with cranelift.
    Full,
    /// `--no-default-features`: no compiler.
    RuntimeOnly,
}

/// Builds, and with `--demo` runs, the aarch64 binary (`--runtime-only`:
/// the runtime-only one).
pub fn cross(root: &Path, args: &[String]) -> Result<()> {
    let runtime_only = args.iter().any(|a| a == "--runtime-only");
    if runtime_only {
        build(root, Some(TARGET), Build::RuntimeOnly)?;
        return Ok(());
    }
    let binary = build(root, Some(TARGET), Build::Full)?;
    if args.iter().any(|a| a == "--demo") {
        demo(root, &binary)?;
    }
    Ok(())
}

/// Builds both aarch64 binaries and runs `host/tests/all/emulated.rs` against
/// them under qemu-user: all of it against the full build, the precompiled
/// test against the runtime-only one.
pub fn test_cross(root: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    // The runtime-only build first: the full one is left at the usual path.
    let runtime_only = build(root, Some(TARGET), Build::RuntimeOnly)?;
    let binary = build(root, Some(TARGET), Build::Full)?;
    let built = started.elapsed();
    ensure_packages("command -v qemu-aarch64", &["qemu-user"])?;
    crate::ensure_mosquitto()?;
    build_modules(root)?;
    let tests = host_tests(root)?;
    let emulated = |binary: &Path| {
        let mut cmd = Command::new(&tests);
        cmd.current_dir(root.join("host"))
            .env("GANGLION_BIN", binary)
            .env("GANGLION_ARCH", "aarch64")
            .env("GANGLION_RUNNER", format!("qemu-aarch64 -L {SYSROOT}"));
        cmd
    };
    run(emulated(&binary).arg("emulated::"))?;
    run(emulated(&runtime_only).arg("emulated::precompiled"))?;
    eprintln!("xtask: the aarch64 binaries, stripped:");
    for b in [&binary, &runtime_only] {
        eprintln!(
            "xtask:   {}: {:.1} MB",
            b.display(),
            stripped_mb(b, Some(TARGET))?
        );
    }
    eprintln!(
        "xtask: test-cross took {:.1} min ({:.1} min of it the two aarch64 builds)",
        started.elapsed().as_secs_f64() / 60.0,
        built.as_secs_f64() / 60.0
    );
    Ok(())
}

/// Builds the four release binaries (full and runtime-only, for this
/// machine and for aarch64) and writes their stripped sizes to
/// `target/SIZES_FILE`.
pub fn sizes(root: &Path) -> Result<()> {
    let mut rows = String::new();
    for target in [None, Some(TARGET)] {
        // The runtime-only build first, so that `ganglion` is the full one.
        let runtime_only = build(root, target, Build::RuntimeOnly)?;
        let full = build(root, target, Build::Full)?;
        let arch = target.map_or(std::env::consts::ARCH, |t| t.split('-').next().unwrap_or(t));
        for (build, binary) in [
            ("full (with cranelift)", full),
            ("runtime-only (`--no-default-features`)", runtime_only),
        ] {
            let built = std::fs::metadata(&binary)?.len() as f64 / 1e6;
            rows.push_str(&format!(
                "| {arch} | {build} | {built:.1} MB | {:.1} MB |\n",
                stripped_mb(&binary, target)?
            ));
        }
    }
    let when = crate::bench::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
        .unwrap_or_else(|_| "unknown".to_string());
    let commit = crate::bench::output(
        Command::new("git")
            .current_dir(root)
            .args(["describe", "--always", "--dirty"]),
    )
    .unwrap_or_else(|_| "unknown".to_string());
    let table = format!(
        "| architecture | build | as built | stripped |\n|---|---|---|---|\n{rows}\n\
         `cargo xtask sizes` at commit {commit}, {when}.\n"
    );
    let path = root.join("target").join(SIZES_FILE);
    std::fs::write(&path, &table).with_context(|| path.display().to_string())?;
    println!("{table}\nwritten to {}", path.display());
    Ok(())
}

/// The size of `binary` (built for `target`, this machine's if `None`) once
/// stripped, in MB; the stripped copy sits beside it.
fn stripped_mb(binary: &Path, target: Option<&str>) -> Result<f64> {
    let strip = if target.is_some() {
        "aarch64-linux-gnu-strip"
    } else {
        "strip"
    };
    let stripped = binary.with_extension("stripped");
    run(Command::new(strip).arg("-o").arg(&stripped).arg(binary))?;
    Ok(std::fs::metadata(&stripped)?.len() as f64 / 1e6)
}

/// The native test binary of `host/tests/all` (whose `emulated` module is
/// the subset run here), as `cargo test
/// --workspace` builds it (so after `cargo xtask test` nothing is built
/// again: a narrower selection would resolve other features and rebuild the
/// dependencies).
fn host_tests(root: &Path) -> Result<PathBuf> {
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
        .find(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["src_path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("host/tests/all/main.rs"))
        })
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo built no `all` test binary of the host")
}

/// Builds the release binary for `target` (with the cross toolchain; this
/// machine's if `None`); returns its path. Both builds of one target come
/// out as `ganglion`, so the runtime-only one is moved to
/// `ganglion-runtime-only` beside it: `ganglion` is only ever the full one.
fn build(root: &Path, target: Option<&str>, kind: Build) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(root).args([
        "build",
        "--release",
        "-p",
        "ganglion-host",
        "--bin",
        "ganglion",
    ]);
    if kind == Build::RuntimeOnly {
        cmd.arg("--no-default-features");
    }
    let mut dir = root.join("target");
    if let Some(target) = target {
        ensure_rust_target(target)?;
        ensure_packages(
            &format!("command -v {CROSS_GCC} && test -d {SYSROOT}/lib"),
            &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
        )?;
        cmd.args(["--target", target])
            .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", CROSS_GCC)
            .env("CC_aarch64_unknown_linux_gnu", CROSS_GCC)
            .env("AR_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-ar");
        dir = dir.join(target);
    }
    run(&mut cmd)?;
    let dir = dir.join("release");
    let mut binary = dir.join("ganglion");
    if kind == Build::RuntimeOnly {
        let moved = dir.join("ganglion-runtime-only");
        std::fs::rename(&binary, &moved)
            .with_context(|| format!("cannot move {} to {}", binary.display(), moved.display()))?;
        binary = moved;
    }
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
