//! `ganglion key gen`, `ganglion module sign` and `ganglion module push`:
//! the operator's side of signed artifacts (see `ganglion::artifact`).

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
        /// Where to write the two files.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// `ganglion module ...`
#[derive(Subcommand)]
pub enum ModuleCommand {
    /// Sign a module's .wasm file: writes FILE.sig with its sha256 digest,
    /// the public key and the signature.
    Sign {
        /// The secret key (NAME.key).
        #[arg(long)]
        key: PathBuf,
        /// The module's .wasm file.
        file: PathBuf,
    },
    /// Send a new version of a module to a gateway through the cloud broker
    /// (with FILE.sig when present); once the gateway stored it, the
    /// device's deployment is published again with the module naming the
    /// artifact's digest, and the gateway hot-swaps it. Exits 0 when the
    /// gateway applied it.
    Push(crate::cloud::PushArgs),
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
    }
}
