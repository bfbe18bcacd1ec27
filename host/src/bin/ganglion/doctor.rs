//! `ganglion doctor`: the checks of `ganglion::doctor` run on this device,
//! with `ganglion run`'s flags, so that the same command line (or the same
//! environment of a systemd unit) is checked before it runs.

use crate::run::{RunArgs, allocation, uplink};
use anyhow::{Context, Result};
use ganglion::Manifest;
use ganglion::doctor::{self, Finding, Verdict};
use ganglion::runtime::alloc::address_space_left;
use rumqttc::v5::MqttOptions;
use std::time::SystemTime;

/// Runs every check and prints one line per check (and the fix under each
/// that is not fine). Returns whether none failed.
pub fn doctor(args: &RunArgs) -> Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let findings = runtime.block_on(findings(args));
    for finding in &findings {
        println!("{finding}");
    }
    let failed = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .count();
    let warned = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Warn)
        .count();
    println!(
        "{} checks: {failed} failed, {warned} to look at",
        findings.len()
    );
    Ok(failed == 0)
}

async fn findings(args: &RunArgs) -> Vec<Finding> {
    let manifest = Manifest::load(&args.manifest);
    let mut out = vec![match &manifest {
        Ok(m) => Finding {
            check: "manifest",
            verdict: Verdict::Ok,
            detail: format!(
                "{}: {} module(s), {} route(s)",
                args.manifest.display(),
                m.modules.len(),
                m.routes.len()
            ),
            fix: None,
        },
        Err(e) => Finding {
            check: "manifest",
            verdict: Verdict::Fail,
            detail: e.to_string(),
            fix: Some("correct the manifest; the checks that need it are skipped".into()),
        },
    }];
    let dir = &args.data_dir;
    out.push(doctor::data_dir(dir));
    if let Ok(m) = &manifest {
        out.push(doctor::free_space(
            dir,
            doctor::space_needed(m),
            doctor::available_bytes(dir),
        ));
        out.push(doctor::address_space(
            m,
            allocation(args),
            address_space_left(),
            doctor::overcommit_memory(),
        ));
    }
    out.push(doctor::clock(SystemTime::now(), doctor::newest_in(dir)));
    if let Ok(m) = &manifest {
        out.push(cloud(args, m).await);
        if let Some(ingest) = &m.ingest {
            let address = format!("mqtt://{}:{}", ingest.host, ingest.port);
            let options = MqttOptions::new(
                format!("{}-doctor", ingest.client_id),
                &ingest.host,
                ingest.port,
            );
            out.push(doctor::broker("local broker", &address, options).await);
        }
    }
    out.push(doctor::trusted_keys(args.trusted_keys.as_deref()));
    out
}

/// The cloud broker's check: the manifest's `[upstream]` with the flags'
/// overrides, as `ganglion run` would connect.
async fn cloud(args: &RunArgs, manifest: &Manifest) -> Finding {
    const CHECK: &str = "cloud broker";
    let config = match uplink(args, manifest) {
        Ok(Some(config)) => config,
        Ok(None) => {
            return Finding {
                check: CHECK,
                verdict: Verdict::Ok,
                detail: "none set: $upstream messages wait in the queue (give --upstream or [upstream] url)".into(),
                fix: None,
            };
        }
        Err(e) => {
            return Finding {
                check: CHECK,
                verdict: Verdict::Fail,
                detail: format!("{e:#}"),
                fix: Some("correct --upstream, the TLS files or [upstream]".into()),
            };
        }
    };
    let scheme = if config.tls.is_some() {
        "mqtts"
    } else {
        "mqtt"
    };
    let address = format!("{scheme}://{}:{}", config.host, config.port);
    match doctor::cloud_probe(&config) {
        Ok(options) => doctor::broker(CHECK, &address, options).await,
        Err(e) => Finding {
            check: CHECK,
            verdict: Verdict::Fail,
            detail: format!("{address}: {e}"),
            fix: Some("correct the TLS files (--ca-file, --cert-file, --key-file)".into()),
        },
    }
}
