//! Test module for cloud control.
//!
//! - Desired twin: each patch it is told is merged into its view of the
//!   desired properties, and it reports `{"seen": <that view>, "patches": n}`.
//! - Direct methods: `echo` answers its payload; `fail` answers status 418;
//!   `spin` busy-waits `{"ms": n}` milliseconds, then answers; `big` answers
//!   200 KB; `desired` answers the desired twin as read through the import;
//!   `trap` panics.

use ganglion_sdk::{Config, MethodError, Module, export_module, twin};
use serde_json::{Map, Value, json};

struct Probe {
    seen: Map<String, Value>,
    patches: u64,
}

fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(t) = slot {
                    merge(t, inner);
                }
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

impl Module for Probe {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Probe {
            seen: Map::new(),
            patches: 0,
        })
    }

    fn on_twin_desired(&mut self, patch: Value) -> Result<(), String> {
        let Value::Object(mut patch) = patch else {
            return Err("a desired patch must be an object".to_string());
        };
        patch.remove("$version");
        merge(&mut self.seen, &patch);
        self.patches += 1;
        twin::report(&json!({ "seen": Value::Object(self.seen.clone()), "patches": self.patches }))
    }

    fn on_method(&mut self, name: &str, payload: Value) -> Result<Value, MethodError> {
        match name {
            "echo" => Ok(payload),
            "fail" => Err(MethodError::new(418, "I am a teapot")),
            "spin" => {
                let ms = payload.get("ms").and_then(Value::as_u64).unwrap_or(0);
                let start = std::time::Instant::now();
                while start.elapsed().as_millis() < u128::from(ms) {
                    std::hint::spin_loop();
                }
                Ok(json!({ "spun_ms": ms }))
            }
            "big" => Ok(Value::String("x".repeat(200 * 1024))),
            "desired" => Ok(twin::desired()),
            "trap" => panic!("asked to trap"),
            other => Err(MethodError::new(404, format!("no method `{other}`"))),
        }
    }
}

export_module!(Probe);
