//! The manifest's `[metrics]` table: the local HTTP endpoint (see
//! [`crate::web`]). The token file is read when the manifest loads, so a
//! missing or weak one is reported with its line.
//!
//! ```toml
//! [metrics]
//! addr = "0.0.0.0:9600"       # or "9600": loopback
//! token-file = "metrics.token" # relative to the manifest's folder
//! allow-anonymous = false      # true: serve a non-loopback address without a token
//! ```

use super::Collector;
use crate::web::access::{EndpointConfig, Token, parse_addr};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct MetricsDto {
    addr: Option<String>,
    token_file: Option<String>,
    #[serde(default)]
    allow_anonymous: bool,
}

/// The `[metrics]` table as the manifest gives it: the address may be left
/// to the command line (`--metrics-addr`), which also overrides it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsSettings {
    /// The address, if the manifest names one.
    pub addr: Option<std::net::SocketAddr>,
    /// The token read from `token-file`.
    pub token: Option<Token>,
    /// `allow-anonymous`.
    pub allow_anonymous: bool,
}

impl MetricsSettings {
    /// The endpoint to run: at `cli_addr` if given, else at the manifest's
    /// address; none if neither names one. Refused if the address is
    /// reachable from other machines with neither a token nor
    /// `allow-anonymous`.
    pub fn endpoint(
        &self,
        cli_addr: Option<std::net::SocketAddr>,
    ) -> Result<Option<EndpointConfig>, String> {
        let Some(addr) = cli_addr.or(self.addr) else {
            return Ok(None);
        };
        EndpointConfig::new(addr, self.token.clone(), self.allow_anonymous).map(Some)
    }
}

pub(crate) fn validate(
    dto: &Spanned<MetricsDto>,
    base: &Path,
    c: &mut Collector<'_>,
) -> MetricsSettings {
    let span = dto.span();
    let d = dto.get_ref();
    let addr = d.addr.as_deref().and_then(|a| match parse_addr(a) {
        Ok(addr) => Some(addr),
        Err(e) => {
            c.add(span.clone(), "metrics.addr", e);
            None
        }
    });
    let token = d.token_file.as_deref().and_then(|file| {
        let path = base.join(file);
        let read = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| Token::from_file_text(&text));
        match read {
            Ok(t) => Some(t),
            Err(e) => {
                c.add(span.clone(), "metrics.token-file", e);
                None
            }
        }
    });
    let settings = MetricsSettings {
        addr,
        token,
        allow_anonymous: d.allow_anonymous,
    };
    if d.token_file.is_none()
        && let Err(e) = settings.endpoint(None)
    {
        c.add(span, "metrics.addr", e);
    }
    settings
}
