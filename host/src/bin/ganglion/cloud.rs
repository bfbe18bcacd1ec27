//! The operator's commands over the cloud broker: `ganglion twin get|set`,
//! `ganglion invoke`, `ganglion status`, `ganglion monitor` and
//! `ganglion deploy`. Each parses
//! its flags, opens one MQTT session with [`Session::connect`], calls
//! [`ganglion::operator`] and prints the result, for people or, with
//! `--json`, for programs.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ganglion::message::{now_ms, rfc3339};
use ganglion::operator::deploy::{self, ManifestText};
use ganglion::operator::method::{self, MethodRequest};
use ganglion::operator::push::{self, PushWaits};
use ganglion::operator::session::DEFAULT_RETAINED_WAIT;
use ganglion::operator::twin::{self, VersionedDoc};
use ganglion::operator::{BrokerSettings, Session, monitor, status};
use ganglion::uplink::tls::ClientCert;
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the cloud broker, and how to print.
#[derive(Args)]
pub struct BrokerArgs {
    /// The cloud broker, as mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS).
    #[arg(long, env = "GANGLION_BROKER", default_value = "mqtt://127.0.0.1:1883")]
    broker: String,
    /// PEM file with the CA certificates for the broker (mqtts://); the
    /// system's roots if not given.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// PEM client certificate, for X.509 authentication (with --key-file).
    #[arg(long, requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, requires = "cert_file")]
    key_file: Option<PathBuf>,
    /// User name for the broker. The password comes from the environment
    /// variable GANGLION_PASSWORD only, so that it never shows in the process
    /// list.
    #[arg(long)]
    username: Option<String>,
    /// Print JSON for programs instead of text for people.
    #[arg(long)]
    json: bool,
}

impl BrokerArgs {
    fn settings(&self) -> BrokerSettings {
        let mut settings = BrokerSettings::new(&self.broker);
        settings.ca_file = self.ca_file.clone();
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            settings.client_cert = Some(ClientCert {
                cert_file: cert.clone(),
                key_file: key.clone(),
            });
        }
        if let Some(user) = &self.username {
            let password = std::env::var("GANGLION_PASSWORD").unwrap_or_default();
            settings.credentials = Some((user.clone(), password));
        }
        settings
    }
}

/// Seconds to wait for the broker's retained documents after subscribing.
#[derive(Args)]
pub struct WaitArgs {
    /// Seconds to wait for the retained documents after the broker accepted
    /// the subscription (1 to 60); a document that has not arrived by then
    /// was never published.
    #[arg(long = "timeout", value_name = "SECS", default_value_t = DEFAULT_RETAINED_WAIT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=60))]
    secs: u64,
}

