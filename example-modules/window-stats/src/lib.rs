//! window-stats: windowed analytics at the edge, after Azure Stream Analytics
//! on IoT Edge. It aggregates numeric fields of JSON messages (such as
//! temp-sensor's `{"machine":{"temperature":..,"pressure":..},"ambient":{..},
//! "timeCreated":".."}`) per key over tumbling or hopping event-time windows,
//! and sends one message per window and key out of `output1`.
//!
//! # Config (manifest `config`, overridable by the desired twin)
//! - `window-size-ms` (60000): window length.
//! - `hop-ms` (the size): distance between window starts. Equal to the size:
//!   tumbling windows; smaller: hopping windows, each event in every window
//!   that contains it (at most 64). Windows are aligned to the epoch:
//!   `[k·hop, k·hop + size)`, end exclusive.
//! - `late-tolerance-ms` (5000): the watermark is the largest event time seen
//!   minus this; a window closes and is sent once the watermark reaches its end.
//! - `fields` (`machine.temperature`): comma-separated dotted JSON paths (a
//!   digit segment indexes an array); at most 32. In the twin, also an array.
//! - `key-by` (`source`): `source` (the leaf device id if the message has
//!   one, else the sending module), `device`, `module`, or `field:<path>` (a
//!   string or number in the body). A missing key groups under `unknown`.
//! - `time-field` (none): a body field with the event time (ms since the
//!   epoch, or RFC 3339 text), used only when the message has no creation
//!   time. A message with neither is counted (`noEventTime`) and dropped.
//! - `max-open-windows` (256, at most 1000): the cap on open (window, key)
//!   aggregates; an event that would open one more is refused for that window
//!   and counted (`refusedWindows`).
//! - `flush-interval-ms` (1000; 0 turns it off; at least 10): the
//!   processing-time timer. While no event raises the largest event time,
//!   each tick after the first counts one interval of idle time, and the
//!   watermark becomes largest event time + idle time − tolerance: a stream
//!   that stops still has its last window closed within
//!   `tolerance + (end − last event)` plus two intervals of its last event.
//!   Ticks, not the wall clock, measure processing time, so the rule is as
//!   exact as the host's timer and independent of clock steps.
//!
//! # Statistics
//! Per field: `count`, `avg`, `min`, `max` and `stddev`, the **population**
//! standard deviation (divides by n; 0 for one value). Output: see
//! [`output::body`]. The message's creation time is the window's end.
//!
//! # Late events
//! An event older than the largest event time seen is late. It joins each of
//! its windows that is still open and counts as `lateAccepted`; if all of them
//! have closed it is dropped and counts as `lateDropped`.
//!
//! # The desired twin
//! Its keys are the config keys above; they override the manifest's values
//! (`null` restores them). A valid change applies at once, without a restart:
//! every open window is sent immediately with `"complete": false`, and new
//! windows start under the new settings (the watermark carries over and never
//! goes back). An invalid desired twin is refused with an error naming the
//! key; the active settings stay, and the error is reported as `configError`.
//! Each patch is checked with the whole desired twin merged so far, so the
//! bad key must be fixed or removed (`null`) before any change applies.
//!
//! # The reported twin
//! `config` (the active settings), `configSource` (`init` or `desired`),
//! `desiredVersion`, `configError`, and `counters` (`accepted`,
//! `lateAccepted`, `lateDropped`, `refusedWindows`, `noEventTime`,
//! `badMessages`, `windowsEmitted`, `emitFailed`, `openWindows`) and
//! `watermarkMs`, reported
//! when windows close or the settings change, and on a timer tick when a
//! counter changed.

mod config;
mod event;
mod output;
mod stats;
mod window;

use config::Settings;
use event::Skip;
use ganglion_sdk::{Config, Message, Module, export_module, log, send, timer, twin};
use serde_json::{Map, Value, json};
use std::time::Duration;
use window::{Closed, Engine};

/// The output windows leave by.
const OUTPUT: &str = "output1";
/// The processing-time flush timer.
const FLUSH_TIMER: u32 = 1;

/// Counts of what happens outside the window engine.
#[derive(Default)]
struct Counters {
    no_event_time: u64,
    bad_messages: u64,
    windows_emitted: u64,
    emit_failed: u64,
}

struct WindowStats {
    /// The manifest's config, which the desired twin overrides.
    init: Config,
    settings: Settings,
    engine: Engine,
    /// The desired properties as told so far (merge patches applied).
    desired: Map<String, Value>,
    desired_version: Option<u64>,
    from_desired: bool,
    config_error: Option<String>,
    counters: Counters,
    /// A counter changed since the last report.
    dirty: bool,
}

impl WindowStats {
    /// Sends each window out of `output1`, named by `fields`.
    fn emit(&mut self, closed: Vec<Closed>, fields: &[String]) {
        for window in closed {
            let sent = Message::json(&output::body(&window, fields))
                .map_err(|e| e.to_string())
                .and_then(|msg| {
                    let msg = msg
                        .with_creation_time_ms(window.end)
                        .with_property("windowKey", window.key.as_str());
                    send(OUTPUT, &msg).map_err(|e| e.to_string())
                });
            match sent {
                Ok(()) => self.counters.windows_emitted += 1,
                Err(e) => {
                    self.counters.emit_failed += 1;
                    log::warn(&format!("window of key `{}` not sent: {e}", window.key));
                }
            }
            self.dirty = true;
        }
    }

