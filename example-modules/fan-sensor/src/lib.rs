//! fan-sensor: a simulated industrial fan that wears out, for the
//! predictive-maintenance chain (fan-sensor → window-stats / drift-monitor →
//! fan-health). Every `interval-ms` it sends a reading out of `readings`:
//!
//! ```json
//! {"device": "fan-1", "temperature": 38.2, "vibration": 1.93, "pressure": 1.19, "hours": 812.0}
//! ```
//!
//! the flat shape fan-health takes (°C, mm/s RMS, kPa, hours of use), with
//! application property `sequenceNumber` (1, 2, …). The physics is
//! `ml/train.py`'s (see [`fan`]), so fan-health's models see in-distribution
//! readings: the predicted remaining useful life falls as `hours` nears the
//! fan's life, and drops below 24 h in its last day.
//!
//! # Config
//! - `interval-ms` (1000): time between readings.
//! - `messages` (0): how many readings to send; 0 for no limit.
//! - `device` ("fan-1"): the `device` field.
//! - `seed` (a hash of `device`): the PRNG seed. The fan's constants and the
//!   noise follow from it, so a seed gives the same readings every time.
//! - `start-hours` (0): hours of use at the first reading.
//! - `hours-per-reading` (1.0): hours of use added between readings, so that
//!   a fan's life passes in minutes rather than months.
//! - `life-hours` (drawn as train.py draws it, 5600 · Weibull(2.5) + 300):
//!   when the bearing fails. Must be above `start-hours`.
//! - `drift-per-reading` (0): sensor drift, added to the drift offset at
//!   every reading; the offset is added to the `drift-feature`. A drifting
//!   sensor takes the readings away from the training distribution, which
//!   drift-monitor detects.
//! - `drift-feature` (`temperature`): `temperature`, `vibration` or
//!   `pressure`.
//! - `fleet` (false): each reading comes from a fan of its own, drawn as
//!   `ml/train.py` draws its fleet (a new fan, read at a moment of its life
//!   drawn as train.py draws it; no injected faults), instead of one fan
//!   wearing out: a stream with the training distribution, for drift-monitor.
//!   `start-hours`, `hours-per-reading` and `life-hours` do not apply.
//!
//! Unknown keys and bad values are refused at init, naming the key.
//!
//! # The desired twin
//! `drift-per-reading` (a number; `null` restores the config's value)
//! applies from the next reading, without a restart; the offset built up so
//! far stays. Other keys are refused (unless deleted, with `null`).
//!
//! # The reported twin
//! `fan` (the drawn constants and the seed), `hours` (of the next reading),
//! `sent`, and `drift` (`feature`, `perReading`, `offset`); reported at init,
//! on each desired change, and when the last message is sent.
//!
//! # Layout
//! - [`fan`]: the physics.
//! - [`rng`]: the seeded PRNG.

pub mod fan;
pub mod rng;

use fan::Fan;
use ganglion_sdk::{Config, Message, Module, export_module, log, send, timer, twin};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The reading timer.
const TICK: u32 = 1;
/// The output readings leave by.
const OUTPUT: &str = "readings";

const INTERVAL: &str = "interval-ms";
const MESSAGES: &str = "messages";
const DEVICE: &str = "device";
const SEED: &str = "seed";
const START: &str = "start-hours";
const STEP: &str = "hours-per-reading";
const LIFE: &str = "life-hours";
const DRIFT: &str = "drift-per-reading";
const DRIFT_FEATURE: &str = "drift-feature";
const FLEET: &str = "fleet";
const KEYS: [&str; 10] = [
    FLEET,
    INTERVAL,
    MESSAGES,
    DEVICE,
    SEED,
    START,
    STEP,
    LIFE,
    DRIFT,
    DRIFT_FEATURE,
];

/// The feature the drift is added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DriftFeature {
    Temperature,
    Vibration,
    Pressure,
}

