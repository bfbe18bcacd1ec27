//! Importing an Azure IoT Edge deployment manifest (`deployment.json`) into a
//! ganglion manifest: the `$edgeHub` routes (string and object forms) and
//! store-and-forward settings, and the `$edgeAgent` modules with their `env`,
//! `status` and `restartPolicy`. What only Docker understands (image, createOptions, ...) cannot be
//! carried; each such setting gets a warning that names it. Module sources are
//! left empty for the operator to fill with the component's path.

use serde_json::{Map, Value};

/// An imported manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The ganglion manifest, as TOML text.
    pub toml: String,
    /// One line per setting that could not be carried.
    pub warnings: Vec<String>,
}

/// Why a deployment could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not JSON.
    #[error("the deployment is not JSON: {0}")]
    Json(String),
    /// JSON, but not of a deployment's shape.
    #[error("the deployment has no {0}")]
    Missing(&'static str),
    /// A field of the wrong type.
    #[error("{field}: {expected}")]
    Invalid {
        /// The JSON path of the field.
        field: String,
        /// What it should be.
        expected: String,
    },
    /// The result could not be written as TOML.
    #[error("cannot write the manifest: {0}")]
    Toml(String),
}

fn invalid(field: impl Into<String>, expected: &str) -> ImportError {
    ImportError::Invalid {
        field: field.into(),
        expected: expected.to_string(),
    }
}

/// `properties.desired` of a system module: under `modulesContent`, or at the
/// top level (the form `az iot edge set-modules` also takes).
fn desired<'a>(root: &'a Value, module: &str) -> Option<&'a Map<String, Value>> {
    root.get("modulesContent")
        .unwrap_or(root)
        .get(module)?
        .get("properties.desired")?
        .as_object()
}

/// Converts deployment JSON text into a ganglion manifest.
pub fn import_azure(json: &str) -> Result<Imported, ImportError> {
    let root: Value = serde_json::from_str(json).map_err(|e| ImportError::Json(e.to_string()))?;
    let hub = desired(&root, "$edgeHub");
    let agent = desired(&root, "$edgeAgent");
    if hub.is_none() && agent.is_none() {
        return Err(ImportError::Missing(
            "modulesContent.$edgeHub or modulesContent.$edgeAgent with properties.desired",
        ));
    }
    let mut warnings = Vec::new();
    let mut manifest = toml::Table::new();
    if let Some(agent) = agent {
        let modules = import_modules(agent, &mut warnings)?;
        if !modules.is_empty() {
            manifest.insert("modules".into(), toml::Value::Table(modules));
        }
        for key in ["runtime", "systemModules"] {
            if agent.contains_key(key) {
                warnings.push(format!(
                    "$edgeAgent.{key}: not carried; ganglion is itself the runtime and the hub"
                ));
            }
        }
    }
    if let Some(hub) = hub {
        let routes = import_routes(hub)?;
        if !routes.is_empty() {
            manifest.insert("routes".into(), toml::Value::Table(routes));
        }
        if let Some(saf) = hub.get("storeAndForwardConfiguration") {
            let ttl = saf
                .get("timeToLiveSecs")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    invalid(
                        "$edgeHub.storeAndForwardConfiguration.timeToLiveSecs",
                        "must be a whole number of seconds",
                    )
                })?;
            let mut table = toml::Table::new();
            table.insert("time-to-live-secs".into(), toml::Value::Integer(ttl));
            manifest.insert("store-and-forward".into(), toml::Value::Table(table));
        }
    }
    // A module's own desired properties: its twin, which the cloud sets.
    let content = root.get("modulesContent").unwrap_or(&root);
    for (module, twin) in content.as_object().into_iter().flatten() {
        if !module.starts_with('$') && twin.get("properties.desired").is_some() {
            warnings.push(format!(
                "modulesContent.{module}.properties.desired: not carried; it is the module's desired twin: once deployed, set it with `ganglion twin set DEVICE {module} '<json>'`"
            ));
        }
    }
    let body = toml::to_string(&manifest).map_err(|e| ImportError::Toml(e.to_string()))?;
    let mut text = String::from(
        "# Imported from an Azure IoT Edge deployment by `ganglion manifest import`.\n\
         # Fill in each module's `path` with its WebAssembly component.\n",
    );
    for w in &warnings {
        text.push_str(&format!("# warning: {w}\n"));
    }
    text.push('\n');
    text.push_str(&body);
    Ok(Imported {
        toml: text,
        warnings,
    })
}