    /// Closes what the watermark has passed; reports if anything closed.
    fn close_ready(&mut self) {
        let closed = self.engine.close_ready();
        if !closed.is_empty() {
            let fields = self.settings.fields.clone();
            self.emit(closed, &fields);
            self.report();
        }
    }

    fn report(&mut self) {
        let c = self.engine.counters();
        let patch = json!({
            "config": self.settings.to_json(),
            "configSource": if self.from_desired { "desired" } else { "init" },
            "desiredVersion": self.desired_version,
            "configError": self.config_error,
            "counters": {
                "accepted": c.accepted,
                "lateAccepted": c.late_accepted,
                "lateDropped": c.late_dropped,
                "refusedWindows": c.refused_windows,
                "noEventTime": self.counters.no_event_time,
                "badMessages": self.counters.bad_messages,
                "windowsEmitted": self.counters.windows_emitted,
                "emitFailed": self.counters.emit_failed,
                "openWindows": self.engine.open_count(),
            },
            "watermarkMs": self.engine.watermark(),
        });
        match twin::report(&patch) {
            Ok(()) => self.dirty = false,
            Err(e) => log::warn(&format!("cannot report to the twin: {e}")),
        }
    }

    /// Replaces the settings, if they differ: restarts the timer if its
    /// interval changed (keeping the old one if the host refuses), then
    /// flushes every open window under the old settings.
    fn apply(&mut self, settings: Settings) -> Result<(), String> {
        if settings == self.settings {
            return Ok(());
        }
        if settings.flush_ms != self.settings.flush_ms {
            timer::cancel(FLUSH_TIMER);
            if let Err(e) = start_timer(settings.flush_ms) {
                start_timer(self.settings.flush_ms)?;
                return Err(e);
            }
        }
        let old_fields = self.settings.fields.clone();
        let flushed = self.engine.reconfigure(settings.spec());
        self.emit(flushed, &old_fields);
        log::info(&format!("settings changed to {}", settings.to_json()));
        self.settings = settings;
        Ok(())
    }
}

fn start_timer(flush_ms: u64) -> Result<(), String> {
    if flush_ms == 0 {
        return Ok(());
    }
    timer::set(FLUSH_TIMER, Duration::from_millis(flush_ms), true)
        .map_err(|e| format!("cannot start the flush timer: {e}"))
}

/// Applies an RFC 7396 merge patch to `target`.
fn merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(&key);
            }
            Value::Object(inner) => {
                let slot = target.entry(key).or_insert_with(|| json!({}));
                if !slot.is_object() {
                    *slot = json!({});
                }
                if let Value::Object(t) = slot {
                    merge(t, inner);
                }
            }
            other => {
                target.insert(key, other);
            }
        }
    }
}

impl Module for WindowStats {
    fn init(config: Config) -> Result<Self, String> {
        let settings = Settings::from_config(&config)?;
        start_timer(settings.flush_ms)?;
        let mut module = WindowStats {
            engine: Engine::new(settings.spec()),
            init: config,
            settings,
            desired: Map::new(),
            desired_version: None,
            from_desired: false,
            config_error: None,
            counters: Counters::default(),
            dirty: false,
        };
        module.report();
        Ok(module)
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        self.dirty = true;
        let event = match event::read(&self.settings, &msg) {
            Ok(event) => event,
            Err(Skip::NoEventTime) => {
                self.counters.no_event_time += 1;
                return Ok(());
            }
            Err(Skip::Bad(why)) => {
                self.counters.bad_messages += 1;
                return Err(why);
            }
        };
        self.engine.observe(event.time, &event.key, &event.values);
        self.close_ready();
        Ok(())
    }

    fn on_timer(&mut self, id: u32) -> Result<(), String> {
        if id != FLUSH_TIMER {
            return Ok(());
        }
        self.engine.tick(self.settings.flush_ms);
        self.close_ready();
        if self.dirty {
            self.report();
        }
        Ok(())
    }

    fn on_twin_desired(&mut self, patch: Value) -> Result<(), String> {
        let Value::Object(mut patch) = patch else {
            return Err("a desired twin patch must be a JSON object".to_string());
        };
        let version = patch.remove("$version").and_then(|v| v.as_u64());
        merge(&mut self.desired, patch);
        let applied = Settings::with_desired(&self.init, &self.desired).and_then(|s| self.apply(s));
        let outcome = match applied {
            Ok(()) => {
                self.config_error = None;
                self.desired_version = version.or(self.desired_version);
                self.from_desired = !self.desired.is_empty();
                Ok(())
            }
            Err(e) => {
                let e = format!("desired twin refused, the active settings stay: {e}");
                log::warn(&e);
                self.config_error = Some(e.clone());
                Err(e)
            }
        };
        self.report();
        outcome
    }
}

export_module!(WindowStats);
