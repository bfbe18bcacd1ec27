//! `ganglion key gen`, `ganglion module sign`, `ganglion module push` and
//! `ganglion module compile`: the operator's side of signed and precompiled
//! artifacts (see `ganglion::artifact` and `ganglion::runtime`).

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

/// `ganglion key ...`
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Make an ed25519 key pair: NAME.key (secret, owner-readable only) and
    /// NAME.pub (give it to gateways: `ganglion run --trusted-keys DIR`).
    Gen {
        /// The key pair's name.
        name: String,
        /// Where to write the two files (made if missing).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// `ganglion module ...`
#[derive(Subcommand)]
pub enum ModuleCommand {
    /// Sign a module's .wasm file (or a precompiled .cwasm): writes FILE.sig
    /// with its sha256 digest, the public key and the signature.
    Sign {
        /// The secret key (NAME.key).
        #[arg(long)]
        key: PathBuf,
        /// The module's .wasm or .cwasm file.
        file: PathBuf,
    },
    /// Send a new version of a module to a gateway through the cloud broker
    /// (with FILE.sig when present); once the gateway stored it, the
    /// device's deployment is published again with the module naming the
    /// artifact's digest, and the gateway hot-swaps it. Exits 0 when the
    /// gateway applied it.
    Push(crate::cloud::PushArgs),
    /// Precompile a module's .wasm for a gateway's architecture: a
    /// runtime-only gateway (built without a compiler) loads nothing else.
    /// Deploy the .cwasm file like a .wasm (`path` in a manifest, or sign
    /// and push it).
    Compile {
        /// The gateway's architecture: aarch64 (a Raspberry Pi 3/4/5 with a
        /// 64-bit OS), x86_64, or a full target triple. Default: this
        /// machine's.
        #[arg(long, default_value = std::env::consts::ARCH)]
        target: String,
        /// Where to write it. Default: beside FILE, as NAME.ARCH.cwasm.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// The module's .wasm component.
        file: PathBuf,
    },
}

/// Runs a `key` command.
pub fn key(command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Gen { name, dir } => {
            let (secret, public) = ganglion::artifact::generate_key(&dir, &name)
                .context("cannot make the key pair")?;
            println!("secret key: {} (keep it private)", secret.display());
            println!("public key: {} (trust it on gateways)", public.display());
            Ok(())
        }
    }
}

/// Runs a `module` command.
pub fn module(command: ModuleCommand) -> Result<()> {
    match command {
        ModuleCommand::Sign { key, file } => {
            let signed = ganglion::artifact::sign(&file, &key).context("cannot sign")?;
            println!(
                "signed {} ({}) with key {}",
                file.display(),
                signed.digest,
                signed.key
            );
            Ok(())
        }
        ModuleCommand::Push(args) => crate::cloud::push(args),
        ModuleCommand::Compile {
            target,
            output,
            file,
        } => compile(&target, output, &file),
    }
}

/// `ganglion module compile`.
#[cfg(feature = "compiler")]
fn compile(target: &str, output: Option<PathBuf>, file: &std::path::Path) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let compiled = ganglion::runtime::precompile(&name, &bytes, target)?;
    let triple = ganglion::runtime::target_triple(target);
    let arch = triple.split('-').next().unwrap_or(target);
    let output = output.unwrap_or_else(|| file.with_extension(format!("{arch}.cwasm")));
    std::fs::write(&output, &compiled)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "compiled {name} ({}) for {triple}: {} ({} bytes)",
        ganglion::artifact::digest(&bytes),
        output.display(),
        compiled.len()
    );
    Ok(())
}

/// `ganglion module compile`, in a build without a compiler.
#[cfg(not(feature = "compiler"))]
fn compile(_target: &str, _output: Option<PathBuf>, _file: &std::path::Path) -> Result<()> {
    anyhow::bail!(
        "this ganglion is a runtime-only build, without a compiler: precompile modules with the full build (on a workstation, or in the cloud)"
    )
}
