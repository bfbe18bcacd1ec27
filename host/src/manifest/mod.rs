//! The deployment manifest (TOML): the modules to run and the routes between
//! them. It is read into private DTOs that refuse unknown fields, then validated
//! into the public [`Manifest`]. Every problem names the file, line, column and
//! field at fault, and all of them are reported at once.
//!
//! ```toml
//! [modules.temp-sensor]
//! path = "temp_sensor.wasm"            # relative to the manifest's folder, or
//! # artifact = "sha256:<hex>"          # an artifact pushed with `ganglion module push`
//! config = { interval-ms = 1000 }      # strings, numbers or booleans
//! memory-mib = 32                      # limits and restart policy: see below
//! restart-policy = "on-failure"
//!
//! [routes]
//! to-cloud = "FROM /messages/modules/temp-sensor/* INTO $upstream"
//! urgent = { route = "FROM /messages/* WHERE alarm = 'fire' INTO $upstream", priority = 0, time-to-live-secs = 86400 }
//! ```
//!
//! A module's limits and restart keys, with their defaults: `memory-mib` (64),
//! `cpu-deadline-ms` (1000), `queue-length` (256; when full, a new message is
//! dropped and counted), `restart-policy` (`never`, `on-failure` (the default)
//! or `always`), `restart-backoff-base-ms` (1000), `restart-backoff-cap-ms`
//! (60000) and `restart-stable-secs` (60). See [`ModuleSpec`].
//!
//! A module sees no files, no environment and no network unless its
//! `[modules.NAME.grants]` table grants directories (`dirs`) or environment
//! variables (`env`); network access is never granted in this version. See
//! [`crate::runtime::grants`].
//!
//! Besides the modules and routes: `[store-and-forward]` (the `$upstream`
//! queue), `[upstream]` (the cloud broker), `[ingest]` (leaf devices on the
//! local broker) and `[metrics]` (the local HTTP endpoint: `addr`,
//! `token-file`, `allow-anonymous`, and `[[metrics.chart]]` series for the
//! web page; see `metrics.rs`).

mod grants;
pub mod import;
mod ingest;
mod links;
mod metrics;

pub use ingest::{IngestConfig, TopicFilter};
pub use links::DEFAULT_DEVICE_ID;
pub use metrics::MetricsSettings;
mod lifecycle;
mod routes;
mod store;

pub use store::{DEFAULT_QUEUE_BYTES, DEFAULT_TIME_TO_LIVE, StoreAndForward};

use crate::artifact::pushed::digest_hex;
use crate::route::RouteSpec;
use crate::runtime::Limits;
use crate::runtime::grants::Grants;
use crate::runtime::storage::DEFAULT_STORAGE_QUOTA;
use crate::supervisor::policy::Restart;
use crate::uplink::UplinkConfig;
use indexmap::IndexMap;
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The longest module name.
pub const MAX_MODULE_NAME: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestDto {
    #[serde(default)]
    modules: IndexMap<String, Spanned<ModuleDto>>,
    #[serde(default)]
    routes: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default, rename = "store-and-forward")]
    store_and_forward: Option<Spanned<store::StoreAndForwardDto>>,
    #[serde(default)]
    ingest: Option<Spanned<links::IngestDto>>,
    #[serde(default)]
    upstream: Option<Spanned<links::UpstreamDto>>,
    #[serde(default)]
    metrics: Option<Spanned<metrics::MetricsDto>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModuleDto {
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    artifact: Option<Spanned<String>>,
    #[serde(default)]
    status: Option<Spanned<String>>,
    #[serde(default, rename = "storage-quota-bytes")]
    storage_quota_bytes: Option<Spanned<i64>>,
    #[serde(default, rename = "memory-mib")]
    memory_mib: Option<Spanned<i64>>,
    #[serde(default, rename = "cpu-deadline-ms")]
    cpu_deadline_ms: Option<Spanned<i64>>,
    #[serde(default, rename = "queue-length")]
    queue_length: Option<Spanned<i64>>,
    #[serde(default, rename = "restart-policy")]
    restart_policy: Option<Spanned<String>>,
    #[serde(default, rename = "restart-backoff-base-ms")]
    restart_backoff_base_ms: Option<Spanned<i64>>,
    #[serde(default, rename = "restart-backoff-cap-ms")]
    restart_backoff_cap_ms: Option<Spanned<i64>>,
    #[serde(default, rename = "restart-stable-secs")]
    restart_stable_secs: Option<Spanned<i64>>,
    #[serde(default)]
    config: IndexMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    grants: Option<Spanned<grants::GrantsDto>>,
}

