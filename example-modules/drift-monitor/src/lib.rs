//! drift-monitor: watches whether the live fan readings still look like the
//! data fan-health's models were trained on. It compares the distribution of
//! each feature over a sliding window of the last readings with the training
//! distribution, scores the difference with the **PSI** (Population
//! Stability Index), reports the scores in its reported twin, and sends an
//! alert when the score passes a threshold. A model fed drifted data gives
//! confident answers that are wrong; this module says when to stop trusting
//! them (a recalibrated sensor, a new site, a changed process).
//!
//! # Why PSI
//! PSI = Σ (a − e) · ln(a / e) over fixed bins, `a` the live share of a bin
//! and `e` its training share. It is the industry-standard score for a
//! feature's population shift (credit scoring, model monitoring), with the
//! usual reading: below 0.1 no shift, 0.1–0.2 a moderate one, above 0.2 a
//! significant one. Its bins are fixed once, from the training quantiles
//! (`ml/train.py` writes them to `ml/models/reference.json`, embedded here
//! and parsed once in `init`), so the module needs no training data, only
//! a count per bin: each reading costs a bin lookup and a counter update,
//! a score costs O(bins), and memory is bounded by the window. The
//! alternatives fit worse: the two-sample Kolmogorov–Smirnov test needs
//! both whole samples (the training set in the module) and its p-value
//! flags trivial shifts once the window is large; Page–Hinkley (and CUSUM)
//! detect a change in the mean of one stream, not a change of shape against
//! a reference, and need tuning per feature.
//!
//! # The score
//! - Bins: the reference's quantile bins (10 per feature, each with 10% of
//!   the training readings); the outer bins are open-ended, so that a value
//!   beyond the training range lands in the nearest one.
//! - Empty bins: both shares are floored at [`window::EPSILON`] (1e-4)
//!   before the logarithm.
//! - Overall: the **maximum** over the monitored features, with the feature
//!   that gives it named as the worst: one drifted feature is enough to
//!   distrust the model, and a mean over features would dilute it.
//! - Window: the last `window` readings from every source (the reference is
//!   the whole fleet's distribution, so the monitor is meant for a fleet's
//!   stream; a single fan covers a narrow part of it, its `hours` above all).
//!   Before the window is full, scores are reported but no alert is sent:
//!   on n readings an unshifted stream still scores about (bins − 1) / n.
//!
//! # Alerts
//! When the overall score goes above the threshold (with a full window), one
//! message on `alerts` with `MessageType=Alert`: `{"overall", "worstFeature",
//! "psi": {feature: score}, "threshold", "window", "readings"}`. Then no more
//! until the score is back at or below 3/4 of the threshold, which re-arms it:
//! one alert per crossing, not one per reading, and no burst of them while a
//! noisy score hovers at the threshold. A threshold change is checked at once
//! against the current window.
//!
//! # Config
//! - `window` (500; 20 to 100000): readings in the sliding window.
//! - `report-every` (50; at least 1): report the scores every this many
//!   readings.
//! - `threshold` (0.2, the usual "significant shift"; above 0): the alert
//!   level.
//! - `features` (`temperature,vibration,pressure,hours`): the features
//!   monitored, a comma-separated subset. A single fan's stream, for one,
//!   is better watched without `hours`, which only grows.
//!
//! Unknown keys and bad values are refused at init, naming the key.
//!
//! # The desired twin
//! `threshold` and `report-every` (numbers; `null` restores the config's
//! value) apply at once, without a restart. Other keys are refused (unless
//! deleted, with `null`), and the active values stay.
//!
//! # The reported twin
//! `drift`: `psi` (per monitored feature), `overall`, `worstFeature`,
//! `windowFill`, `window`, `threshold`, `thresholdSource` (`config` or
//! `desired`), `above` (the score is above the threshold), `readings`,
//! `badReadings`, `alerts`, `reportEvery`, `epsilon`; and `desiredVersion`.
//! Reported at init, every `report-every` readings, when an alert is sent or
//! re-armed, and when the desired twin changes.
//!
//! Input: see [`reading`]. A reading that is not one is an `Err` naming the
//! problem, counted in `badReadings`, and leaves the window as it was.
//!
//! # Layout
//! - [`reference`]: the training bins.
//! - [`window`]: the ring buffer of bins and the PSI.
//! - [`reading`]: the input JSON.

pub mod reading;
pub mod reference;
pub mod window;

use ganglion_sdk::{Config, Message, Module, export_module, log, send, twin};
use reference::{FEATURES, REFERENCE_JSON, Reference};
use serde_json::{Map, Value, json};
use window::Window;

/// The output alerts leave by.
/// The alert re-arms once the score is back at or below this fraction of
/// the threshold (hysteresis).
const REARM_FRACTION: f64 = 0.75;
const ALERTS: &str = "alerts";

