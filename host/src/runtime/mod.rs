//! The WebAssembly runtime: one wasmtime [`Engine`] for the whole gateway, the
//! [`Linker`] that provides the module world's imports, and loading components
//! into [`LoadedComponent`]s that instances are made from. A component may
//! target either version of the world (`world.rs`).
//!
//! CPU time is bounded with epoch interruption: an [`EpochTicker`] thread
//! advances the engine's epoch every [`EPOCH_TICK`], and each call may use a
//! budget of ticks, yielding to the async executor at every tick. The ticker is
//! a thread of its own, not a task: guests that spin on every worker of the
//! executor would otherwise starve the clock that is meant to stop them. Memory
//! is bounded per store by a resource limiter.
//!
//! With the `compiler` feature (the default) the runtime compiles `.wasm`
//! components itself and keeps the machine code in its [`cache`]. Without it
//! (the runtime-only build) it loads only components precompiled for its
//! target ([`precompile`], `ganglion module compile`), and refuses one built
//! for another architecture, engine or memory geometry with wasmtime's
//! reason (see [`alloc`] for the geometry).

pub mod alloc;
pub mod cache;
#[cfg(feature = "compiler")]
mod compile;
mod epoch;
mod error;
pub mod grants;
mod guest_output;
mod instance;
mod state;
pub mod storage;
mod timers;
#[cfg(feature = "compiler")]
mod trim;
mod twin;
mod world;

#[cfg(feature = "compiler")]
pub use compile::{PrecompileError, precompile, target_triple};
pub use epoch::{EPOCH_TICK, EpochTicker, deadline_ticks};
pub use error::{LoadError, RuntimeError};
pub use instance::{Batch, CallOutcome, DeadlineExceeded, Fault, Instance, MethodCall};
pub use state::{MAX_SENDS_PER_CALL, ModuleState};
pub use timers::{MAX_TIMERS, MIN_TIMER_INTERVAL_MS};

/// Whether this build has a compiler (the `compiler` feature): without one,
/// only precompiled components load.
pub const COMPILER: bool = cfg!(feature = "compiler");

use crate::message::IdGenerator;
use alloc::Allocation;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, UpdateDeadline};
use world::WorldPre;

/// The default memory limit of a module instance (`memory-mib`): 64 MiB, so
/// that a dozen modules at their limits still fit a 1 GB device.
pub const DEFAULT_MEMORY_BYTES: usize = 64 * 1024 * 1024;
/// The default CPU deadline of one call (`cpu-deadline-ms`).
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(1);

/// The resource limits of one module instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most linear memory the instance may have, in bytes (per linear
    /// memory). A growth beyond it is refused: `memory.grow` returns -1, which a
    /// Rust guest turns into an allocation failure (and usually an abort).
    pub memory_bytes: usize,
    /// The most wall time one call into the module may run (measured in epoch
    /// ticks), before it is ended with a trap. A call that spins is ended
    /// within this deadline plus one [`EPOCH_TICK`].
    pub call_deadline: Duration,
}

impl Default for Limits {
    /// 64 MiB of memory and a 1 s deadline per call.
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            call_deadline: DEFAULT_CALL_DEADLINE,
        }
    }
}

/// A component checked against the module world and ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pre: Arc<WorldPre>,
    digest: Arc<str>,
    from_cache: bool,
}

impl LoadedComponent {
    /// The component's content address: `sha256:<hex>` of its `.wasm` bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether its machine code was reused, from the compiled-artifact cache
    /// or from a module of this runtime already running the same component,
    /// rather than compiled by this load.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The version of the module world it targets: `0.1.0` or `0.2.0`.
    pub fn world_version(&self) -> &'static str {
        self.pre.version()
    }
}

/// The gateway's WebAssembly runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<ModuleState>,
    ids: Arc<IdGenerator>,
    #[cfg(feature = "compiler")]
    cache: Option<cache::CompileCache>,
    /// When set, only artifacts signed by one of these keys are loaded.
    trusted: Option<Vec<ed25519_dalek::VerifyingKey>>,
    allocation: Allocation,
    /// The components loaded and still held by some module, by digest: a
    /// second module (or a restart of one) running the same component shares
    /// its machine code instead of loading a copy (about 320 KiB for the
    /// relay test module).
    loaded: Mutex<HashMap<Arc<str>, Weak<WorldPre>>>,
}

const WASM_MAGIC: &[u8] = b"\0asm";
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

/// Where bytes to load came from: precompiled machine code is trusted from
/// the operator's own files, and from a push only when it is signed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A file named by the deployment.
    File,
    /// Pushed through the broker.
    Pushed,
}

