//! relay (test module): forwards each message out of `output1`, appending its
//! tag to the property `relayed-by` (`a`, then `a,b`, ...). Config: `tag`
//! (default `relay`).

use ganglion_sdk::{Config, Message, Module, export_module, send};

struct Relay {
    tag: String,
}

impl Module for Relay {
    fn init(config: Config) -> Result<Self, String> {
        let tag = config.get("tag").unwrap_or("relay").to_string();
        Ok(Relay { tag })
    }

    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        let trail = match msg.property("relayed-by") {
            Some(before) => format!("{before},{}", self.tag),
            None => self.tag.clone(),
        };
        let out = msg.with_property("relayed-by", trail);
        send("output1", &out).map_err(|e| e.to_string())
    }
}

export_module!(Relay);