const WINDOW: &str = "window";
const REPORT_EVERY: &str = "report-every";
const THRESHOLD: &str = "threshold";
const FEATURES_KEY: &str = "features";
const KEYS: [&str; 4] = [WINDOW, REPORT_EVERY, THRESHOLD, FEATURES_KEY];

/// The smallest window: fewer readings than this give a PSI that is mostly
/// sampling noise.
const MIN_WINDOW: usize = 20;
/// The largest window (at 4 features, 400 KB of slots).
const MAX_WINDOW: usize = 100_000;

/// The scores of the current window.
#[derive(Debug, Clone, PartialEq)]
struct Scores {
    /// Per monitored feature.
    per_feature: Vec<f64>,
    /// The maximum of `per_feature`.
    overall: f64,
    /// The index (among the monitored features) of the maximum.
    worst: usize,
}

struct DriftMonitor {
    reference: Reference,
    /// Indices into [`FEATURES`] of the monitored features.
    monitored: Vec<usize>,
    window: Window,
    config_threshold: f64,
    threshold: f64,
    /// The threshold comes from the desired twin.
    threshold_from_desired: bool,
    config_report_every: u64,
    report_every: u64,
    /// An alert may be sent: the score has not been above the threshold
    /// since the last one.
    armed: bool,
    readings: u64,
    bad_readings: u64,
    alerts: u64,
    desired_version: Option<u64>,
}

fn parse_threshold(raw: f64, source: &str) -> Result<f64, String> {
    if raw.is_finite() && raw > 0.0 {
        Ok(raw)
    } else {
        Err(format!(
            "{source} `{THRESHOLD}`: {raw} must be a number above 0"
        ))
    }
}

fn parse_report_every(raw: u64, source: &str) -> Result<u64, String> {
    if raw >= 1 {
        Ok(raw)
    } else {
        Err(format!("{source} `{REPORT_EVERY}`: must be at least 1"))
    }
}

fn parse_features(raw: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim) {
        let index = FEATURES.iter().position(|f| *f == name).ok_or_else(|| {
            format!(
                "config key `{FEATURES_KEY}`: `{name}` is not one of {}",
                FEATURES.join(", ")
            )
        })?;
        if out.contains(&index) {
            return Err(format!(
                "config key `{FEATURES_KEY}`: `{name}` is named twice"
            ));
        }
        out.push(index);
    }
    Ok(out)
}

impl DriftMonitor {
    fn names(&self) -> Vec<&'static str> {
        self.monitored.iter().map(|&i| FEATURES[i]).collect()
    }

    fn scores(&self) -> Scores {
        let per_feature: Vec<f64> = self
            .monitored
            .iter()
            .enumerate()
            .map(|(slot, &f)| self.window.psi(slot, &self.reference.features[f].expected))
            .collect();
        let (worst, overall) =
            per_feature
                .iter()
                .copied()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (i, x)| {
                    if x > best.1 { (i, x) } else { best }
                });
        Scores {
            per_feature,
            overall,
            worst,
        }
    }

    fn psi_json(&self, scores: &Scores) -> Value {
        Value::Object(
            self.names()
                .into_iter()
                .zip(&scores.per_feature)
                .map(|(name, x)| (name.to_string(), json!(x)))
                .collect::<Map<String, Value>>(),
        )
    }

    fn report(&self) {
        let filled = self.window.fill() > 0;
        let scores = self.scores();
        let patch = json!({
            "drift": {
                "psi": if filled { self.psi_json(&scores) } else { Value::Null },
                "overall": if filled { json!(scores.overall) } else { Value::Null },
                "worstFeature": if filled { json!(self.names()[scores.worst]) } else { Value::Null },
                "windowFill": self.window.fill(),
                "window": self.window.capacity(),
                "threshold": self.threshold,
                "thresholdSource": if self.threshold_from_desired { "desired" } else { "config" },
                "above": filled && self.window.is_full() && scores.overall > self.threshold,
                "readings": self.readings,
                "badReadings": self.bad_readings,
                "alerts": self.alerts,
                "reportEvery": self.report_every,
                "epsilon": window::EPSILON,
            },
            "desiredVersion": self.desired_version,
        });
        if let Err(e) = twin::report(&patch) {
            log::warn(&format!("cannot report to the twin: {e}"));
        }
    }

    /// Alerts on a crossing above the threshold, or re-arms below it; only
    /// with a full window. Returns whether the state changed.
    fn evaluate(&mut self) -> Result<bool, String> {
        if !self.window.is_full() {
            return Ok(false);
        }
        let scores = self.scores();
        let above = scores.overall > self.threshold;
        if above && self.armed {
            let worst = self.names()[scores.worst];
            let body = json!({
                "overall": scores.overall,
                "worstFeature": worst,
                "psi": self.psi_json(&scores),
                "threshold": self.threshold,
                "window": self.window.capacity(),
                "readings": self.readings,
            });
            let msg = Message::json(&body)
                .map_err(|e| format!("cannot encode the alert: {e}"))?
                .with_property("MessageType", "Alert");
            send(ALERTS, &msg).map_err(|e| format!("cannot send on `{ALERTS}`: {e}"))?;
            self.armed = false;
            self.alerts += 1;
            log::warn(&format!(
                "data drift: PSI {:.3} on `{worst}` is above {}",
                scores.overall, self.threshold
            ));
            return Ok(true);
        }
        let rearm_below = self.threshold * REARM_FRACTION;
        if scores.overall <= rearm_below && !self.armed {
            self.armed = true;
            log::info(&format!(
                "drift back at or below {rearm_below:.3}: PSI {:.3}; alert re-armed",
                scores.overall
            ));
            return Ok(true);
        }
        Ok(false)
    }
}