/// A validated deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The modules, in manifest order.
    pub modules: Vec<ModuleSpec>,
    /// The routes, in manifest order.
    pub routes: Vec<RouteSpec>,
    /// The `$upstream` queue's settings.
    pub store_and_forward: StoreAndForward,
    /// Leaf-device ingest from the local broker (`[ingest]`), if configured.
    pub ingest: Option<IngestConfig>,
    /// The cloud broker (`[upstream]`), if configured; the command line's
    /// `--upstream` takes precedence.
    pub upstream: Option<UplinkConfig>,
    /// The local metrics endpoint (`[metrics]`); `--metrics-addr` sets or
    /// overrides its address.
    pub metrics: MetricsSettings,
}

/// Whether a module should run (`status` in the manifest, as in Azure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DesiredStatus {
    /// Started with the gateway (the default).
    #[default]
    Running,
    /// Loaded and checked but not started; messages routed to it are dropped
    /// and counted.
    Stopped,
}

/// Where a module's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// `path = "..."`: a file, resolved against the manifest's folder.
    File(PathBuf),
    /// `artifact = "sha256:<hex>"`: an artifact pushed to the gateway
    /// through the broker (`ganglion module push`), named by its digest.
    Pushed {
        /// `sha256:<hex>`.
        digest: String,
    },
}

impl fmt::Display for ModuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModuleSource::File(path) => write!(f, "{}", path.display()),
            ModuleSource::Pushed { digest } => f.write_str(digest),
        }
    }
}

/// One module of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSpec {
    /// Its name: letters, digits, `-`, `_` and `.`, at most 64.
    pub name: String,
    /// Where its component comes from: a file (`path`) or an artifact
    /// pushed to the gateway (`artifact`).
    pub source: ModuleSource,
    /// The configuration handed to `init`, as strings, in manifest order.
    pub config: Vec<(String, String)>,
    /// Whether it should run.
    pub status: DesiredStatus,
    /// The most bytes its private storage may hold (`storage-quota-bytes`,
    /// default 4 MiB).
    pub storage_quota: u64,
    /// Its memory limit (`memory-mib`, default 64) and CPU deadline per call
    /// (`cpu-deadline-ms`, default 1000).
    pub limits: Limits,
    /// The length of its input queue (`queue-length`, default 256). When the
    /// queue is full, a new message for it is dropped and counted
    /// (`dropped_queue_full`); the queue keeps what it holds.
    pub queue_length: usize,
    /// When an instance that ended is made again, and how soon
    /// (`restart-policy`, default `on-failure`; `restart-backoff-base-ms`,
    /// default 1000; `restart-backoff-cap-ms`, default 60000;
    /// `restart-stable-secs`, default 60).
    pub restart: Restart,
    /// The host directories and environment variables it may see
    /// (`[modules.NAME.grants]`, default none). It never has network access.
    pub grants: Grants,
}

/// One thing wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file.
    pub line: usize,
    /// 1-based column in the file.
    pub column: usize,
    /// The field at fault, such as `routes.to-cloud` or `modules.filter.path`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest has problems.
    #[error("{}", render_problems(.path, .problems))]
    Invalid {
        /// The file.
        path: String,
        /// Each problem.
        problems: Vec<Problem>,
    },
}

impl ManifestError {
    /// The problems, if the manifest was read but is invalid.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ManifestError::Invalid { problems, .. } => problems,
            ManifestError::Read { .. } => &[],
        }
    }
}

fn render_problems(path: &str, problems: &[Problem]) -> String {
    let mut out = format!(
        "manifest {path} has {} problem{}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!("\n  {path}:{}:{}: {p}", p.line, p.column));
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Turns byte offsets into 1-based line and column numbers.
struct Lines<'t> {
    text: &'t str,
}

impl Lines<'_> {
    fn at(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }
}

pub(crate) struct Collector<'t> {
    lines: Lines<'t>,
    problems: Vec<Problem>,
}

impl Collector<'_> {
    pub(crate) fn add(
        &mut self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = self.lines.at(span.start);
        self.problems.push(Problem {
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }
}

/// Whether `name` is a valid module name.
pub fn valid_module_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_MODULE_NAME {
        return Err(format!(
            "a module name must have 1 to {MAX_MODULE_NAME} characters"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "a module name may have only letters, digits, `-`, `_` and `.`, not {c:?}"
        ));
    }
    Ok(())
}