fn error_chain(e: &wasmtime::Error) -> String {
    format!("{e:#}")
}

/// How to set a [`Runtime`] up.
#[derive(Debug, Clone)]
pub struct RuntimeOptions<'a> {
    /// Where compiled components are kept (see [`cache`]); none: compiled
    /// on every load.
    pub cache: Option<&'a Path>,
    /// How instances get their memory.
    pub allocation: Allocation,
    /// Whether calls have CPU deadlines (epoch interruption). A gateway
    /// always has them; turning them off exists to measure what they cost.
    pub deadlines: bool,
}

impl Default for RuntimeOptions<'_> {
    /// No cache, wasmtime's default on-demand allocation, deadlines on.
    fn default() -> Self {
        RuntimeOptions {
            cache: None,
            allocation: Allocation::OnDemand(alloc::DEFAULT_ON_DEMAND.to_string()),
            deadlines: true,
        }
    }
}

/// The engine settings every allocation shares (and precompiling for
/// another gateway).
fn base_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config
}

#[cfg(feature = "compiler")]
fn open_cache(dir: &Path) -> Result<cache::CompileCache, RuntimeError> {
    cache::CompileCache::open(dir).map_err(|e| {
        RuntimeError(format!(
            "cannot create the compiled-artifact cache {}: {e}",
            dir.display()
        ))
    })
}

impl Runtime {
    /// Sets up the engine (epoch interruption on, wasmtime's default
    /// on-demand allocation) and links WASI p2 and the module world's
    /// imports.
    pub fn new() -> Result<Self, RuntimeError> {
        let engine = Engine::new(&base_config()).map_err(|e| RuntimeError(error_chain(&e)))?;
        Runtime::with_engine(
            engine,
            Allocation::OnDemand(alloc::DEFAULT_ON_DEMAND.to_string()),
        )
    }

    /// Sets up the engine as `options` say. A pool that cannot be reserved
    /// falls back to on-demand allocation, with the reason in
    /// [`Runtime::allocation`].
    pub fn with_options(options: RuntimeOptions<'_>) -> Result<Self, RuntimeError> {
        let config_for = |allocation: &Allocation| {
            let mut config = base_config();
            config.epoch_interruption(options.deadlines);
            allocation.configure(&mut config);
            config
        };
        let allocation = options.allocation;
        let (engine, allocation) = match Engine::new(&config_for(&allocation)) {
            Ok(engine) => (engine, allocation),
            Err(e) if matches!(allocation, Allocation::Pooling(_)) => {
                let fallback = Allocation::OnDemand(format!(
                    "the instance pool could not be reserved: {}",
                    error_chain(&e)
                ));
                let engine = Engine::new(&config_for(&fallback))
                    .map_err(|e| RuntimeError(error_chain(&e)))?;
                (engine, fallback)
            }
            Err(e) => return Err(RuntimeError(error_chain(&e))),
        };
        #[cfg_attr(not(feature = "compiler"), allow(unused_mut))]
        let mut runtime = Runtime::with_engine(engine, allocation)?;
        // Without a compiler there is nothing to cache.
        #[cfg(feature = "compiler")]
        if let Some(dir) = options.cache {
            runtime.cache = Some(open_cache(dir)?);
        }
        Ok(runtime)
    }

