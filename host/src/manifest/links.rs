//! The manifest's connection tables: `[upstream]` (the cloud broker) and
//! `[ingest]` (the local broker where leaf devices publish). Relative file
//! paths are taken from the manifest's folder, and TLS files are read when
//! the manifest loads, so that a bad one is reported with its line.

use super::Collector;
use super::{IngestConfig, TopicFilter};
use crate::uplink::UplinkConfig;
use crate::uplink::tls::{self, ClientCert};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// The device id when neither the manifest nor the command line gives one.
pub const DEFAULT_DEVICE_ID: &str = "ganglion";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct IngestDto {
    url: String,
    topics: Vec<String>,
    client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct UpstreamDto {
    url: String,
    device_id: Option<String>,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    username: Option<String>,
    password_file: Option<String>,
    in_flight: Option<i64>,
}

pub(crate) fn validate_ingest(
    dto: &Spanned<IngestDto>,
    c: &mut Collector<'_>,
) -> Option<IngestConfig> {
    let span = dto.span();
    let d = dto.get_ref();
    let address = match UplinkConfig::from_url(&d.url, "ingest") {
        Ok(a) if a.tls.is_some() => {
            c.add(
                span.clone(),
                "ingest.url",
                "the local broker is reached without TLS: use mqtt://",
            );
            None
        }
        Ok(a) => Some((a.host, a.port)),
        Err(e) => {
            c.add(span.clone(), "ingest.url", e.reason);
            None
        }
    };
    let mut topics = Vec::new();
    for t in &d.topics {
        match TopicFilter::parse(t) {
            Ok(f) => topics.push(f),
            Err(e) => c.add(span.clone(), "ingest.topics", e),
        }
    }
    if d.topics.is_empty() {
        c.add(span, "ingest.topics", "give at least one topic filter");
    }
    let (host, port) = address?;
    Some(IngestConfig {
        host,
        port,
        client_id: d
            .client_id
            .clone()
            .unwrap_or_else(|| "ganglion-ingest".to_string()),
        topics,
    })
}

pub(crate) fn validate_upstream(
    dto: &Spanned<UpstreamDto>,
    base: &Path,
    c: &mut Collector<'_>,
) -> Option<UplinkConfig> {
    let span = dto.span();
    let d = dto.get_ref();
    let device_id = d.device_id.as_deref().unwrap_or(DEFAULT_DEVICE_ID);
    let mut config = match UplinkConfig::from_url(&d.url, device_id) {
        Ok(config) => config,
        Err(e) => {
            c.add(span, "upstream.url", e.reason);
            return None;
        }
    };
    let mut ok = true;
    if let Some(n) = d.in_flight {
        match u16::try_from(n) {
            Ok(n) if (1..=1024).contains(&n) => config.in_flight = n,
            _ => {
                c.add(span.clone(), "upstream.in-flight", "must be from 1 to 1024");
                ok = false;
            }
        }
    }
    match (&d.username, &d.password_file) {
        (Some(user), Some(file)) => match std::fs::read_to_string(base.join(file)) {
            Ok(password) => {
                config.credentials = Some((user.clone(), password.trim_end().to_string()));
            }
            Err(e) => {
                c.add(
                    span.clone(),
                    "upstream.password-file",
                    format!("cannot read `{file}`: {e}"),
                );
                ok = false;
            }
        },
        (Some(user), None) => config.credentials = Some((user.clone(), String::new())),
        (None, Some(_)) => {
            c.add(
                span.clone(),
                "upstream.password-file",
                "a password needs a `username`",
            );
            ok = false;
        }
        (None, None) => {}
    }
    let tls_files = d.ca_file.is_some() || d.cert_file.is_some() || d.key_file.is_some();
    match (config.tls.as_mut(), tls_files) {
        (None, true) => {
            c.add(
                span.clone(),
                "upstream.url",
                "TLS files are given, so the address must start with mqtts://",
            );
            ok = false;
        }
        (Some(settings), _) => {
            settings.ca_file = d.ca_file.as_ref().map(|f| base.join(f));
            match (&d.cert_file, &d.key_file) {
                (Some(cert), Some(key)) => {
                    settings.client_cert = Some(ClientCert {
                        cert_file: base.join(cert),
                        key_file: base.join(key),
                    });
                }
                (None, None) => {}
                _ => {
                    c.add(
                        span.clone(),
                        "upstream.cert-file",
                        "a client certificate needs both `cert-file` and `key-file`",
                    );
                    ok = false;
                }
            }
            if ok && let Err(e) = tls::client_config(settings) {
                c.add(span, "upstream", e.to_string());
                ok = false;
            }
        }
        (None, false) => {}
    }
    ok.then_some(config)
}
