//! `cargo xtask demo`: builds what a demo scenario's deployment names (the
//! guest modules its manifest loads from `target/guests/`, and the `ganglion`
//! binary, the two builds side by side) and runs the gateway on it.
//!
//! Only the modules the scenario loads are built, so the first demo does not
//! wait for the heavy ones (fan-health's inference engine, the test modules):
//! those build for their own scenario, the tests and the benches. The alerts
//! scenario's binary is built in the `demo` profile (no optimisation, no
//! debug info: the quickest to build); the maintenance scenario's in the dev
//! profile, whose optimised cranelift compiles the 10 MB fan-health component
//! in about 30 s (the demo profile's took 3 min 6 s to a running gateway here,
//! with a CI run sharing the two cores); either in `release` with `--release`.
//!
//! The gateway serves its web page and `/metrics` on [`DEMO_PAGE`] unless
//! `--metrics-addr` names another address (or `off`).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{WASM_TARGET, build_guests, cargo, run, status};

/// Where the demo serves the web page and `/metrics` (`--metrics-addr ADDR`
/// for another, `off` for none).
const DEMO_PAGE: &str = "127.0.0.1:9600";

/// A demo scenario: its name, its manifest and its data directory, relative to
/// the project root.
struct Scenario {
    name: &'static str,
    manifest: &'static str,
    data_dir: &'static str,
    /// The cargo profile of the `ganglion` binary, and its folder in `target/`.
    profile: (&'static str, &'static str),
}

const SCENARIOS: [Scenario; 2] = [
    Scenario {
        name: "alerts",
        manifest: "demo/deployment.toml",
        data_dir: "target/demo-data",
        profile: ("demo", "demo"),
    },
    Scenario {
        name: "maintenance",
        manifest: "demo/maintenance.toml",
        data_dir: "target/demo-maintenance-data",
        profile: ("dev", "debug"),
    },
];

pub(crate) fn demo(root: &Path, args: &[String]) -> Result<()> {
    let release = args.iter().any(|a| a == "--release");
    let name = match args.iter().position(|a| a == "--scenario") {
        Some(i) => args
            .get(i + 1)
            .context("--scenario needs a name: alerts or maintenance")?
            .as_str(),
        None => "alerts",
    };
    let Some(scenario) = SCENARIOS.iter().find(|s| s.name == name) else {
        bail!("unknown scenario `{name}`: alerts or maintenance");
    };
    let manifest = root.join(scenario.manifest);
    let packages = guest_packages(root, &manifest)?;
    // The guest build (release, one codegen unit, LTO) and the host build each
    // leave a core idle for long stretches on a small machine: run them at once.
    let guests = {
        let root = root.to_path_buf();
        std::thread::spawn(move || build_guests(&root, &packages))
    };
    let mut build = cargo();
    build
        .current_dir(root)
        .args(["build", "-p", "ganglion-host", "--bin", "ganglion"]);
    let (profile, folder) = if release {
        ("release", "release")
    } else {
        scenario.profile
    };
    build.args(["--profile", profile]);
    let host = run(&mut build);
    guests
        .join()
        .map_err(|_| anyhow::anyhow!("the guest build's thread panicked"))??;
    host?;
    let binary = root.join("target").join(folder).join("ganglion");
    // Ctrl-C reaches the whole process group: let the gateway handle it and
    // report its own exit status.
    ctrlc::set_handler(|| {}).context("cannot set the Ctrl-C handler")?;
    let page = match args.iter().position(|a| a == "--metrics-addr") {
        Some(i) => args
            .get(i + 1)
            .context("--metrics-addr needs an address (or `off`)")?
            .as_str(),
        None => DEMO_PAGE,
    };
    let mut gateway = Command::new(binary);
    gateway.current_dir(root).args([
        "run",
        "--manifest",
        scenario.manifest,
        "--data-dir",
        scenario.data_dir,
    ]);
    if page != "off" {
        println!("The gateway's page: http://{page}/ (metrics: http://{page}/metrics)");
        gateway.args(["--metrics-addr", page]);
    }
    let code = status(&mut gateway)?;
    if !code.success() {
        bail!("the gateway exited with {code}");
    }
    Ok(())
}

/// The guest packages whose components `manifest` loads from
/// `target/guests/`: a module at `…/release/temp_sensor.wasm` is the package
/// `temp-sensor`. Modules loaded from anywhere else are not ours to build.
fn guest_packages(root: &Path, manifest: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("cannot parse {}", manifest.display()))?;
    let base = manifest.parent().unwrap_or(root);
    let built = root
        .join("target")
        .join("guests")
        .join(WASM_TARGET)
        .join("release");
    let mut packages = Vec::new();
    let modules = doc.get("modules").and_then(toml::Value::as_table);
    for (name, module) in modules.into_iter().flatten() {
        let Some(path) = module.get("path").and_then(toml::Value::as_str) else {
            continue;
        };
        let path = normalize(&base.join(path));
        if path.parent() != Some(built.as_path()) {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            bail!("{}: module `{name}` has no file name", manifest.display());
        };
        let package = stem.replace('_', "-");
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    if packages.is_empty() {
        bail!(
            "{} loads no module from {}",
            manifest.display(),
            built.display()
        );
    }
    Ok(packages)
}

/// `path` with its `.` and `..` components resolved without touching the
/// file system (the components may not be built yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
