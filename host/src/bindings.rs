//! Host bindings generated from `wit/`: the `ganglion:module/module` world
//! in both versions the gateway loads: [`v0_1`] and [`v0_2`]. 0.2.0's world
//! holds only its exports and reuses 0.1.0's imports and types (the
//! 0.2.0 world imports those very interfaces), so that one set of host
//! functions serves both.
//!
//! Imports are synchronous host functions, except `twin.report`, which waits
//! for the twin keeper's answer; exports are called asynchronously so that the
//! epoch deadline can yield to other modules.

#![allow(missing_docs)]

/// The 0.1.0 world: one `on-message` call per message.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "ganglion:module/module@0.1.0",
        imports: { "ganglion:module/twin.report": async },
        exports: { default: async },
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

/// The 0.2.0 world: batched `on-messages`.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "ganglion:module/module@0.2.0",
        exports: { default: async },
        with: {
            "ganglion:module/types@0.1.0": crate::bindings::module::types,
            "ganglion:module/host@0.1.0": crate::bindings::module::host,
            "ganglion:module/timers@0.1.0": crate::bindings::module::timers,
            "ganglion:module/storage@0.1.0": crate::bindings::module::storage,
            "ganglion:module/twin@0.1.0": crate::bindings::module::twin,
        },
    });
}

/// 0.1.0's imports and types, which both versions use.
pub use v0_1::ganglion::module0_1_0 as module;
