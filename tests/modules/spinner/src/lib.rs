//! spinner (test module): forwards each message out of `output1`, except that a
//! body of `spin` makes it loop forever, until the host ends the call at its CPU
//! deadline. Config: `spin-in-init = "true"` makes `init` loop forever instead.

use ganglion_sdk::{Config, Message, Module, export_module, send};

struct Spinner;

/// Loops forever, doing work the compiler cannot remove.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

impl Module for Spinner {
    fn init(config: Config) -> Result<Self, String> {
        if config.get("spin-in-init") == Some("true") {
            spin();
        }
        Ok(Spinner)
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        if msg.body() == b"spin" {
            spin();
        }
        send("output1", &msg).map_err(|e| e.to_string())
    }
}

export_module!(Spinner);
