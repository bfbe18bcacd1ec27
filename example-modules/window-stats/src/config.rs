//! [`Settings`]: the module's configuration, from the deployment manifest's
//! `config` and overridden by the desired twin, validated in one place so
//! that both sources are refused the same way.

use crate::window::Spec;
use ganglion_sdk::Config;
use serde_json::{Map, Value, json};

/// Window length in ms.
pub const SIZE: &str = "window-size-ms";
/// Distance between window starts in ms (defaults to the size: tumbling).
pub const HOP: &str = "hop-ms";
/// Late tolerance in ms.
pub const TOLERANCE: &str = "late-tolerance-ms";
/// The numeric fields to aggregate: dotted JSON paths.
pub const FIELDS: &str = "fields";
/// What the aggregates are grouped by.
pub const KEY_BY: &str = "key-by";
/// A body field with the event time, used when a message has no creation time.
pub const TIME_FIELD: &str = "time-field";
/// The cap on open (window, key) aggregates.
pub const MAX_OPEN: &str = "max-open-windows";
/// The processing-time timer's interval in ms (0: no timer).
pub const FLUSH: &str = "flush-interval-ms";

const KEYS: [&str; 8] = [
    SIZE, HOP, TOLERANCE, FIELDS, KEY_BY, TIME_FIELD, MAX_OPEN, FLUSH,
];

/// The longest window: a week.
pub const MAX_SIZE_MS: u64 = 7 * 24 * 3_600_000;
/// The most windows one event may belong to (`size / hop`, rounded up).
pub const MAX_WINDOWS_PER_EVENT: u64 = 64;
/// The most fields.
pub const MAX_FIELDS: usize = 32;
/// The largest cap on open aggregates; each closes into one message, and a
/// call may send at most 1024.
pub const MAX_OPEN_LIMIT: usize = 1000;
/// The host's shortest timer interval.
pub const MIN_FLUSH_MS: u64 = 10;

/// What the aggregates are grouped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBy {
    /// The leaf device if the message has one, otherwise the sending module.
    Source,
    /// The leaf device.
    Device,
    /// The sending module.
    Module,
    /// A body field (a dotted JSON path), string or number.
    Field(String),
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Window length, ms. Default 60000.
    pub size_ms: u64,
    /// Hop, ms. Default: the size.
    pub hop_ms: u64,
    /// Late tolerance, ms. Default 5000.
    pub tolerance_ms: u64,
    /// Dotted JSON paths of the fields. Default `machine.temperature`.
    pub fields: Vec<String>,
    /// Grouping. Default [`KeyBy::Source`].
    pub key_by: KeyBy,
    /// Fallback event-time field. Default none.
    pub time_field: Option<String>,
    /// Cap on open aggregates. Default 256.
    pub max_open: usize,
    /// Timer interval, ms. Default 1000.
    pub flush_ms: u64,
}

impl Settings {
    /// Reads and validates `config`; an unknown key is refused.
    pub fn from_config(config: &Config) -> Result<Settings, String> {
        config.check_keys(&KEYS)?;
        let size_ms = config.parse_or(SIZE, 60_000u64)?;
        if size_ms == 0 || size_ms > MAX_SIZE_MS {
            return Err(format!(
                "`{SIZE}` must be 1 to {MAX_SIZE_MS}, not {size_ms}"
            ));
        }
        let hop_ms = config.parse_or(HOP, size_ms)?;
        if hop_ms == 0 || hop_ms > size_ms {
            return Err(format!(
                "`{HOP}` must be 1 to `{SIZE}` ({size_ms}), not {hop_ms}"
            ));
        }
        if size_ms.div_ceil(hop_ms) > MAX_WINDOWS_PER_EVENT {
            return Err(format!(
                "`{SIZE}` / `{HOP}` ({size_ms} / {hop_ms}) puts each event in more than {MAX_WINDOWS_PER_EVENT} windows"
            ));
        }
        let tolerance_ms = config.parse_or(TOLERANCE, 5_000u64)?;
        let fields = parse_fields(config.get(FIELDS).unwrap_or("machine.temperature"))?;
        let key_by = match config.get(KEY_BY).map(str::trim).unwrap_or("source") {
            "source" => KeyBy::Source,
            "device" => KeyBy::Device,
            "module" => KeyBy::Module,
            other => match other.strip_prefix("field:") {
                Some(path) => KeyBy::Field(check_path(KEY_BY, path)?),
                None => {
                    return Err(format!(
                        "`{KEY_BY}` must be `source`, `device`, `module` or `field:<path>`, not `{other}`"
                    ));
                }
            },
        };
        let time_field = match config.get(TIME_FIELD).map(str::trim) {
            None | Some("") => None,
            Some(path) => Some(check_path(TIME_FIELD, path)?),
        };
        let max_open = config.parse_or(MAX_OPEN, 256usize)?;
        if max_open == 0 || max_open > MAX_OPEN_LIMIT {
            return Err(format!(
                "`{MAX_OPEN}` must be 1 to {MAX_OPEN_LIMIT}, not {max_open}"
            ));
        }
        let flush_ms = config.parse_or(FLUSH, 1_000u64)?;
        if flush_ms != 0 && flush_ms < MIN_FLUSH_MS {
            return Err(format!(
                "`{FLUSH}` must be 0 (off) or at least {MIN_FLUSH_MS}, not {flush_ms}"
            ));
        }
        Ok(Settings {
            size_ms,
            hop_ms,
            tolerance_ms,
            fields,
            key_by,
            time_field,
            max_open,
            flush_ms,
        })
    }