impl DriftFeature {
    fn parse(raw: &str) -> Result<DriftFeature, String> {
        match raw.trim() {
            "temperature" => Ok(DriftFeature::Temperature),
            "vibration" => Ok(DriftFeature::Vibration),
            "pressure" => Ok(DriftFeature::Pressure),
            other => Err(format!(
                "config key `{DRIFT_FEATURE}`: `{other}` is not `temperature`, `vibration` or `pressure`"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            DriftFeature::Temperature => "temperature",
            DriftFeature::Vibration => "vibration",
            DriftFeature::Pressure => "pressure",
        }
    }
}

/// The reading sent on `readings`.
#[derive(Serialize)]
struct Reading<'a> {
    device: &'a str,
    temperature: f64,
    vibration: f64,
    pressure: f64,
    hours: f64,
}

struct FanSensor {
    device: String,
    seed: u64,
    fan: Fan,
    rng: rng::SplitMix,
    /// Hours of use of the next reading.
    hours: f64,
    step_hours: f64,
    limit: u64,
    sent: u64,
    drift_feature: DriftFeature,
    /// The config's drift, which `null` in the desired twin restores.
    config_drift: f64,
    drift_per_reading: f64,
    drift_offset: f64,
    desired_version: Option<u64>,
    /// Each reading from a fan of its own, as train.py samples its fleet.
    fleet: bool,
}

/// A finite number for `key`, at least `min`.
fn number(config: &Config, key: &str, default: f64, min: f64) -> Result<f64, String> {
    let x: f64 = config.parse_or(key, default)?;
    if !x.is_finite() || x < min {
        return Err(format!(
            "config key `{key}`: {x} must be a finite number of at least {min}"
        ));
    }
    Ok(x)
}

/// FNV-1a of `text`: the default seed, so that fans named apart differ.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

impl FanSensor {
    fn next_reading(&mut self) -> Reading<'_> {
        if self.fleet {
            // train.py's sampling: a fan of its own, read at a moment drawn
            // over its whole life half the time, over its last 300 h else.
            self.fan = Fan::draw(&mut self.rng, None);
            let life = self.fan.life_hours;
            let rul = if self.rng.next_f64() < 0.5 {
                self.rng.uniform(0.0, life)
            } else {
                self.rng.uniform(0.0, life.min(300.0))
            };
            self.hours = life - rul;
        }
        let hours = self.hours;
        let mut s = self.fan.signals(hours, &mut self.rng);
        self.drift_offset += self.drift_per_reading;
        match self.drift_feature {
            DriftFeature::Temperature => s.temperature += self.drift_offset,
            DriftFeature::Vibration => s.vibration += self.drift_offset,
            DriftFeature::Pressure => s.pressure += self.drift_offset,
        }
        self.hours += self.step_hours;
        Reading {
            device: &self.device,
            temperature: s.temperature,
            vibration: s.vibration,
            pressure: s.pressure,
            hours,
        }
    }

    fn report(&self) {
        let patch = json!({
            "fan": {"seed": self.seed, "constants": self.fan},
            "hours": self.hours,
            "sent": self.sent,
            "drift": {
                "feature": self.drift_feature.name(),
                "perReading": self.drift_per_reading,
                "offset": self.drift_offset,
            },
            "desiredVersion": self.desired_version,
        });
        if let Err(e) = twin::report(&patch) {
            log::warn(&format!("cannot report to the twin: {e}"));
        }
    }
}

