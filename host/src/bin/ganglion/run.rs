//! `ganglion run`: the daemon. The cloud connection comes from the manifest's
//! `[upstream]` table, and the command line (or its environment variables)
//! overrides it piece by piece.

use crate::flow;
use anyhow::{Context, Result};
use clap::Args;
use ganglion::manifest::DEFAULT_DEVICE_ID;
use ganglion::runtime::alloc::{AllocationChoice, PRECOMPILED_MEMORY_RESERVATION};
use ganglion::uplink::UplinkConfig;
use ganglion::uplink::tls::ClientCert;
use ganglion::{Gateway, GatewayOptions, Manifest};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// The flags of `ganglion run`.
#[derive(Args)]
pub struct RunArgs {
    /// The deployment manifest (TOML).
    #[arg(long, short)]
    pub(crate) manifest: PathBuf,
    /// Seconds between flow summaries; 0 turns the live display off.
    #[arg(long, default_value_t = 2)]
    flow_every: u64,
    /// Where the gateway keeps its state (the `$upstream` queue, module
    /// storage); created if missing.
    #[arg(long, env = "GANGLION_DATA_DIR", default_value = "ganglion-data")]
    pub(crate) data_dir: PathBuf,
    /// The cloud broker, as mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS).
    /// Overrides the manifest's [upstream] url. Without either, `$upstream`
    /// messages wait in the queue.
    #[arg(long, env = "GANGLION_UPSTREAM")]
    upstream: Option<String>,
    /// This gateway's id on the cloud broker (client id and topic prefix);
    /// `ganglion` unless the manifest says otherwise.
    #[arg(long, env = "GANGLION_DEVICE_ID")]
    device_id: Option<String>,
    /// PEM file with the CA certificates for the broker (mqtts://); the
    /// system's roots if not given.
    #[arg(long, env = "GANGLION_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// PEM client certificate, for X.509 authentication (with --key-file).
    #[arg(long, env = "GANGLION_CERT_FILE", requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, env = "GANGLION_KEY_FILE", requires = "cert_file")]
    key_file: Option<PathBuf>,
    /// User name for the broker. The password comes from the environment
    /// variable GANGLION_PASSWORD only, so that it never shows in the process
    /// list.
    #[arg(long, env = "GANGLION_USERNAME")]
    username: Option<String>,
    /// A folder of trusted public keys (*.pub, from `ganglion key gen`): only
    /// module artifacts signed by one of them (FILE.sig beside each) run.
    #[arg(long, env = "GANGLION_TRUSTED_KEYS")]
    pub(crate) trusted_keys: Option<PathBuf>,
    /// Instance slots in the memory pool (default: twice the modules, and at
    /// least 32).
    #[arg(long, value_name = "N", env = "GANGLION_POOL_INSTANCES",
          value_parser = clap::value_parser!(u32).range(1..=10_000), conflicts_with = "no_pool")]
    pool_instances: Option<u32>,
    /// Each instance's memory slot in MiB: the largest `memory-mib` a module
    /// may have (default: the deployment's largest, and at least 64).
    #[arg(long, value_name = "MIB", env = "GANGLION_POOL_MEMORY_MIB",
          value_parser = clap::value_parser!(u32).range(1..=4096), conflicts_with = "no_pool")]
    pool_memory_mib: Option<u32>,
    /// Allocate each instance's memory on demand instead of from a pool
    /// reserved at start (the gateway does so by itself when the address
    /// space is short).
    #[arg(long, env = "GANGLION_NO_POOL")]
    no_pool: bool,
    /// Threads that run the gateway's tasks and modules. 1 runs them all on
    /// one thread, which costs the least CPU per message (no wake-ups between
    /// threads); more let modules compute in parallel.
    #[arg(long, value_name = "N", env = "GANGLION_WORKER_THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    worker_threads: u16,
    /// Serve `/metrics` (Prometheus text) on ADDR: HOST:PORT, or PORT for
    /// loopback. Overrides the manifest's `[metrics] addr`; an address other
    /// machines can reach needs the manifest's `token-file` or
    /// `allow-anonymous = true`.
    #[arg(long, value_name = "ADDR", env = "GANGLION_METRICS_ADDR",
          value_parser = ganglion::web::access::parse_addr)]
    metrics_addr: Option<std::net::SocketAddr>,
    /// How log lines are written to stderr: `text` for a terminal, `json`
    /// (one object per line, the module in its `fields`) for journald, Loki
    /// and other collectors.
    #[arg(long, value_enum, env = "GANGLION_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The shape of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The uplink: the manifest's, with the command line's overrides.
