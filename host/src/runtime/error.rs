//! Why a component did not load ([`LoadError`], for the operator: it names
//! the module and the reason) and why the runtime could not be set up.

use super::COMPILER;

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("module `{module}`: cannot read {path}: {source}")]
    Read {
        /// The module's name.
        module: String,
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are neither a WebAssembly component nor a precompiled one.
    #[error("module `{module}`: not a WebAssembly component: {reason}")]
    NotAComponent {
        /// The module's name.
        module: String,
        /// What was found instead.
        reason: String,
    },
    /// The deployment names a pushed artifact this gateway does not have.
    #[error(
        "module `{module}`: artifact {digest} has not been pushed to this gateway (`ganglion module push`)"
    )]
    NotPushed {
        /// The module's name.
        module: String,
        /// The artifact's digest.
        digest: String,
    },
    /// The module's memory limit is larger than the instance pool's slots.
    #[error(
        "module `{module}`: memory-mib = {asked} is over this gateway's instance pool ({allocation}); lower it, or start the gateway with {}", if COMPILER { "a larger `--pool-memory-mib`" } else { "`--no-pool` (this runtime-only build's memory slots have the fixed size precompiled modules are built for)" }
    )]
    OverPool {
        /// The module's name.
        module: String,
        /// Its memory limit in MiB.
        asked: usize,
        /// The allocation in use.
        allocation: String,
    },
    /// The deployment has more modules than the instance pool has room for.
    #[error(
        "{modules} modules need {} instance slots with room for hot swaps, over this gateway's instance pool ({allocation}); start the gateway with a larger `--pool-instances`", .modules * 2
    )]
    TooManyForPool {
        /// How many modules the deployment has.
        modules: usize,
        /// The allocation in use.
        allocation: String,
    },
    /// A `.wasm` component, and this build has no compiler.
    #[error(
        "module `{module}`: this gateway is a runtime-only build (no compiler) and loads only precompiled components; precompile it with `ganglion module compile --target {arch} FILE` and deploy the .cwasm file",
        arch = std::env::consts::ARCH
    )]
    NoCompiler {
        /// The module's name.
        module: String,
    },
    /// A precompiled component that this gateway's engine cannot load: built
    /// for another architecture, wasmtime version or memory geometry, or
    /// damaged.
    #[error(
        "module `{module}`: the precompiled component does not fit this gateway ({reason}); precompile its .wasm for this gateway with `ganglion module compile --target {arch} FILE`, by this version of ganglion",
        arch = std::env::consts::ARCH
    )]
    WrongEngine {
        /// The module's name.
        module: String,
        /// wasmtime's reason.
        reason: String,
    },
    /// The component does not compile.
    #[error("module `{module}`: the component does not compile: {reason}")]
    Compile {
        /// The module's name.
        module: String,
        /// wasmtime's reason.
        reason: String,
    },
    /// The gateway runs only signed artifacts, and this one's signature is
    /// missing, unknown or wrong.
    #[error("module `{module}`: refused: {reason}")]
    Untrusted {
        /// The module's name.
        module: String,
        /// Why.
        reason: String,
    },
    /// The component is not of the `ganglion:module/module` world.
    #[error(
        "module `{module}`: the component does not fit the ganglion:module/module world: {reason}"
    )]
    WrongWorld {
        /// The module's name.
        module: String,
        /// The missing or mismatched import or export.
        reason: String,
    },
}

/// Why the runtime could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the WebAssembly runtime: {0}")]
pub struct RuntimeError(pub(super) String);