/// `ganglion twin ...`.
#[derive(Subcommand)]
pub enum TwinCommand {
    /// Show a twin's desired and reported properties, as the broker holds
    /// them. Without MODULE, the device twin (`$device`).
    Get {
        /// The device (gateway) id.
        device: String,
        /// The module whose twin to show; the device twin if not given.
        module: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Change a twin's desired properties with a JSON merge patch (`null`
    /// deletes a key), checked against the twin limits, and publish them
    /// with `$version` one higher. Prints the new version.
    Set {
        /// The device (gateway) id.
        device: String,
        /// `[MODULE] PATCH`: the module whose twin to change (the device
        /// twin if left out), and the patch as JSON text, `@FILE` or `@-`
        /// (standard input).
        #[arg(value_name = "[MODULE] PATCH", num_args = 1..=2, required = true)]
        rest: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        broker: BrokerArgs,
    },
}

/// `ganglion invoke`.
#[derive(Args)]
pub struct InvokeArgs {
    /// The device (gateway) id.
    device: String,
    /// The module.
    module: String,
    /// The method.
    method: String,
    /// The payload: JSON text, `@FILE` or `@-` (standard input); at most
    /// 128 KB.
    payload: String,
    /// Seconds the module may take (5 to 300); the command waits 5 s longer.
    #[arg(long, value_name = "SECS", default_value_t = ganglion::protocol::method::DEFAULT_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(5..=300))]
    timeout: u64,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// `ganglion status`.
#[derive(Args)]
pub struct StatusArgs {
    /// The device (gateway) id.
    device: String,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// `ganglion monitor`.
#[derive(Args)]
pub struct MonitorArgs {
    /// The device (gateway) id.
    device: String,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// `ganglion deploy`.
#[derive(Args)]
pub struct DeployArgs {
    /// The device (gateway) id.
    device: String,
    /// The manifest (TOML) to deploy. Module paths in it are resolved on the
    /// gateway, relative to the folder of the manifest it was started with.
    manifest: PathBuf,
    /// Seconds to wait for the gateway to report the deployment in its
    /// status (0: do not wait; exit once the broker has it).
    #[arg(long, value_name = "SECS", default_value_t = deploy::DEFAULT_STATUS_WAIT.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    wait: u64,
    /// Do not validate the manifest here first (for module files that exist
    /// on the gateway only); the gateway still validates it.
    #[arg(long)]
    no_check: bool,
    #[command(flatten)]
    retained: WaitArgs,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// `ganglion module push`.
#[derive(Args)]
pub struct PushArgs {
    /// The device (gateway) id.
    device: String,
    /// The module, as named in the device's deployment.
    module: String,
    /// The module's new .wasm file (FILE.sig goes with it when present).
    file: PathBuf,
    /// Seconds to wait for the gateway to check and store the artifact.
    #[arg(long, value_name = "SECS", default_value_t = push::DEFAULT_STORE_WAIT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    store_wait: u64,
    /// Seconds to wait for the gateway to report the deployment that runs
    /// it (0: do not wait).
    #[arg(long, value_name = "SECS", default_value_t = deploy::DEFAULT_STATUS_WAIT.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    wait: u64,
    #[command(flatten)]
    retained: WaitArgs,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// Runs `work` on a single-threaded runtime.
fn block_on<F: std::future::Future<Output = Result<()>>>(work: F) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

/// JSON text given inline, as `@FILE`, or as `@-` for standard input.
fn json_arg(what: &str, arg: &str) -> Result<String> {
    match arg.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .with_context(|| format!("cannot read {what} from standard input"))?;
            Ok(text)
        }
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {what} from `{path}`")),
        None => Ok(arg.to_string()),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn side_heading(name: &str, doc: &VersionedDoc) -> String {
    if doc.published {
        format!("{name} ($version {}):", doc.version)
    } else {
        format!("{name} ($version 0, never published):")
    }
}

/// `ganglion twin get|set`.
pub fn twin(command: TwinCommand) -> Result<()> {
    match command {
        TwinCommand::Get {
            device,
            module,
            wait,
            broker,
        } => block_on(async move {
            let twin_id = twin::twin_id(module.as_deref());
            let mut session = Session::connect(&broker.settings()).await?;
            let sides = twin::read_twin(
                &mut session,
                &device,
                twin_id,
                Duration::from_secs(wait.secs),
            )
            .await;
            session.disconnect().await;
            let sides = sides?;
            if broker.json {
                println!("{}", sides.to_json());
            } else {
                println!("twin `{twin_id}` of device `{device}`\n");
                for (name, doc) in [("desired", &sides.desired), ("reported", &sides.reported)] {
                    println!("{}", side_heading(name, doc));
                    println!("{}\n", pretty(&Value::Object(doc.properties.clone())));
                }
            }
            Ok(())
        }),
        TwinCommand::Set {
            device,
            rest,
            wait,
            broker,
        } => {
            let (module, patch) = match rest.as_slice() {
                [patch] => (None, patch),
                [module, patch] => (Some(module.as_str()), patch),
                _ => bail!("give [MODULE] PATCH"),
            };
            let twin_id = twin::twin_id(module).to_string();
            let patch = twin::parse_patch(&json_arg("the patch", patch)?)?;
            block_on(async move {
                let mut session = Session::connect(&broker.settings()).await?;
                let wait = Duration::from_secs(wait.secs);
                let next = twin::set_desired(&mut session, &device, &twin_id, &patch, wait).await;
                session.disconnect().await;
                let next = next?;
                if broker.json {
                    let out =
                        serde_json::json!({"version": next.version, "desired": next.to_json()});
                    println!("{out}");
                } else {
                    println!(
                        "twin `{twin_id}` of device `{device}`: desired $version {} published",
                        next.version
                    );
                }
                Ok(())
            })
        }
    }
}

/// `ganglion invoke`: exits 0 for a 2xx status, non-zero otherwise.
pub fn invoke(args: InvokeArgs) -> Result<()> {
    let payload = json_arg("the method payload", &args.payload)?;
    let request = MethodRequest::new(
        &args.device,
        &args.module,
        &args.method,
        &payload,
        args.timeout,
    )?;
    block_on(async move {
        let mut session = Session::connect(&args.broker.settings()).await?;
        let response = method::invoke(&mut session, &request).await;
        session.disconnect().await;
        let response = response?;
        if args.broker.json {
            println!("{}", response.to_json());
        } else {
            println!("status {}\n{}", response.status, pretty(&response.payload));
        }
        if !response.is_success() {
            let why = response
                .message()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            bail!(
                "method `{}` of module `{}` on device `{}` answered with status {}{why}",
                request.method,
                request.module,
                request.device,
                response.status
            );
        }
        Ok(())
    })
}

/// `ganglion status`.
pub fn status(args: StatusArgs) -> Result<()> {
    block_on(async move {
        let mut session = Session::connect(&args.broker.settings()).await?;
        let wait = Duration::from_secs(args.wait.secs);
        let found = status::read_status(&mut session, &args.device, wait).await;
        session.disconnect().await;
        let found = found?;
        if args.broker.json {
            println!("{}", found.document);
        } else {
            print!("{}", status::render(&found));
        }
        Ok(())
    })
}

/// `ganglion monitor`: until Ctrl-C.
pub fn monitor(args: MonitorArgs) -> Result<()> {
    block_on(async move {
        let mut session = Session::connect(&args.broker.settings()).await?;
        monitor::start(&mut session, &args.device).await?;
        eprintln!(
            "monitoring device `{}` on {}; Ctrl-C stops",
            args.device,
            session.broker()
        );
        let mut out = std::io::stdout().lock();
        let result = loop {
            let event = tokio::select! {
                r = tokio::signal::ctrl_c() => break r.context("cannot listen for Ctrl-C"),
                event = monitor::next_event(&mut session, &args.device) => event,
            };
            let event = match event {
                Ok(event) => event,
                Err(e) => break Err(e.into()),
            };
            let time = rfc3339(now_ms());
            let line = if args.broker.json {
                event.to_json(&time).to_string()
            } else {
                event.to_line(&time)
            };
            // A closed standard output (`| head`) ends the monitor quietly.
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                break Ok(());
            }
        };
        session.disconnect().await;
        result
    })
}

/// `ganglion deploy`: exits 0 once the gateway reports the deployment
/// applied (or, with `--wait 0`, once the broker has it), non-zero if the
/// gateway refused it or did not report it in time.
pub fn deploy(args: DeployArgs) -> Result<()> {
    // Checked before connecting: manifest errors show even with no broker.
    let manifest = ManifestText::read(&args.manifest, !args.no_check)?;
    block_on(async move {
        let mut session = Session::connect(&args.broker.settings()).await?;
        let status_wait = Duration::from_secs(args.wait);
        if !args.broker.json && !status_wait.is_zero() {
            eprintln!(
                "publishing {} for device `{}`; waiting up to {} s for the gateway to report it",
                manifest.path().display(),
                args.device,
                args.wait
            );
        }
        let outcome = deploy::deploy(
            &mut session,
            &args.device,
            &manifest,
            Duration::from_secs(args.retained.secs),
            status_wait,
        )
        .await;
        session.disconnect().await;
        let outcome = outcome?;
        let summary = outcome.summary();
        if args.broker.json {
            println!("{}", outcome.to_json());
        } else if outcome.report.is_some() || status_wait.is_zero() {
            println!("{summary}");
        }
        if status_wait.is_zero() || outcome.is_applied() {
            return Ok(());
        }
        match &outcome.report {
            // The summary went to standard output (unless --json).
            Some(_) if !args.broker.json => bail!(
                "device `{}` did not apply deployment version {}",
                args.device,
                outcome.version
            ),
            _ => bail!("{summary}"),
        }
    })
}

/// `ganglion module push DEVICE MODULE FILE`.
pub fn push(args: PushArgs) -> Result<()> {
    block_on(async move {
        let mut session = Session::connect(&args.broker.settings()).await?;
        let waits = PushWaits {
            retained: Duration::from_secs(args.retained.secs),
            stored: Duration::from_secs(args.store_wait),
            status: Duration::from_secs(args.wait),
        };
        if !args.broker.json {
            eprintln!(
                "pushing {} to module `{}` of device `{}`",
                args.file.display(),
                args.module,
                args.device
            );
        }
        let outcome = push::push(&mut session, &args.device, &args.module, &args.file, waits).await;
        session.disconnect().await;
        let outcome = outcome?;
        let deployment = &outcome.deployment;
        if args.broker.json {
            let mut doc = deployment.to_json();
            doc["digest"] = outcome.digest.clone().into();
            doc["size"] = outcome.size.into();
            doc["signed"] = outcome.signed.into();
            println!("{doc}");
        } else {
            println!(
                "stored {} ({} bytes in {} chunks, {}) on device `{}`",
                outcome.digest,
                outcome.size,
                outcome.chunks,
                if outcome.signed { "signed" } else { "unsigned" },
                args.device
            );
            println!("{}", deployment.summary());
        }
        if waits.status.is_zero() || deployment.is_applied() {
            return Ok(());
        }
        bail!(
            "device `{}` did not apply deployment version {} with the pushed module",
            args.device,
            deployment.version
        )
    })
}
