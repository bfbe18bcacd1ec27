//! `ganglion`: the gateway's command line, a thin layer over the library.
//!
//! - `ganglion run --manifest FILE` runs a deployment until Ctrl-C or SIGTERM,
//!   showing the message flow live.
//! - `ganglion route test --message MSG.json ROUTE` checks a route or condition
//!   against a sample message.
//! - `ganglion manifest import deployment.json` converts an Azure IoT Edge
//!   deployment manifest.

mod flow;
mod route_test;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ganglion::manifest::import::import_azure;
use ganglion::uplink::UplinkConfig;
use ganglion::{Gateway, GatewayOptions, Manifest};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "ganglion",
    version,
    about = "A WebAssembly module host for IoT gateways"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway on a deployment manifest until Ctrl-C or SIGTERM.
    Run {
        /// The deployment manifest (TOML).
        #[arg(long, short)]
        manifest: PathBuf,
        /// Seconds between flow summaries; 0 turns the live display off.
        #[arg(long, default_value_t = 2)]
        flow_every: u64,
        /// Where the gateway keeps its state (the `$upstream` queue); created if
        /// missing.
        #[arg(long, env = "GANGLION_DATA_DIR", default_value = "ganglion-data")]
        data_dir: PathBuf,
        /// The cloud broker, as mqtt://HOST:PORT. Without it, `$upstream`
        /// messages wait in the queue.
        #[arg(long, env = "GANGLION_UPSTREAM")]
        upstream: Option<String>,
        /// This gateway's id on the cloud broker (client id and topic prefix).
        #[arg(long, env = "GANGLION_DEVICE_ID", default_value = "ganglion")]
        device_id: String,
    },
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
        /// The route (FROM ... INTO ...) or the condition.
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            manifest,
            flow_every,
            data_dir,
            upstream,
            device_id,
        } => gateway_options(data_dir, upstream.as_deref(), &device_id)
            .and_then(|options| run_gateway(&manifest, &options, flow_every)),
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

fn gateway_options(
    data_dir: PathBuf,
    upstream: Option<&str>,
    device_id: &str,
) -> Result<GatewayOptions> {
    let mut options = GatewayOptions::new(data_dir);
    if let Some(url) = upstream {
        options.uplink = Some(UplinkConfig::from_url(url, device_id)?);
    }
    Ok(options)
}

fn run_gateway(manifest: &Path, options: &GatewayOptions, flow_every: u64) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("GANGLION_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(manifest, options, flow_every))
}

async fn run(manifest_path: &Path, options: &GatewayOptions, flow_every: u64) -> Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    let mut gateway = Gateway::start_with(&manifest, options).await?;
    for (module, why) in gateway.failed_to_start() {
        tracing::error!(module = %module, "did not start: {why}");
    }
    tracing::info!(
        modules = manifest.modules.len(),
        routes = manifest.routes.len(),
        "gateway running on {}; Ctrl-C stops it",
        manifest_path.display()
    );
    let mut display = (flow_every > 0).then(|| flow::spawn(gateway.subscribe_upstream()));
    let mut ticks = tokio::time::interval(Duration::from_secs(flow_every.max(1)));
    ticks.tick().await;
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            result = &mut signal => {
                result?;
                break;
            }
            _ = ticks.tick(), if display.is_some() => {
                if let Some(d) = display.as_mut() {
                    d.summary(&gateway.metrics());
                }
            }
        }
    }
    tracing::info!("stopping");
    let last = gateway.shutdown().await;
    if let Some(d) = display {
        d.finish(&last).await;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C"),
        _ = term.recv() => Ok(()),
    }
}
