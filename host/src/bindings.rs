//! Host bindings for the `ganglion:module/module` world, generated from `wit/`.
//! Imports are synchronous host functions, except `twin.report`, which waits
//! for the twin keeper's answer; exports are called asynchronously so that the
//! epoch deadline can yield to other modules.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "ganglion:module/module",
    imports: { "ganglion:module/twin.report": async },
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize],
});
