//! `ganglion`: the gateway's command line. `ganglion run --manifest FILE` runs
//! a deployment until Ctrl-C or SIGTERM, showing the message flow live.

mod flow;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ganglion::{Gateway, Manifest};
use std::path::PathBuf;
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
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
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
    match cli.command {
        Command::Run {
            manifest,
            flow_every,
        } => runtime.block_on(run(manifest, flow_every)),
    }
}

async fn run(manifest_path: PathBuf, flow_every: u64) -> Result<()> {
    let manifest = Manifest::load(&manifest_path)?;
    let mut gateway = Gateway::start(&manifest).await?;
    for (module, why) in gateway.failed_to_start() {
        tracing::error!(module = %module, "did not start: {why}");
    }
    tracing::info!(
        modules = manifest.modules.len(),
        routes = manifest.routes.len(),
        "gateway running on {}; Ctrl-C stops it",
        manifest_path.display()
    );
    let display = (flow_every > 0).then(|| {
        let upstream = gateway.subscribe_upstream();
        flow::spawn(upstream, Duration::from_secs(flow_every))
    });
    let mut display = display;
    loop {
        tokio::select! {
            signal = shutdown_signal() => {
                signal?;
                break;
            }
            _ = tokio::time::sleep(Duration::from_secs(flow_every.max(1))), if display.is_some() => {
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
