//! # ganglion-sdk: write ganglion modules in plain Rust
//!
//! A module is a type that implements [`Module`]; [`export_module!`] turns it into
//! a WebAssembly component for the `ganglion:module/module@0.2.0` world (see
//! `wit/`), which takes messages in batches.
//! Build it with `cargo build --release --target wasm32-wasip2`.
//!
//! ```no_run
//! use ganglion_sdk::{export_module, send, Config, Message, Module};
//!
//! struct Doubler;
//!
//! impl Module for Doubler {
//!     fn init(_config: Config) -> Result<Self, String> {
//!         Ok(Doubler)
//!     }
//!
//!     fn on_message(&mut self, _input: &str, msg: Message) -> Result<(), String> {
//!         let value: f64 = msg.body_json().map_err(|e| e.to_string())?;
//!         let out = Message::json(&(value * 2.0)).map_err(|e| e.to_string())?;
//!         send("output1", &out).map_err(|e| e.to_string())
//!     }
//! }
//!
//! export_module!(Doubler);
//! ```
//!
//! # Layout
//! - [`Module`] and [`export_module!`]: the handlers a module implements;
//!   [`Batch`]: the messages of one `on-messages` call.
//! - [`Message`]: a message with builders and JSON helpers.
//! - [`Config`]: the module's configuration from the deployment manifest.
//! - [`send`], [`log`], [`timer`]: what a module can ask of the host.
//! - [`storage`]: the module's private, persistent key-value store.
//! - [`time`]: RFC 3339 time stamps and the wall clock.

mod batch;
mod config;
mod export;
mod host;
mod message;
pub mod storage;
pub mod time;
pub mod twin;

pub use config::Config;
pub use export::{Batch, MethodError, Module};
pub use host::{SendError, log, send, timer};
pub use message::Message;

/// The bindings generated from `wit/` by wit-bindgen. Module authors normally use
/// the wrappers above instead.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "ganglion:module/module@0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_module_world",
        default_bindings_module: "ganglion_sdk::bindings",
        additional_derives: [PartialEq],
        // The imports are another package's (0.1.0's): generated here too.
        generate_all,
    });

    /// The exports, `ganglion:module/guest@0.2.0`.
    pub use self::exports::ganglion::module0_2_0::guest;
    /// The imports and types, from `ganglion:module@0.1.0`.
    pub use self::ganglion::module0_1_0 as module;
    /// `ganglion:module/batch@0.2.0`.
    pub use self::ganglion::module0_2_0::batch;
}

#[doc(hidden)]
pub mod __private {
    pub use crate::batch::dispatch_messages;
    pub use crate::export::{
        dispatch_init, dispatch_method, dispatch_timer, dispatch_twin_desired,
    };
}
