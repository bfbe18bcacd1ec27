//! temp-filter: forwards the readings whose machine temperature is above a
//! threshold, marked `MessageType=Alert`. Config: `threshold` (default 25).

use ganglion_sdk::{Config, Message, Module, export_module, send};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reading {
    machine: Machine,
}

#[derive(Deserialize)]
struct Machine {
    temperature: f64,
}

struct TempFilter {
    threshold: f64,
}

impl Module for TempFilter {
    fn init(config: Config) -> Result<Self, String> {
        let threshold = config.parse_or("threshold", 25.0)?;
        Ok(TempFilter { threshold })
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        let reading: Reading = msg.body_json().map_err(|e| format!("not a reading: {e}"))?;
        if reading.machine.temperature > self.threshold {
            let alert = msg.with_property("MessageType", "Alert");
            send("output1", &alert).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

export_module!(TempFilter);