impl Module for FanSensor {
    fn init(config: Config) -> Result<Self, String> {
        config.check_keys(&KEYS)?;
        let interval_ms: u64 = config.parse_or(INTERVAL, 1000)?;
        if interval_ms == 0 {
            return Err(format!("config key `{INTERVAL}`: must be at least 1"));
        }
        let limit: u64 = config.parse_or(MESSAGES, 0)?;
        let device = config.get(DEVICE).unwrap_or("fan-1").trim().to_string();
        if device.is_empty() {
            return Err(format!("config key `{DEVICE}`: must not be empty"));
        }
        let seed = config.parse_or(SEED, fnv1a(&device))?;
        let start_hours = number(&config, START, 0.0, 0.0)?;
        let step_hours = number(&config, STEP, 1.0, 0.0)?;
        if step_hours == 0.0 {
            return Err(format!("config key `{STEP}`: must be above 0"));
        }
        let life_hours = match config.get(LIFE) {
            None => None,
            Some(_) => Some(number(&config, LIFE, 0.0, 0.0)?),
        };
        let drift = number(&config, DRIFT, 0.0, f64::MIN)?;
        let drift_feature =
            DriftFeature::parse(config.get(DRIFT_FEATURE).unwrap_or("temperature"))?;
        let mut rng = rng::SplitMix::new(seed);
        let fan = Fan::draw(&mut rng, life_hours);
        if fan.life_hours <= start_hours {
            return Err(format!(
                "config key `{START}`: {start_hours} h is not below the fan's life of {} h (`{LIFE}`)",
                fan.life_hours
            ));
        }
        timer::set(TICK, Duration::from_millis(interval_ms), true)
            .map_err(|e| format!("config key `{INTERVAL}`: {e}"))?;
        log::info(&format!(
            "{device}: a reading every {interval_ms} ms from {start_hours} h, {step_hours} h each; life {:.0} h",
            fan.life_hours
        ));
        let sensor = FanSensor {
            device,
            seed,
            fan,
            rng,
            hours: start_hours,
            step_hours,
            limit,
            sent: 0,
            drift_feature,
            config_drift: drift,
            drift_per_reading: drift,
            drift_offset: 0.0,
            desired_version: None,
            fleet: config.parse_or(FLEET, false)?,
        };
        sensor.report();
        Ok(sensor)
    }

    fn on_timer(&mut self, id: u32) -> Result<(), String> {
        if id != TICK {
            return Ok(());
        }
        if self.limit != 0 && self.sent >= self.limit {
            timer::cancel(TICK);
            return Ok(());
        }
        let reading = self.next_reading();
        let msg = Message::json(&reading).map_err(|e| format!("cannot encode a reading: {e}"))?;
        self.sent += 1;
        let msg = msg.with_property("sequenceNumber", self.sent.to_string());
        send(OUTPUT, &msg).map_err(|e| format!("cannot send on `{OUTPUT}`: {e}"))?;
        if self.limit != 0 && self.sent >= self.limit {
            timer::cancel(TICK);
            log::info(&format!("sent all {} readings; stopping", self.limit));
            self.report();
        }
        Ok(())
    }

    fn on_twin_desired(&mut self, patch: Value) -> Result<(), String> {
        let Value::Object(patch) = patch else {
            return Err("a desired twin patch must be a JSON object".to_string());
        };
        let mut drift = None;
        let mut version = None;
        for (key, value) in &patch {
            match (key.as_str(), value) {
                ("$version", v) => version = v.as_u64(),
                (DRIFT, Value::Null) => drift = Some(self.config_drift),
                (DRIFT, v) => match v.as_f64() {
                    Some(x) if x.is_finite() => drift = Some(x),
                    _ => return Err(format!("desired `{DRIFT}` must be a number, not {v}")),
                },
                // Deleting a key this module does not know is harmless.
                (_, Value::Null) => {}
                (other, _) => {
                    return Err(format!("desired key `{other}` is unknown (known: {DRIFT})"));
                }
            }
        }
        if let Some(drift) = drift
            && drift != self.drift_per_reading
        {
            log::info(&format!(
                "drift of {} per reading (was {})",
                drift, self.drift_per_reading
            ));
            self.drift_per_reading = drift;
        }
        self.desired_version = version.or(self.desired_version);
        self.report();
        Ok(())
    }
}

export_module!(FanSensor);
