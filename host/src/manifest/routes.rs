//! The `[routes]` table: each route is a string, or a table with `route`,
//! `priority` (0–9, 0 highest) and `time-to-live-secs`, as in Azure IoT Edge's
//! route objects.

use super::{Collector, ModuleDto, RouteSpec};
use crate::route::{Sink, parse_route};
use indexmap::IndexMap;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// The lowest priority a route may have (0 is the highest).
pub const LOWEST_PRIORITY: u8 = 9;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RouteObject {
    route: String,
    priority: Option<i64>,
    time_to_live_secs: Option<i64>,
}

/// What one `[routes]` entry says, before the route text is compiled.
struct Entry {
    text: String,
    priority: Option<u8>,
    time_to_live: Option<Duration>,
}

fn read_entry(value: &toml::Value) -> Result<Entry, String> {
    let object = match value {
        toml::Value::String(text) => {
            return Ok(Entry {
                text: text.clone(),
                priority: None,
                time_to_live: None,
            });
        }
        toml::Value::Table(_) => {
            RouteObject::deserialize(value.clone()).map_err(|e| e.message().trim().to_string())?
        }
        _ => {
            return Err(
                "a route must be a string, or a table with `route`, `priority` and `time-to-live-secs`"
                    .to_string(),
            );
        }
    };
    let priority = match object.priority {
        None => None,
        Some(p) => Some(
            u8::try_from(p)
                .ok()
                .filter(|p| *p <= LOWEST_PRIORITY)
                .ok_or_else(|| {
                    format!("priority must be 0 (highest) to {LOWEST_PRIORITY}, not {p}")
                })?,
        ),
    };
    let time_to_live = match object.time_to_live_secs {
        None => None,
        Some(s) => Some(Duration::from_secs(u64::try_from(s).map_err(|_| {
            format!("time-to-live-secs must not be negative, not {s}")
        })?)),
    };
    Ok(Entry {
        text: object.route,
        priority,
        time_to_live,
    })
}

/// Validates every route; problems go to `c`.
pub(super) fn validate(
    routes: &IndexMap<String, Spanned<toml::Value>>,
    modules: &IndexMap<String, Spanned<ModuleDto>>,
    c: &mut Collector<'_>,
) -> Vec<RouteSpec> {
    let mut specs = Vec::new();
    for (name, value) in routes {
        let field = format!("routes.{name}");
        let span = value.span();
        if name.trim().is_empty() {
            c.add(span.clone(), &field, "a route name must not be empty");
        }
        let entry = match read_entry(value.get_ref()) {
            Ok(entry) => entry,
            Err(e) => {
                c.add(span, &field, e);
                continue;
            }
        };
        let route = match parse_route(&entry.text) {
            Ok(route) => route,
            Err(e) => {
                c.add(span, &field, format!("in the route, {e}"));
                continue;
            }
        };
        if let Some(m) = route.source.module()
            && !modules.contains_key(m)
        {
            c.add(
                span.clone(),
                &field,
                format!("FROM names module `{m}`, which is not in [modules]"),
            );
        }
        if let Sink::ModuleInput(m, _) = &route.sink
            && !modules.contains_key(m)
        {
            c.add(
                span.clone(),
                &field,
                format!("INTO names module `{m}`, which is not in [modules]"),
            );
        }
        specs.push(RouteSpec {
            name: name.clone(),
            text: entry.text,
            route,
            priority: entry.priority,
            time_to_live: entry.time_to_live,
        });
    }
    specs
}