pub(crate) fn uplink(args: &RunArgs, manifest: &Manifest) -> Result<Option<UplinkConfig>> {
    let device_id = args
        .device_id
        .clone()
        .or_else(|| manifest.upstream.as_ref().map(|u| u.device_id.clone()))
        .unwrap_or_else(|| DEFAULT_DEVICE_ID.to_string());
    let mut config = match (&args.upstream, &manifest.upstream) {
        (Some(url), _) => UplinkConfig::from_url(url, &device_id)?,
        (None, Some(from_manifest)) => {
            let mut c = from_manifest.clone();
            c.device_id = device_id;
            c
        }
        (None, None) => return Ok(None),
    };
    if let Some(user) = &args.username {
        let password = std::env::var("GANGLION_PASSWORD").unwrap_or_default();
        config.credentials = Some((user.clone(), password));
    }
    let tls_flags = args.ca_file.is_some() || args.cert_file.is_some();
    match config.tls.as_mut() {
        Some(tls) => {
            if let Some(ca) = &args.ca_file {
                tls.ca_file = Some(ca.clone());
            }
            if let (Some(cert), Some(key)) = (&args.cert_file, &args.key_file) {
                tls.client_cert = Some(ClientCert {
                    cert_file: cert.clone(),
                    key_file: key.clone(),
                });
            }
            ganglion::uplink::tls::client_config(tls)?;
        }
        None if tls_flags => {
            anyhow::bail!("--ca-file and --cert-file need an mqtts:// upstream address")
        }
        None => {}
    }
    Ok(Some(config))
}

/// How the flags ask for module memory to be allocated.
pub(crate) fn allocation(args: &RunArgs) -> AllocationChoice {
    if args.no_pool {
        AllocationChoice::OnDemand
    } else if args.pool_instances.is_some() || args.pool_memory_mib.is_some() {
        AllocationChoice::Pool {
            instances: args.pool_instances,
            memory_bytes: args.pool_memory_mib.map(|m| m as usize * 1024 * 1024),
        }
    } else {
        AllocationChoice::Auto
    }
}

/// Runs the gateway until Ctrl-C or SIGTERM.
pub fn run(args: &RunArgs) -> Result<()> {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("GANGLION_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let mut builder = if args.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(usize::from(args.worker_threads));
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: &RunArgs) -> Result<()> {
    let manifest_path: &Path = &args.manifest;
    // Read before the stop signals are caught: until the gateway starts there
    // is nothing to stop cleanly, and a manifest whose read blocks (a FIFO, a
    // hung network mount) must not make the process deaf to SIGTERM.
    let manifest = Manifest::load(manifest_path)?;
    let mut signals = StopSignals::listen()?;
    let mut options = GatewayOptions::new(&args.data_dir);
    options.uplink = uplink(args, &manifest)?;
    options.manifest_dir = manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    options.watch = Some(manifest_path.to_path_buf());
    options.trusted_keys = args.trusted_keys.clone();
    if let Some(mib) = args.pool_memory_mib
        && !ganglion::runtime::COMPILER
        && mib as usize * 1024 * 1024 != PRECOMPILED_MEMORY_RESERVATION
    {
        anyhow::bail!(
            "--pool-memory-mib {mib}: this runtime-only build's memory slots are {} MiB, the size precompiled modules are built for; a module that needs more memory runs with --no-pool",
            PRECOMPILED_MEMORY_RESERVATION / (1024 * 1024)
        );
    }
    options.allocation = allocation(args);
    options.metrics_addr = args.metrics_addr;
    let mut gateway = Gateway::start_with(&manifest, &options).await?;
    for (module, why) in gateway.failed_to_start() {
        tracing::error!(module = %module, "did not start: {why}");
    }
    tracing::info!(
        modules = manifest.modules.len(),
        routes = manifest.routes.len(),
        "gateway running on {}; Ctrl-C stops it",
        manifest_path.display()
    );
    let flow_every = args.flow_every;
    // The first observer of the accepted messages is the flow display. With
    // none, it goes: a receiver nobody reads would keep the last
    // UPSTREAM_OBSERVER_BACKLOG accepted messages in memory.
    let observer = gateway.subscribe_upstream();
    let mut display = (flow_every > 0).then(|| flow::spawn(observer));
    let mut ticks = tokio::time::interval(Duration::from_secs(flow_every.max(1)));
    ticks.tick().await;
    loop {
        tokio::select! {
            () = signals.recv() => break,
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

/// Ctrl-C (SIGINT) and SIGTERM, caught from the moment this is made (once
/// the manifest is read): one that comes while the gateway still starts (compiling its modules, say)
/// stops it cleanly once it has started, instead of killing it.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn listen() -> Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    /// Resolves on the first of them.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