    /// The manifest's `init` config overridden by the `desired` properties
    /// (the same keys; a number or a string, and for `fields` also an array
    /// of strings), validated. Unknown desired keys are refused.
    pub fn with_desired(init: &Config, desired: &Map<String, Value>) -> Result<Settings, String> {
        let mut entries: Vec<(String, String)> = init
            .entries()
            .iter()
            .filter(|(k, _)| !desired.contains_key(k))
            .cloned()
            .collect();
        for (key, value) in desired {
            if !KEYS.contains(&key.as_str()) {
                return Err(format!("unknown key `{key}` (known: {})", KEYS.join(", ")));
            }
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) if key == FIELDS => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("`{FIELDS}` must hold only strings"))?
                    .join(","),
                other => return Err(format!("`{key}` must be a number or a string, not {other}")),
            };
            entries.push((key.clone(), text));
        }
        Settings::from_config(&Config::new(entries))
    }

    /// How the window engine cuts windows.
    pub fn spec(&self) -> Spec {
        Spec {
            size_ms: self.size_ms,
            hop_ms: self.hop_ms,
            tolerance_ms: self.tolerance_ms,
            fields: self.fields.len(),
            max_open: self.max_open,
        }
    }

    /// The settings as reported in the twin (every key, `null` for none, so
    /// that a merge clears an old value).
    pub fn to_json(&self) -> Value {
        let key_by = match &self.key_by {
            KeyBy::Source => "source".to_string(),
            KeyBy::Device => "device".to_string(),
            KeyBy::Module => "module".to_string(),
            KeyBy::Field(path) => format!("field:{path}"),
        };
        json!({
            SIZE: self.size_ms,
            HOP: self.hop_ms,
            TOLERANCE: self.tolerance_ms,
            FIELDS: self.fields,
            KEY_BY: key_by,
            TIME_FIELD: self.time_field,
            MAX_OPEN: self.max_open,
            FLUSH: self.flush_ms,
        })
    }
}

fn parse_fields(raw: &str) -> Result<Vec<String>, String> {
    let fields = raw
        .split(',')
        .map(|p| check_path(FIELDS, p))
        .collect::<Result<Vec<_>, _>>()?;
    if fields.len() > MAX_FIELDS {
        return Err(format!("`{FIELDS}` may name at most {MAX_FIELDS} fields"));
    }
    if let Some(dup) = fields
        .iter()
        .enumerate()
        .find(|(i, f)| fields[..*i].contains(f))
    {
        return Err(format!("`{FIELDS}` names `{}` twice", dup.1));
    }
    Ok(fields)
}

/// A dotted JSON path with no empty segment.
fn check_path(key: &str, path: &str) -> Result<String, String> {
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!(
            "`{key}`: `{path}` is not a dotted JSON path like `machine.temperature`"
        ));
    }
    Ok(path.to_string())
}

/// The value at a dotted `path` in `value`; a segment of digits indexes an
/// array.
pub fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, segment| match v {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_are_tumbling_minutes_of_machine_temperature() {
        let s = Settings::from_config(&config(&[])).unwrap();
        assert_eq!(
            (s.size_ms, s.hop_ms, s.tolerance_ms),
            (60_000, 60_000, 5_000)
        );
        assert_eq!(s.fields, vec!["machine.temperature"]);
        assert_eq!(
            (s.key_by, s.time_field, s.max_open, s.flush_ms),
            (KeyBy::Source, None, 256, 1000)
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        for (pairs, needle) in [
            (vec![(HOP, "0")], "`hop-ms`"),
            (vec![(SIZE, "100"), (HOP, "200")], "`hop-ms`"),
            (vec![(SIZE, "6500"), (HOP, "100")], "more than 64 windows"),
            (vec![(FIELDS, "a,,b")], "`fields`"),
            (vec![(FIELDS, "a,a")], "twice"),
            (vec![(KEY_BY, "colour")], "`key-by`"),
            (vec![(FLUSH, "5")], "`flush-interval-ms`"),
            (vec![(MAX_OPEN, "5000")], "`max-open-windows`"),
            (
                vec![("window-sise-ms", "5")],
                "unknown config key `window-sise-ms`",
            ),
        ] {
            let err = Settings::from_config(&config(&pairs)).unwrap_err();
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn desired_overrides_init_and_refuses_unknown_keys() {
        let init = config(&[(SIZE, "1000"), (FIELDS, "a")]);
        let desired = json!({"hop-ms": 500, "fields": ["x.y", "z"], "key-by": "field:site"});
        let s = Settings::with_desired(&init, desired.as_object().unwrap()).unwrap();
        assert_eq!((s.size_ms, s.hop_ms), (1000, 500));
        assert_eq!(s.fields, vec!["x.y", "z"]);
        assert_eq!(s.key_by, KeyBy::Field("site".into()));
        let bad = json!({"window-size": 5});
        let err = Settings::with_desired(&init, bad.as_object().unwrap()).unwrap_err();
        assert!(err.contains("unknown key `window-size`"), "{err}");
        let bad = json!({"hop-ms": true});
        assert!(Settings::with_desired(&init, bad.as_object().unwrap()).is_err());
    }

    #[test]
    fn lookup_follows_objects_and_arrays() {
        let v = json!({"machine": {"temperature": 21.5}, "list": [1, {"x": 2}]});
        assert_eq!(lookup(&v, "machine.temperature"), Some(&json!(21.5)));
        assert_eq!(lookup(&v, "list.1.x"), Some(&json!(2)));
        assert_eq!(lookup(&v, "machine.pressure"), None);
        assert_eq!(lookup(&v, "list.x"), None);
    }
}