/// Module settings that only Docker understands.
const DOCKER_ONLY: &[&str] = &["version", "type", "startupOrder", "imagePullPolicy"];

fn import_modules(
    agent: &Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<toml::Table, ImportError> {
    let mut out = toml::Table::new();
    let Some(modules) = agent.get("modules") else {
        return Ok(out);
    };
    let modules = modules
        .as_object()
        .ok_or_else(|| invalid("$edgeAgent.modules", "must be an object"))?;
    for (name, module) in modules {
        let field = format!("$edgeAgent.modules.{name}");
        let module = module
            .as_object()
            .ok_or_else(|| invalid(&field, "must be an object"))?;
        let mut table = toml::Table::new();
        table.insert("path".into(), toml::Value::String(String::new()));
        match module.get("status").map(|s| (s, s.as_str())) {
            None | Some((_, Some("running"))) => {}
            Some((_, Some("stopped"))) => {
                table.insert("status".into(), toml::Value::String("stopped".into()));
            }
            Some((v, _)) => warnings.push(format!(
                "{field}.status: `{v}` not carried (running or stopped)"
            )),
        }
        match module.get("restartPolicy").map(|p| (p, p.as_str())) {
            None => {}
            Some((_, Some(policy @ ("never" | "on-failure" | "always")))) => {
                table.insert(
                    "restart-policy".into(),
                    toml::Value::String(policy.to_string()),
                );
            }
            Some((v, _)) => warnings.push(format!(
                "{field}.restartPolicy: `{v}` not carried (never, on-failure or always); on-failure applies"
            )),
        }
        if let Some(env) = module.get("env") {
            let env = env
                .as_object()
                .ok_or_else(|| invalid(format!("{field}.env"), "must be an object"))?;
            let mut config = toml::Table::new();
            for (key, entry) in env {
                let value = entry.get("value").unwrap_or(entry);
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(invalid(
                            format!("{field}.env.{key}"),
                            "must be {\"value\": <string, number or boolean>}",
                        ));
                    }
                };
                config.insert(key.clone(), toml::Value::String(text));
            }
            if !config.is_empty() {
                table.insert("config".into(), toml::Value::Table(config));
            }
        }
        if let Some(settings) = module.get("settings").and_then(Value::as_object) {
            for key in settings.keys() {
                let what = match key.as_str() {
                    "image" => format!(
                        " (was {}); set `path` to the module's component",
                        settings.get("image").and_then(Value::as_str).unwrap_or("?")
                    ),
                    _ => String::new(),
                };
                warnings.push(format!(
                    "{field}.settings.{key}: Docker-only, not carried{what}"
                ));
            }
        }
        for key in module.keys() {
            if DOCKER_ONLY.contains(&key.as_str()) {
                warnings.push(format!("{field}.{key}: not carried"));
            }
        }
        out.insert(name.clone(), toml::Value::Table(table));
    }
    Ok(out)
}

fn import_routes(hub: &Map<String, Value>) -> Result<toml::Table, ImportError> {
    let mut out = toml::Table::new();
    let Some(routes) = hub.get("routes") else {
        return Ok(out);
    };
    let routes = routes
        .as_object()
        .ok_or_else(|| invalid("$edgeHub.routes", "must be an object"))?;
    for (name, route) in routes {
        let field = format!("$edgeHub.routes.{name}");
        let value = match route {
            Value::String(text) => toml::Value::String(text.clone()),
            Value::Object(obj) => {
                let text = obj
                    .get("route")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{field}.route"), "must be a string"))?;
                let mut table = toml::Table::new();
                table.insert("route".into(), toml::Value::String(text.to_string()));
                for (from, to) in [
                    ("priority", "priority"),
                    ("timeToLiveSecs", "time-to-live-secs"),
                ] {
                    if let Some(v) = obj.get(from) {
                        let n = v.as_i64().ok_or_else(|| {
                            invalid(format!("{field}.{from}"), "must be a whole number")
                        })?;
                        table.insert(to.into(), toml::Value::Integer(n));
                    }
                }
                toml::Value::Table(table)
            }
            _ => return Err(invalid(&field, "must be a string or a route object")),
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}