fn config_value(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

impl Manifest {
    /// Reads and validates the manifest at `path`. Module paths are resolved
    /// against the manifest's folder.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Manifest::parse(&text, &path.display().to_string(), base)
    }

    /// Validates manifest `text`. `name` is how errors refer to it; module paths
    /// are resolved against `base`.
    pub fn parse(text: &str, name: &str, base: &Path) -> Result<Manifest, ManifestError> {
        let mut c = Collector {
            lines: Lines { text },
            problems: Vec::new(),
        };
        let dto: ManifestDto = match toml::from_str(text) {
            Ok(dto) => dto,
            Err(e) => {
                c.add(e.span().unwrap_or(0..0), "", e.message().trim().to_string());
                return Err(ManifestError::Invalid {
                    path: name.to_string(),
                    problems: c.problems,
                });
            }
        };
        let modules = validate_modules(&dto, base, &mut c);
        let routes = routes::validate(&dto.routes, &dto.modules, &mut c);
        let store_and_forward = store::validate(dto.store_and_forward.as_ref(), &mut c);
        let ingest = dto
            .ingest
            .as_ref()
            .and_then(|i| links::validate_ingest(i, &mut c));
        let upstream = dto
            .upstream
            .as_ref()
            .and_then(|u| links::validate_upstream(u, base, &mut c));
        let metrics = dto
            .metrics
            .as_ref()
            .map(|m| {
                let names: Vec<&str> = dto.routes.keys().map(String::as_str).collect();
                metrics::validate(m, base, &names, &mut c)
            })
            .unwrap_or_default();
        if c.problems.is_empty() {
            Ok(Manifest {
                modules,
                routes,
                store_and_forward,
                ingest,
                upstream,
                metrics,
            })
        } else {
            c.problems.sort_by_key(|p| (p.line, p.column));
            Err(ManifestError::Invalid {
                path: name.to_string(),
                problems: c.problems,
            })
        }
    }

    /// The module called `name`.
    pub fn module(&self, name: &str) -> Option<&ModuleSpec> {
        self.modules.iter().find(|m| m.name == name)
    }
}

/// Validates a module's `path` or `artifact` (exactly one of them).
fn module_source(
    field: &str,
    span: Range<usize>,
    m: &ModuleDto,
    base: &Path,
    c: &mut Collector<'_>,
) -> ModuleSource {
    match (&m.path, &m.artifact) {
        (Some(raw), None) => {
            let path = base.join(raw.get_ref());
            if raw.get_ref().trim().is_empty() {
                c.add(raw.span(), format!("{field}.path"), "the path is empty");
            } else if !path.is_file() {
                c.add(
                    raw.span(),
                    format!("{field}.path"),
                    format!("no such file: {}", path.display()),
                );
            }
            ModuleSource::File(path)
        }
        (None, Some(digest)) => {
            if digest_hex(digest.get_ref()).is_none() {
                c.add(
                    digest.span(),
                    format!("{field}.artifact"),
                    format!(
                        "`{}` is not a content address: `sha256:` and 64 lowercase hex digits",
                        digest.get_ref()
                    ),
                );
            }
            ModuleSource::Pushed {
                digest: digest.get_ref().clone(),
            }
        }
        (Some(_), Some(artifact)) => {
            c.add(
                artifact.span(),
                format!("{field}.artifact"),
                "give `path` or `artifact`, not both",
            );
            ModuleSource::Pushed {
                digest: artifact.get_ref().clone(),
            }
        }
        (None, None) => {
            c.add(
                span,
                field.to_string(),
                "a module needs `path` (a component file) or `artifact` (the digest of a pushed one)",
            );
            ModuleSource::File(PathBuf::new())
        }
    }
}

fn validate_modules(dto: &ManifestDto, base: &Path, c: &mut Collector<'_>) -> Vec<ModuleSpec> {
    let mut modules = Vec::new();
    for (name, module) in &dto.modules {
        let field = format!("modules.{name}");
        if let Err(e) = valid_module_name(name) {
            c.add(module.span(), &field, e);
        }
        let m = module.get_ref();
        let source = module_source(&field, module.span(), m, base, c);
        let mut config = Vec::new();
        for (key, value) in &m.config {
            match config_value(value.get_ref()) {
                Some(v) => config.push((key.clone(), v)),
                None => c.add(
                    value.span(),
                    format!("{field}.config.{key}"),
                    "a config value must be a string, number, boolean or date, not an array or table",
                ),
            }
        }
        let status = match m.status.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("running", _)) => DesiredStatus::Running,
            Some(("stopped", _)) => DesiredStatus::Stopped,
            Some((other, span)) => {
                c.add(
                    span,
                    format!("{field}.status"),
                    format!("status must be `running` or `stopped`, not `{other}`"),
                );
                DesiredStatus::Running
            }
        };
        let storage_quota = match &m.storage_quota_bytes {
            None => DEFAULT_STORAGE_QUOTA,
            Some(q) => match u64::try_from(*q.get_ref()) {
                Ok(bytes) => bytes,
                Err(_) => {
                    c.add(
                        q.span(),
                        format!("{field}.storage-quota-bytes"),
                        format!("must not be negative, not {}", q.get_ref()),
                    );
                    0
                }
            },
        };
        let lifecycle = lifecycle::validate(&field, m, c);
        modules.push(ModuleSpec {
            name: name.clone(),
            source,
            config,
            status,
            storage_quota,
            limits: lifecycle.limits,
            queue_length: lifecycle.queue_length,
            restart: lifecycle.restart,
            grants: grants::validate(&field, m.grants.as_ref(), base, c),
        });
    }
    modules
}
