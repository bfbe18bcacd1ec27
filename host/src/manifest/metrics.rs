//! The manifest's `[metrics]` table: the local HTTP endpoint (see
//! [`crate::web`]). The token file is read when the manifest loads, so a
//! missing or weak one is reported with its line.
//!
//! ```toml
//! [metrics]
//! addr = "0.0.0.0:9600"       # or "9600": loopback
//! token-file = "metrics.token" # relative to the manifest's folder
//! allow-anonymous = false      # true: serve a non-loopback address without a token
//!
//! [[metrics.chart]]             # a telemetry series on the local web page
//! route = "alerts"              # the route whose messages are read
//! path = "machine.temperature"  # a `$body` path to a number in their JSON
//! title = "Machine temperature" # optional: by default "alerts: machine.temperature"
//! ```

use super::Collector;
use crate::metrics::series::ChartSpec;
use crate::route::BodyPath;
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
    #[serde(default)]
    chart: Vec<Spanned<ChartDto>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChartDto {
    route: String,
    path: String,
    title: Option<String>,
}

/// The `[metrics]` table as the manifest gives it: the address may be left
/// to the command line (`--metrics-addr`), which also overrides it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsSettings {
    /// The address, if the manifest names one.
    pub addr: Option<std::net::SocketAddr>,
    /// The token read from `token-file`.
    pub token: Option<Token>,
    /// `allow-anonymous`.
    pub allow_anonymous: bool,
    /// The telemetry series the web page charts (`[[metrics.chart]]`).
    pub charts: Vec<ChartSpec>,
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
    routes: &[&str],
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
    let charts = d
        .chart
        .iter()
        .enumerate()
        .filter_map(|(i, chart)| validate_chart(i, chart, routes, c))
        .collect();
    let settings = MetricsSettings {
        addr,
        token,
        allow_anonymous: d.allow_anonymous,
        charts,
    };
    if d.token_file.is_none()
        && let Err(e) = settings.endpoint(None)
    {
        c.add(span, "metrics.addr", e);
    }
    settings
}

/// The `i`th `[[metrics.chart]]`: its route must be one of `routes`, and its
/// path one a route condition could write after `$body.`.
fn validate_chart(
    i: usize,
    dto: &Spanned<ChartDto>,
    routes: &[&str],
    c: &mut Collector<'_>,
) -> Option<ChartSpec> {
    let d = dto.get_ref();
    let field = |name: &str| format!("metrics.chart[{i}].{name}");
    let mut ok = true;
    if !routes.contains(&d.route.as_str()) {
        let known = if routes.is_empty() {
            "the manifest has no routes".to_string()
        } else {
            format!("the routes are {}", routes.join(", "))
        };
        c.add(
            dto.span(),
            field("route"),
            format!("no route is called `{}`: {known}", d.route),
        );
        ok = false;
    }
    let text = d.path.strip_prefix("$body.").unwrap_or(&d.path);
    let path = BodyPath::compile(text);
    if path.is_none() {
        c.add(
            dto.span(),
            field("path"),
            format!(
                "`{}` is not a body path (names separated by `.`, each with at most one `[index]`, as in `machine.temperature`)",
                d.path
            ),
        );
    }
    let path = path.filter(|_| ok)?;
    let title = d
        .title
        .clone()
        .unwrap_or_else(|| format!("{}: {}", d.route, path.text));
    Some(ChartSpec {
        route: d.route.clone(),
        path,
        title,
    })
}
