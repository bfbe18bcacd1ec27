//! `cargo xtask train`: trains the fan-health models. Makes the virtual
//! environment `ml/.venv` when it is missing, installs the pinned
//! `ml/requirements.txt` into it, and runs `ml/train.py`, which writes
//! `ml/models/` (two `.onnx` files and `golden.json`).

use crate::run;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// Trains the models; see the module doc.
pub fn train(root: &Path) -> Result<()> {
    let ml = root.join("ml");
    let venv = ml.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).context(
            "cannot make ml/.venv: install Python 3 with venv (apt-get install python3-venv)",
        )?;
    }
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(ml.join("requirements.txt")))
    .context("cannot install ml/requirements.txt into ml/.venv")?;
    // One BLAS thread: the sums, and so the model bytes, do not depend on the
    // machine's number of cores.
    run(Command::new(&python)
        .arg(ml.join("train.py"))
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1"))
}
