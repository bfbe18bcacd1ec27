//! The input: a fan reading as JSON, checked into the model's [`Features`].
//!
//! Accepted shapes (extra fields are ignored):
//!
//! ```json
//! {"device": "fan-7", "temperature": 41.3, "vibration": 2.4, "pressure": 1.19, "hours": 5120}
//! {"device": "fan-7", "machine": {"temperature": 41.3, "vibration": 2.4, "pressure": 1.19, "hours": 5120}}
//! ```
//!
//! The second is the SimulatedTemperatureSensor's `machine` object with the two
//! fields a fan adds. Units: temperature °C (bearing), vibration mm/s RMS,
//! static pressure kPa, hours of use. `device` is optional.
//!
//! The third is a window of readings as window-stats sends it (configured
//! with `fields` = `temperature,vibration,pressure,hours`, or the same under
//! `machine.`, and for instance `key-by` = `field:device`), told apart by its
//! `stats` object:
//!
//! ```json
//! {"key": "fan-7", "windowStart": "…", "windowEnd": "…", "events": 10, "complete": true,
//!  "stats": {"temperature": {"count": 10, "avg": 41.3, "min": 40.1, "max": 42.0, "stddev": 0.5}, …}}
//! ```
//!
//! The prediction is made on the window's `avg` of each feature (a flat
//! field name wins over its `machine.` form), and the device is the window's
//! `key`. A feature the window had no value of (`count` 0, `avg` null) is an
//! error.

use serde_json::{Map, Value};

/// One reading, in the order the models take it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// Bearing temperature, °C.
    pub temperature: f32,
    /// Vibration velocity, mm/s RMS.
    pub vibration: f32,
    /// Static pressure, kPa.
    pub pressure: f32,
    /// Hours of use.
    pub hours: f32,
}

impl Features {
    /// How many features the models take.
    pub const COUNT: usize = 4;

    /// The row the models take: temperature, vibration, pressure, hours.
    pub fn as_row(&self) -> [f32; Features::COUNT] {
        [self.temperature, self.vibration, self.pressure, self.hours]
    }
}

/// A parsed reading: the features and the device it names, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The `device` field, when the body has one.
    pub device: Option<String>,
    /// The model's input.
    pub features: Features,
}

impl Reading {
    /// Parses a message body.
    pub fn from_body(body: &[u8]) -> Result<Reading, String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("not a fan reading: not JSON: {e}"))?;
        Reading::from_value(&value)
    }

    /// Reads a JSON value of one of the shapes in the module doc.
    pub fn from_value(value: &Value) -> Result<Reading, String> {
        let top = value
            .as_object()
            .ok_or("not a fan reading: expected a JSON object")?;
        if let Some(stats) = top.get("stats") {
            return Reading::from_window(top, stats);
        }
        let device = match top.get("device") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(format!(
                    "not a fan reading: `device` must be a string, not {other}"
                ));
            }
        };
        let fields = match top.get("machine") {
            Some(Value::Object(machine)) => machine,
            Some(other) => {
                return Err(format!(
                    "not a fan reading: `machine` must be an object, not {other}"
                ));
            }
            None => top,
        };
        let features = Features {
            temperature: number(fields, "temperature", f32::MIN)?,
            vibration: number(fields, "vibration", 0.0)?,
            pressure: number(fields, "pressure", 0.0)?,
            hours: number(fields, "hours", 0.0)?,
        };
        Ok(Reading { device, features })
    }
}

impl Reading {
    /// Reads a window-stats window: the `avg` of each feature, the `key`.
    fn from_window(top: &Map<String, Value>, stats: &Value) -> Result<Reading, String> {
        let stats = stats.as_object().ok_or_else(|| {
            format!("not a window of fan readings: `stats` must be an object, not {stats}")
        })?;
        let device = match top.get("key") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(format!(
                    "not a window of fan readings: `key` must be a string, not {other}"
                ));
            }
        };
        let avg = |name: &str, min: f32| -> Result<f32, String> {
            let field = stats
                .get(name)
                .or_else(|| stats.get(&format!("machine.{name}")))
                .ok_or_else(|| format!("not a window of fan readings: no stats for `{name}`"))?;
            let field = field.as_object().ok_or_else(|| {
                format!("not a window of fan readings: the stats of `{name}` are not an object")
            })?;
            if field.get("avg").is_none_or(Value::is_null) {
                return Err(format!(
                    "not a window of fan readings: the window has no `{name}` values"
                ));
            }
            number(field, "avg", min).map_err(|e| format!("{e} (the window's `{name}`)"))
        };
        let features = Features {
            temperature: avg("temperature", f32::MIN)?,
            vibration: avg("vibration", 0.0)?,
            pressure: avg("pressure", 0.0)?,
            hours: avg("hours", 0.0)?,
        };
        Ok(Reading { device, features })
    }
}

/// Field `name` as a finite f32 of at least `min`.
fn number(fields: &Map<String, Value>, name: &str, min: f32) -> Result<f32, String> {
    let value = fields
        .get(name)
        .ok_or_else(|| format!("not a fan reading: field `{name}` is missing"))?;
    let x = value
        .as_f64()
        .ok_or_else(|| format!("not a fan reading: field `{name}` is not a number: {value}"))?;
    // `as` saturates to infinity beyond f32's range, which the check refuses.
    let x = x as f32;
    if !x.is_finite() {
        return Err(format!(
            "not a fan reading: field `{name}` is out of range: {value}"
        ));
    }
    if x < min {
        return Err(format!(
            "not a fan reading: field `{name}` is negative: {value}"
        ));
    }
    Ok(x)
}