impl Module for DriftMonitor {
    fn init(config: Config) -> Result<Self, String> {
        config.check_keys(&KEYS)?;
        let capacity: usize = config.parse_or(WINDOW, 500)?;
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&capacity) {
            return Err(format!(
                "config key `{WINDOW}`: {capacity} is not {MIN_WINDOW} to {MAX_WINDOW}"
            ));
        }
        let report_every = parse_report_every(config.parse_or(REPORT_EVERY, 50)?, "config key")?;
        let threshold = parse_threshold(config.parse_or(THRESHOLD, 0.2)?, "config key")?;
        let monitored = match config.get(FEATURES_KEY) {
            None => (0..FEATURES.len()).collect(),
            Some(raw) => parse_features(raw)?,
        };
        let reference = Reference::parse(REFERENCE_JSON)?;
        let bins = monitored
            .iter()
            .map(|&f| reference.features[f].count())
            .collect();
        let module = DriftMonitor {
            window: Window::new(capacity, bins),
            reference,
            monitored,
            config_threshold: threshold,
            threshold,
            threshold_from_desired: false,
            config_report_every: report_every,
            report_every,
            armed: true,
            readings: 0,
            bad_readings: 0,
            alerts: 0,
            desired_version: None,
        };
        log::info(&format!(
            "PSI of {} over {capacity} readings, alert above {threshold}",
            module.names().join(", ")
        ));
        module.report();
        Ok(module)
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        let names = self.names();
        let values = match reading::values(msg.body(), &names) {
            Ok(values) => values,
            Err(e) => {
                self.bad_readings += 1;
                return Err(e);
            }
        };
        let bins: Vec<usize> = self
            .monitored
            .iter()
            .zip(&values)
            .map(|(&f, &x)| self.reference.features[f].bin(x))
            .collect();
        self.window.push(&bins);
        self.readings += 1;
        let changed = self.evaluate()?;
        if changed || self.readings.is_multiple_of(self.report_every) {
            self.report();
        }
        Ok(())
    }

    fn on_twin_desired(&mut self, patch: Value) -> Result<(), String> {
        let Value::Object(patch) = patch else {
            return Err("a desired twin patch must be a JSON object".to_string());
        };
        let (mut threshold, mut report_every, mut version) = (None, None, None);
        for (key, value) in &patch {
            match key.as_str() {
                "$version" => version = value.as_u64(),
                THRESHOLD => {
                    threshold = Some(match value {
                        Value::Null => (self.config_threshold, false),
                        v => (
                            parse_threshold(
                                v.as_f64().ok_or_else(|| {
                                    format!("desired `{THRESHOLD}`: {v} is not a number")
                                })?,
                                "desired",
                            )?,
                            true,
                        ),
                    });
                }
                REPORT_EVERY => {
                    report_every = Some(match value {
                        Value::Null => self.config_report_every,
                        v => parse_report_every(
                            v.as_u64().ok_or_else(|| {
                                format!("desired `{REPORT_EVERY}`: {v} is not a whole number")
                            })?,
                            "desired",
                        )?,
                    });
                }
                // Deleting a key this module does not know is harmless.
                _ if value.is_null() => {}
                other => {
                    return Err(format!(
                        "desired key `{other}` is unknown (known: {THRESHOLD}, {REPORT_EVERY})"
                    ));
                }
            }
        }
        if let Some((t, from_desired)) = threshold {
            self.threshold = t;
            self.threshold_from_desired = from_desired;
        }
        if let Some(r) = report_every {
            self.report_every = r;
        }
        self.desired_version = version.or(self.desired_version);
        let outcome = self.evaluate().map(|_| ());
        self.report();
        outcome
    }
}

export_module!(DriftMonitor);
