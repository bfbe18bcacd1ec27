//! trapper (test module): forwards each message out of `output1`, except that a
//! body of `trap` makes it trap (a panic, which aborts) after sending, a body of
//! `fail` makes `on-message` return an error, and a body of `exit` makes it exit
//! cleanly (`std::process::exit(0)`, WASI's `exit`) after sending.

use ganglion_sdk::{Config, Message, Module, export_module, send};

struct Trapper;

impl Module for Trapper {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Trapper)
    }

    #[allow(clippy::panic)]
    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        send("output1", &msg).map_err(|e| e.to_string())?;
        match msg.body() {
            b"trap" => panic!("asked to trap"),
            b"fail" => Err("asked to fail".to_string()),
            b"exit" => std::process::exit(0),
            _ => Ok(()),
        }
    }
}

export_module!(Trapper);
