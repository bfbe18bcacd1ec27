//! temp-sensor: a simulated machine, after Azure IoT Edge's
//! SimulatedTemperatureSensor. Every `interval-ms` it sends a JSON reading out of
//! `temperatureOutput`: the machine temperature rises with noise from
//! `machine-temp-min` towards `machine-temp-max`, the pressure follows it, and the
//! ambient temperature and humidity wander.
//!
//! Config: `interval-ms` (default 5000), `messages` (how many to send, 0 for no
//! end; default 500), `seed` (for repeatable noise; default from the clock),
//! `machine-temp-min` (21), `machine-temp-max` (100).

mod clock;
mod rng;

use ganglion_sdk::{Config, Message, Module, export_module, log, send, timer};
use serde::Serialize;
use std::time::Duration;

const TICK: u32 = 1;
const OUTPUT: &str = "temperatureOutput";

#[derive(Serialize)]
struct Reading {
    machine: Machine,
    ambient: Ambient,
    #[serde(rename = "timeCreated")]
    time_created: String,
}

#[derive(Serialize)]
struct Machine {
    temperature: f64,
    pressure: f64,
}

#[derive(Serialize)]
struct Ambient {
    temperature: f64,
    humidity: f64,
}

struct TempSensor {
    rng: rng::XorShift,
    machine_min: f64,
    machine_max: f64,
    machine_temp: f64,
    limit: u64,
    sent: u64,
}

impl TempSensor {
    fn next_reading(&mut self) -> Reading {
        let rise = self.rng.next_f64() * 0.5;
        self.machine_temp = (self.machine_temp + rise).min(self.machine_max);
        let span = self.machine_max - self.machine_min;
        let pressure = 1.0 + (self.machine_temp - self.machine_min) * 9.0 / span;
        Reading {
            machine: Machine {
                temperature: round2(self.machine_temp),
                pressure: round2(pressure),
            },
            ambient: Ambient {
                temperature: round2(21.0 + self.rng.next_f64() - 0.5),
                humidity: 24.0 + (self.rng.next_f64() * 3.0).floor(),
            },
            time_created: ganglion_sdk::time::now_rfc3339(),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Module for TempSensor {
    fn init(config: Config) -> Result<Self, String> {
        let interval_ms: u64 = config.parse_or("interval-ms", 5000)?;
        let limit = config.parse_or("messages", 500)?;
        let seed = config.parse_or("seed", clock::now_nanos())?;
        let machine_min = config.parse_or("machine-temp-min", 21.0)?;
        let machine_max = config.parse_or("machine-temp-max", 100.0)?;
        if machine_max <= machine_min {
            return Err(format!(
                "machine-temp-max ({machine_max}) must be above machine-temp-min ({machine_min})"
            ));
        }
        timer::set(TICK, Duration::from_millis(interval_ms), true).map_err(|e| e.to_string())?;
        log::info(&format!(
            "sending a reading every {interval_ms} ms ({} messages)",
            if limit == 0 {
                "no limit on".to_string()
            } else {
                limit.to_string()
            }
        ));
        Ok(TempSensor {
            rng: rng::XorShift::new(seed),
            machine_min,
            machine_max,
            machine_temp: machine_min,
            limit,
            sent: 0,
        })
    }

    fn on_timer(&mut self, _id: u32) -> Result<(), String> {
        if self.limit != 0 && self.sent >= self.limit {
            timer::cancel(TICK);
            log::info(&format!("sent all {} messages; stopping", self.limit));
            return Ok(());
        }
        let reading = self.next_reading();
        self.sent += 1;
        let msg = Message::json(&reading)
            .map_err(|e| e.to_string())?
            .with_property("sequenceNumber", self.sent.to_string());
        send(OUTPUT, &msg).map_err(|e| e.to_string())
    }
}

export_module!(TempSensor);
