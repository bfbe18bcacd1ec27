//! The WebAssembly runtime: one wasmtime [`Engine`] for the whole gateway, the
//! [`Linker`] that provides the module world's imports, and loading components
//! into [`LoadedComponent`]s that instances are made from.
//!
//! CPU time is bounded with epoch interruption: an [`EpochTicker`] advances the
//! engine's epoch every [`EPOCH_TICK`], and each call may use a budget of ticks,
//! yielding to the async executor at every tick. Memory is bounded per store by a
//! resource limiter.

pub mod bindings;
mod instance;
mod state;
pub mod storage;
mod timers;

pub use instance::{CallOutcome, DeadlineExceeded, Instance};
pub use state::{MAX_SENDS_PER_CALL, ModuleState};
pub use timers::{MAX_TIMERS, MIN_TIMER_INTERVAL_MS};

use crate::message::IdGenerator;
use bindings::{Module as ModuleBindings, ModulePre};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, UpdateDeadline};

/// How often the engine's epoch advances: the granularity of CPU deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The resource limits of one module instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most linear memory the instance may have, in bytes.
    pub memory_bytes: usize,
    /// The most wall time one call into the module may run (measured in epoch
    /// ticks), before it is ended with a trap.
    pub call_deadline: Duration,
}

impl Default for Limits {
    /// 64 MiB of memory and a 1 s deadline per call.
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * 1024 * 1024,
            call_deadline: Duration::from_secs(1),
        }
    }
}

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
    /// The bytes are not a WebAssembly component.
    #[error("module `{module}`: not a WebAssembly component: {reason}")]
    NotAComponent {
        /// The module's name.
        module: String,
        /// What was found instead.
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
pub struct RuntimeError(String);

/// A component checked against the module world and ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pre: ModulePre<ModuleState>,
}

/// The gateway's WebAssembly runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<ModuleState>,
    ids: Arc<IdGenerator>,
}

const WASM_MAGIC: &[u8] = b"\0asm";
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

fn error_chain(e: &wasmtime::Error) -> String {
    format!("{e:#}")
}

impl Runtime {
    /// Sets up the engine (epoch interruption on) and links WASI p2 and the
    /// module world's imports.
    pub fn new() -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| RuntimeError(error_chain(&e)))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError(error_chain(&e)))?;
        ModuleBindings::add_to_linker::<ModuleState, HasSelf<ModuleState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError(error_chain(&e)))?;
        Ok(Runtime {
            engine,
            linker,
            ids: Arc::new(IdGenerator::new()),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads the component file at `path` for module `module`.
    pub fn load_file(&self, module: &str, path: &Path) -> Result<LoadedComponent, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            module: module.to_string(),
            path: path.display().to_string(),
            source,
        })?;
        self.load_bytes(module, &bytes)
    }

    /// Compiles `bytes` for module `module` and checks it against the world.
    pub fn load_bytes(&self, module: &str, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        let not_component = |reason: &str| LoadError::NotAComponent {
            module: module.to_string(),
            reason: reason.to_string(),
        };
        if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
            return Err(not_component(
                "the file does not start with the WebAssembly magic bytes",
            ));
        }
        if bytes[4..8] == CORE_MODULE_VERSION {
            return Err(not_component(
                "it is a core WebAssembly module; build it with `--target wasm32-wasip2` to get a component",
            ));
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
            module: module.to_string(),
            reason: error_chain(&e),
        })?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
            module: module.to_string(),
            reason: error_chain(&e),
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = ModulePre::new(instance_pre).map_err(wrong_world)?;
        Ok(LoadedComponent { pre })
    }

    /// Makes a fresh instance of `component` for module `module`, in a store of
    /// its own with `limits`.
    pub async fn instantiate(
        &self,
        module: Arc<str>,
        component: &LoadedComponent,
        limits: Limits,
        storage: Option<storage::ModuleStorage>,
    ) -> Result<Instance, wasmtime::Error> {
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .trap_on_grow_failure(false)
            .build();
        let state = ModuleState::new(module, store_limits, self.ids.clone(), storage);
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
        let bindings = component.pre.instantiate_async(&mut store).await?;
        Ok(Instance::new(store, bindings, budget))
    }

    /// Starts the task that advances the epoch. Dropping the returned handle
    /// stops it.
    pub fn start_epoch_ticker(&self) -> EpochTicker {
        let engine = self.engine.clone();
        let task = tokio::spawn(async move {
            let mut interval = tokio::time::interval(EPOCH_TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                engine.increment_epoch();
            }
        });
        EpochTicker { task }
    }
}

/// The number of epoch ticks in `deadline`, at least one.
pub fn deadline_ticks(deadline: Duration) -> u64 {
    let ticks = deadline.as_millis() / EPOCH_TICK.as_millis().max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// Advances the engine's epoch while it lives.
pub struct EpochTicker {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.task.abort();
    }
}
