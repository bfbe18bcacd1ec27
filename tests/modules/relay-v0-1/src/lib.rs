//! relay-v0-1 (test module): the relay of `tests/modules/relay`, written
//! against `ganglion:module@0.1.0` (`wit/deps/module-0.1.0`) with wit-bindgen
//! and no SDK, as a module built before 0.2.0 was. It forwards each message
//! out of `output1`, appending its tag to the property `relayed-by`. Config:
//! `tag` (default `relay-v0-1`).

// The generated export glue is `unsafe` (`export_name` functions).
#![allow(unsafe_code)]

wit_bindgen::generate!({
    path: "../../../wit/deps/module-0.1.0",
    world: "ganglion:module/module@0.1.0",
});

use exports::ganglion::module::guest::{Guest, MethodError};
use ganglion::module::host;
use ganglion::module::types::Message;
use std::cell::RefCell;

thread_local! {
    static TAG: RefCell<String> = RefCell::new("relay-v0-1".to_string());
}

struct RelayV01;

impl Guest for RelayV01 {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        for (key, value) in config {
            match key.as_str() {
                "tag" => TAG.with(|t| *t.borrow_mut() = value),
                _ => return Err(format!("unknown config key `{key}` (known: tag)")),
            }
        }
        Ok(())
    }

    fn on_message(_input: String, mut msg: Message) -> Result<(), String> {
        let tag = TAG.with(|t| t.borrow().clone());
        match msg.properties.iter_mut().find(|(k, _)| k == "relayed-by") {
            Some((_, trail)) => {
                trail.push(',');
                trail.push_str(&tag);
            }
            None => msg.properties.push(("relayed-by".to_string(), tag)),
        }
        host::send("output1", &msg).map_err(|e| format!("send: {e:?}"))
    }

    fn on_timer(_id: u32) -> Result<(), String> {
        Ok(())
    }

    fn on_twin_desired(_patch: String) -> Result<(), String> {
        Ok(())
    }

    fn on_method(name: String, _payload: String) -> Result<String, MethodError> {
        Err(MethodError {
            status: 404,
            message: format!("no method `{name}`"),
        })
    }
}

export!(RelayV01);
