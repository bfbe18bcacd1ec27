//! `ganglion`: the gateway's command line, a thin layer over the library.
//!
//! - `ganglion run --manifest FILE` runs a deployment until Ctrl-C or SIGTERM,
//!   showing the message flow live.
//! - `ganglion route test --message MSG.json ROUTE` checks a route or condition
//!   against a sample message.
//! - `ganglion manifest import deployment.json` converts an Azure IoT Edge
//!   deployment manifest.
//! - `ganglion module compile --target aarch64 FILE` precompiles a module for
//!   a gateway of that architecture (the runtime-only build loads nothing
//!   else); `module sign` and `module push` sign and send artifacts.
//! - `ganglion doctor` takes `run`'s flags and checks the device before a
//!   first run: the data dir, free space, address space, clock, brokers and
//!   trusted keys.
//! - `ganglion twin get|set`, `invoke`, `status`, `monitor` and `deploy`
//!   drive a gateway through the cloud broker (see `docs/protocol.md`).

mod cloud;
mod doctor;
mod flow;
mod keys;
mod route_test;
mod run;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ganglion::manifest::import::import_azure;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The version, and whether this is the runtime-only build.
const VERSION: &str = if ganglion::runtime::COMPILER {
    env!("CARGO_PKG_VERSION")
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (runtime-only: no compiler)")
};

#[derive(Parser)]
#[command(
    name = "ganglion",
    version = VERSION,
    about = "A WebAssembly module host for IoT gateways"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway on a deployment manifest until Ctrl-C or SIGTERM.
    Run(run::RunArgs),
    /// Check this device before a first run, with `run`'s flags: the data
    /// dir (writable, which file system), free space against the quotas, the
    /// address space for the instance pool, the clock, the brokers, the
    /// trusted keys. Says what to fix; exits 1 when a check failed.
    Doctor(run::RunArgs),
    /// Work with routes.
    Route {
        #[command(subcommand)]
        command: RouteCommand,
    },
    /// Work with deployment manifests.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// Read or change a device's or module's twin on the cloud broker.
    Twin {
        #[command(subcommand)]
        command: cloud::TwinCommand,
    },
    /// Call a module's direct method on a gateway, through the cloud broker.
    /// Exits 0 when the method answers with a 2xx status.
    Invoke(cloud::InvokeArgs),
    /// Show a gateway's status (modules, queue, online) from the cloud broker.
    Status(cloud::StatusArgs),
    /// Stream a gateway's telemetry, reported twins and status changes from
    /// the cloud broker until Ctrl-C.
    Monitor(cloud::MonitorArgs),
    /// Deploy a manifest to a gateway through the cloud broker, as its next
    /// retained deployment, and wait for the gateway to report it. Exits 0
    /// when the gateway applied it.
    Deploy(cloud::DeployArgs),
    /// Make signing keys.
    Key {
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// Work with module artifacts.
    Module {
        #[command(subcommand)]
        command: keys::ModuleCommand,
    },
}

#[derive(Subcommand)]
enum RouteCommand {
    /// Check a route or a bare condition against a sample message. Prints true,
    /// false or undefined; exits 0 when it matches, 1 when not, 2 when it does
    /// not compile.
    Test {
        /// The sample message: {"body": ..., "bodyBase64": ..., "properties":
        /// {...}, "systemProperties": {...}}.
        #[arg(long, short)]
        message: PathBuf,
        /// Print JSON: {"result": "true" | "false" | "undefined", ...}.
        #[arg(long)]
        json: bool,
        /// The route (FROM ... INTO ...) or the condition. One that starts
        /// with `-` (such as `-5 < $body.t`) is taken as it is; put it after
        /// `--` if it looks like one of the options.
        #[arg(allow_hyphen_values = true)]
        route: String,
    },
}

#[derive(Subcommand)]
enum ManifestCommand {
    /// Convert an Azure IoT Edge deployment manifest (deployment.json) into a
    /// ganglion manifest. Warnings name each setting that cannot be carried.
    Import {
        /// The Azure deployment manifest.
        deployment: PathBuf,
        /// Where to write the ganglion manifest; standard output if not given.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// mimalloc, returning freed memory at once (see [`ganglion::allocator`]).
#[global_allocator]
static ALLOCATOR: ganglion::allocator::Allocator = ganglion::allocator::Allocator;

fn main() -> ExitCode {
    ganglion::allocator::configure();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Doctor(args) => match doctor::doctor(&args) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Route {
            command:
                RouteCommand::Test {
                    message,
                    json,
                    route,
                },
        } => return route_test::run(&message, &route, json),
        Command::Manifest {
            command: ManifestCommand::Import { deployment, output },
        } => import(&deployment, output.as_deref()),
        Command::Twin { command } => cloud::twin(command),
        Command::Key { command } => keys::key(command),
        Command::Module { command } => keys::module(command),
        Command::Invoke(args) => cloud::invoke(args),
        Command::Status(args) => cloud::status(args),
        Command::Monitor(args) => cloud::monitor(args),
        Command::Deploy(args) => cloud::deploy(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn import(deployment: &Path, output: Option<&Path>) -> Result<()> {
    let json = std::fs::read_to_string(deployment)
        .with_context(|| format!("cannot read {}", deployment.display()))?;
    let imported = import_azure(&json).with_context(|| format!("{}", deployment.display()))?;
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    match output {
        Some(path) => std::fs::write(path, &imported.toml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{}", imported.toml),
    }
    Ok(())
}
