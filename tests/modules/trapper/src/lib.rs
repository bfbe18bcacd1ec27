//! trapper (test module): forwards each message out of `output1`, except that a
//! body of `trap` makes it trap (a panic, which aborts) after sending, a body of
//! `fail` makes `on-message` return an error, a body of `exit` makes it exit
//! cleanly (`std::process::exit(0)`, WASI's `exit`) after sending, and a body of
//! `recurse` makes it recurse without end (each frame keeps a buffer on the
//! stack), until the stack is exhausted. With the config `panic-in-init =
//! "true"`, `init` panics.

use ganglion_sdk::{Config, Message, Module, export_module, send};
use std::hint::black_box;

struct Trapper;

/// Recurses until the stack runs out; the buffer keeps each frame on the
/// linear-memory stack, and `black_box` keeps the optimiser from turning it
/// into a loop.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 512]);
    let below = recurse(black_box(depth + 1));
    below.wrapping_add(u64::from(frame[(depth % 512) as usize]))
}

impl Module for Trapper {
    #[allow(clippy::panic)]
    fn init(config: Config) -> Result<Self, String> {
        if config.get("panic-in-init") == Some("true") {
            panic!("asked to panic in init");
        }
        Ok(Trapper)
    }

    #[allow(clippy::panic)]
    fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
        send("output1", &msg).map_err(|e| e.to_string())?;
        match msg.body() {
            b"trap" => panic!("asked to trap"),
            b"fail" => Err("asked to fail".to_string()),
            b"exit" => std::process::exit(0),
            b"recurse" => Err(format!("the recursion returned {}", recurse(0))),
            _ => Ok(()),
        }
    }
}

export_module!(Trapper);
