//! Python modules: componentize-py, installed from PyPI into a virtual
//! environment under `target/python/` that this makes itself, builds each
//! Python module directory (an `app.py` with a `Guest` class) against `wit/`
//! to a component under `target/guests/python/`.

use crate::{ensure_packages, run};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release the modules are built with.
pub(crate) const COMPONENTIZE_PY: &str = "0.25.1";
/// The world a Python module targets.
const WORLD: &str = "ganglion:module/module@0.2.0";
/// The directories whose subdirectories are Python modules.
const MODULE_DIRS: &[&str] = &["tests/modules-py"];

/// The virtual environment's componentize-py, installed (the pinned release)
/// when missing; Debian's python3 and its venv module are installed first
/// when missing and we are root.
pub(crate) fn ensure_componentize_py(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target").join("python").join("venv");
    let tool = venv.join("bin").join("componentize-py");
    let wanted = format!("componentize-py {COMPONENTIZE_PY}");
    let installed = Command::new(&tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == wanted);
    if installed {
        return Ok(tool);
    }
    ensure_packages(
        "python3 -c 'import venv, ensurepip'",
        &["python3", "python3-venv"],
    )?;
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("componentize-py=={COMPONENTIZE_PY}")))
    .context("cannot install componentize-py from PyPI")?;
    Ok(tool)
}

/// Builds every Python module to `target/guests/python/NAME.wasm` (NAME with
/// `_` for `-`), unless the component is newer than each of its sources and
/// of `wit/`.
pub(crate) fn build_python_modules(root: &Path) -> Result<()> {
    let tool = ensure_componentize_py(root)?;
    let out_dir = root.join("target").join("guests").join("python");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    for dir in MODULE_DIRS {
        for module in subdirectories(&root.join(dir))? {
            let name = module
                .file_name()
                .and_then(|n| n.to_str())
                .context("a module directory's name is not UTF-8")?
                .replace('-', "_");
            let out = out_dir.join(format!("{name}.wasm"));
            if is_newer(&out, &[module.as_path(), &root.join("wit")]) {
                continue;
            }
            run(Command::new(&tool)
                .arg("-d")
                .arg(root.join("wit"))
                .args(["-w", WORLD, "componentize", "app", "-p"])
                .arg(&module)
                .arg("-o")
                .arg(&out))?;
        }
    }
    Ok(())
}

fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Whether `out` exists and is newer than every file under `sources`.
fn is_newer(out: &Path, sources: &[&Path]) -> bool {
    let Ok(built) = out.metadata().and_then(|m| m.modified()) else {
        return false;
    };
    sources.iter().all(|s| newest(s).is_some_and(|t| t < built))
}

/// The newest modification time of `path` and what is under it.
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    let meta = path.metadata().ok()?;
    let mut t = meta.modified().ok()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).ok()?.filter_map(Result::ok) {
            t = t.max(newest(&entry.path())?);
        }
    }
    Some(t)
}
