//! Builds every guest module (the guest workspace in `example-modules/`, which
//! includes `tests/modules/*`) to wasm32-wasip2 components, and writes a const
//! with the path of each for the tests, as wasmtime's test-programs artifacts
//! crate does.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    if let Err(e) = build() {
        println!("cargo::error={e}");
    }
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest_dir
        .parent()
        .ok_or("tests/ has no parent")?
        .to_path_buf();
    for watched in [
        "example-modules",
        "tests/modules",
        "sdk",
        "wit",
        "ml/models",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    check_target()?;
    let target_dir = root.join("target").join("guests");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join("example-modules"))
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    // Do not let the outer build's settings (clippy's wrapper, its flags, its
    // target dir) leak into the guest build.
    for (key, _) in env::vars() {
        if (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the guest modules to wasm32-wasip2 failed (see above)".to_string());
    }
    let out_dir = target_dir.join(TARGET).join("release");
    let mut consts = String::new();
    let mut entries: Vec<_> = std::fs::read_dir(&out_dir)
        .map_err(|e| format!("cannot read {}: {e}", out_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    entries.sort();
    for path in entries {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("bad artifact name")?;
        let name = stem.replace('-', "_").to_uppercase();
        writeln!(
            consts,
            "/// The component built from `{stem}`.\npub const {name}: &str = {:?};",
            path.display().to_string()
        )
        .map_err(|e| e.to_string())?;
    }
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("artifacts.rs");
    std::fs::write(&out, consts).map_err(|e| e.to_string())?;
    Ok(())
}

/// Fails with the install hint when the wasm32-wasip2 standard library is
/// missing.
fn check_target() -> Result<(), String> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
    if lib.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "the {TARGET} target is not installed; run `rustup target add {TARGET}` (or `cargo xtask test`, which does it)"
        ))
    }
}