    fn with_engine(engine: Engine, allocation: Allocation) -> Result<Self, RuntimeError> {
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError(error_chain(&e)))?;
        // Both versions of the world import the same interfaces (see `world`).
        crate::bindings::v0_1::Module::add_to_linker::<ModuleState, HasSelf<ModuleState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| RuntimeError(error_chain(&e)))?;
        // And 0.2.0 adds one.
        crate::bindings::v0_2::ganglion::module0_2_0::batch::add_to_linker::<
            ModuleState,
            HasSelf<ModuleState>,
        >(&mut linker, |s| s)
        .map_err(|e| RuntimeError(error_chain(&e)))?;
        Ok(Runtime {
            engine,
            linker,
            ids: Arc::new(IdGenerator::new()),
            #[cfg(feature = "compiler")]
            cache: None,
            trusted: None,
            allocation,
            loaded: Mutex::default(),
        })
    }

    /// [`Runtime::new`], keeping compiled components in `dir` (see
    /// [`cache`]).
    #[cfg(feature = "compiler")]
    pub fn with_cache(dir: &Path) -> Result<Self, RuntimeError> {
        let mut runtime = Runtime::new()?;
        runtime.cache = Some(open_cache(dir)?);
        Ok(runtime)
    }

    /// How instances get their memory.
    pub fn allocation(&self) -> &Allocation {
        &self.allocation
    }

    /// Checks that a deployment of `modules` modules fits the allocation (a
    /// pool's instance slots, two per module).
    pub fn admits_modules(&self, modules: usize) -> Result<(), LoadError> {
        if self.allocation.admits_modules(modules) {
            return Ok(());
        }
        Err(LoadError::TooManyForPool {
            modules,
            allocation: self.allocation.to_string(),
        })
    }

    /// Checks that module `module`'s `limits` fit the allocation (a pool's
    /// memory slots).
    pub fn admits(&self, module: &str, limits: &Limits) -> Result<(), LoadError> {
        if self.allocation.admits(limits.memory_bytes) {
            return Ok(());
        }
        Err(LoadError::OverPool {
            module: module.to_string(),
            asked: limits.memory_bytes / (1024 * 1024),
            allocation: self.allocation.to_string(),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads only artifacts signed by one of `keys` from now on (see
    /// [`crate::artifact`]).
    pub fn trust_only(&mut self, keys: Vec<ed25519_dalek::VerifyingKey>) {
        self.trusted = Some(keys);
    }

    /// Loads the component file at `path` for module `module`; with trusted
    /// keys set, only if its signature (`path.sig`) is good.
    pub fn load_file(&self, module: &str, path: &Path) -> Result<LoadedComponent, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            module: module.to_string(),
            path: path.display().to_string(),
            source,
        })?;
        if let Some(keys) = &self.trusted {
            crate::artifact::verify(path, &bytes, keys).map_err(|e| LoadError::Untrusted {
                module: module.to_string(),
                reason: e.to_string(),
            })?;
        }
        self.load(module, &bytes, Origin::File)
    }

    /// Loads an artifact that arrived by other means than a file (pushed
    /// through the broker): `name` is how errors refer to it, `signature`
    /// the signature file's text that came with it. With trusted keys set,
    /// only a good signature by one of them is accepted.
    pub fn load_artifact(
        &self,
        module: &str,
        name: &str,
        bytes: &[u8],
        signature: Option<&str>,
    ) -> Result<LoadedComponent, LoadError> {
        self.check_signature(module, name, bytes, signature)?;
        self.load(module, bytes, Origin::Pushed)
    }

    /// With trusted keys set, checks `signature` (the signature file's text)
    /// for `bytes`; without, accepts anything.
    pub fn check_signature(
        &self,
        module: &str,
        name: &str,
        bytes: &[u8],
        signature: Option<&str>,
    ) -> Result<(), LoadError> {
        let Some(keys) = &self.trusted else {
            return Ok(());
        };
        crate::artifact::verify_signature(name, bytes, signature, "its push", keys).map_err(|e| {
            LoadError::Untrusted {
                module: module.to_string(),
                reason: e.to_string(),
            }
        })
    }

    /// Loads `bytes`, a component or a precompiled one, for module `module`
    /// and checks it against the world, as from a file of the deployment.
    pub fn load_bytes(&self, module: &str, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        self.load(module, bytes, Origin::File)
    }

    fn load(
        &self,
        module: &str,
        bytes: &[u8],
        origin: Origin,
    ) -> Result<LoadedComponent, LoadError> {
        let precompiled = is_precompiled(bytes);
        if !precompiled {
            check_component(module, bytes)?;
        } else if origin == Origin::Pushed && self.trusted.is_none() {
            return Err(LoadError::Untrusted {
                module: module.to_string(),
                reason: "a pushed precompiled component is machine code, which the sandbox cannot check; this gateway accepts one only when it runs signed artifacts (`ganglion run --trusted-keys DIR`)".to_string(),
            });
        }
        let digest = crate::artifact::digest(bytes);
        if let Some(pre) = self.shared(&digest) {
            return Ok(LoadedComponent {
                pre,
                digest: Arc::from(digest),
                from_cache: true,
            });
        }
        let (component, from_cache) = if precompiled {
            (self.deserialize(module, bytes)?, true)
        } else {
            self.compile(module, &digest, bytes)?
        };
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            module: module.to_string(),
            reason: error_chain(&e),
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = WorldPre::new(instance_pre).map_err(wrong_world)?;
        // Cached only once it fits the world: a refused component leaves
        // nothing on disk.
        #[cfg(feature = "compiler")]
        if !from_cache && let Some(c) = &self.cache {
            c.put(&self.engine, &digest, pre.component());
        }
        let pre = Arc::new(pre);
        let digest: Arc<str> = Arc::from(digest);
        self.share(&digest, &pre);
        Ok(LoadedComponent {
            pre,
            digest,
            from_cache,
        })
    }

    /// The machine code of a `.wasm` component: from the cache, or compiled
    /// now; and whether it came from the cache.
    #[cfg(feature = "compiler")]
    fn compile(
        &self,
        module: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(Component, bool), LoadError> {
        if let Some(cached) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&self.engine, digest))
        {
            return Ok((cached, true));
        }
        let compiled = Component::new(&self.engine, bytes);
        trim::release_freed_memory();
        let component = compiled.map_err(|e| LoadError::Compile {
            module: module.to_string(),
            reason: error_chain(&e),
        })?;
        Ok((component, false))
    }

    /// Without a compiler, a `.wasm` component does not load.
    #[cfg(not(feature = "compiler"))]
    fn compile(
        &self,
        module: &str,
        _digest: &str,
        _bytes: &[u8],
    ) -> Result<(Component, bool), LoadError> {
        Err(LoadError::NoCompiler {
            module: module.to_string(),
        })
    }

    /// Loads a precompiled component's machine code, once wasmtime has
    /// checked that it was built for this engine: its architecture, its
    /// wasmtime version, its settings and memory geometry.
    fn deserialize(&self, module: &str, bytes: &[u8]) -> Result<Component, LoadError> {
        // SAFETY: `deserialize` trusts the bytes to be what wasmtime's
        // compiler wrote, since they are run as machine code. They come
        // from a file the operator put in the deployment (with trusted keys
        // set, signed by one of them), or from a push, which is loaded only
        // signed by a trusted key (checked in `load` and `load_artifact`).
        // wasmtime itself refuses a file not made for this engine.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(&self.engine, bytes) };
        loaded.map_err(|e| LoadError::WrongEngine {
            module: module.to_string(),
            reason: error_chain(&e),
        })
    }

    /// The component with `digest`, if a module still holds it.
    fn shared(&self, digest: &str) -> Option<Arc<WorldPre>> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.get(digest).and_then(Weak::upgrade)
    }

    /// Offers `pre` to later loads of `digest`, and forgets the components
    /// no module holds any more.
    fn share(&self, digest: &Arc<str>, pre: &Arc<WorldPre>) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.retain(|_, held| held.strong_count() > 0);
        loaded.insert(digest.clone(), Arc::downgrade(pre));
    }

    /// Makes a fresh instance of `component` for module `module`, in a store of
    /// its own with `limits`, seeing only what `grants` grants it.
    pub async fn instantiate(
        &self,
        module: Arc<str>,
        component: &LoadedComponent,
        limits: Limits,
        storage: Option<storage::ModuleStorage>,
        twin: Option<crate::twin::TwinHandle>,
        grants: &grants::Grants,
    ) -> Result<Instance, wasmtime::Error> {
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .trap_on_grow_failure(false)
            .build();
        let mut state = ModuleState::new(module, store_limits, self.ids.clone(), storage, grants)?;
        state.twin = twin;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s.limiter());
        let budget = deadline_ticks(limits.call_deadline);
        store.epoch_deadline_callback(move |mut ctx| {
            let state = ctx.data_mut();
            if state.ticks_left == 0 {
                return Err(wasmtime::Error::new(DeadlineExceeded(budget)));
            }
            state.ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });
        store.data_mut().ticks_left = budget;
        store.set_epoch_deadline(1);
        let bindings = component.pre.instantiate(&mut store).await?;
        Ok(Instance::new(store, bindings, budget, limits))
    }
}

/// Whether `bytes` are a component precompiled by wasmtime (an ELF file
/// with wasmtime's sections), rather than a `.wasm` component.
pub fn is_precompiled(bytes: &[u8]) -> bool {
    matches!(
        Engine::detect_precompiled(bytes),
        Some(wasmtime::Precompiled::Component)
    )
}

/// Checks that `bytes` look like a WebAssembly component (not a core
/// module, not something else), for module `module`.
fn check_component(module: &str, bytes: &[u8]) -> Result<(), LoadError> {
    let not_component = |reason: &str| LoadError::NotAComponent {
        module: module.to_string(),
        reason: reason.to_string(),
    };
    if Engine::detect_precompiled(bytes) == Some(wasmtime::Precompiled::Module) {
        return Err(not_component(
            "it is a precompiled core module; precompile the component (`ganglion module compile`)",
        ));
    }
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(not_component(
            "the file starts neither with the WebAssembly magic bytes nor as a precompiled component",
        ));
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(not_component(
            "it is a core WebAssembly module; build it with `--target wasm32-wasip2` to get a component",
        ));
    }
    Ok(())
}
