//! [`ModuleHarness`]: one module, run in the real runtime with no gateway
//! around it, for unit tests and benchmarks of a module. It hands the module a
//! message or a timer tick and returns what the module sent. Its storage is a
//! temporary database of its own.

use crate::message::Message;
use crate::runtime::grants::Grants;
use crate::runtime::storage::{DEFAULT_STORAGE_QUOTA, ModuleStorage};
use crate::runtime::{
    CallOutcome, EpochTicker, Instance, Limits, LoadError, Runtime, RuntimeError,
};
use std::path::Path;
use std::sync::Arc;

/// Why a harness call failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The runtime could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The component could not be instantiated.
    #[error("module `{module}`: instantiation failed: {reason}")]
    Instantiate {
        /// The module.
        module: String,
        /// Why.
        reason: String,
    },
    /// The call returned an error.
    #[error("module `{module}` returned an error: {reason}")]
    Guest {
        /// The module.
        module: String,
        /// The module's error.
        reason: String,
    },
    /// The call trapped; the harness cannot be used again.
    #[error("module `{module}` trapped: {reason}")]
    Trap {
        /// The module.
        module: String,
        /// The trap.
        reason: String,
    },
}

/// A single module instance driven directly, with the epoch ticker that
/// enforces its CPU deadline. Must be created and used inside a tokio runtime.
pub struct ModuleHarness {
    name: String,
    instance: Instance,
    _ticker: EpochTicker,
    _runtime: Arc<Runtime>,
}

impl ModuleHarness {
    /// Loads the component at `path` as module `name`, instantiates it with the
    /// default limits and no grants, and calls `init(config)`.
    pub async fn load(
        name: &str,
        path: &Path,
        config: &[(String, String)],
    ) -> Result<ModuleHarness, HarnessError> {
        ModuleHarness::load_with_grants(name, path, config, &Grants::default()).await
    }

    /// [`ModuleHarness::load`], with the module seeing the directories and
    /// environment variables that `grants` grants.
    pub async fn load_with_grants(
        name: &str,
        path: &Path,
        config: &[(String, String)],
        grants: &Grants,
    ) -> Result<ModuleHarness, HarnessError> {
        let runtime = Arc::new(Runtime::new()?);
        let component = runtime.load_file(name, path)?;
        let storage = ModuleStorage::temporary(DEFAULT_STORAGE_QUOTA).map_err(|e| {
            HarnessError::Instantiate {
                module: name.to_string(),
                reason: format!("cannot make its temporary storage: {e}"),
            }
        })?;
        let instance = runtime
            .instantiate(
                Arc::from(name),
                &component,
                Limits::default(),
                Some(storage),
                None,
                grants,
            )
            .await
            .map_err(|e| HarnessError::Instantiate {
                module: name.to_string(),
                reason: e.root_cause().to_string(),
            })?;
        let ticker = runtime.start_epoch_ticker()?;
        let mut harness = ModuleHarness {
            name: name.to_string(),
            instance,
            _ticker: ticker,
            _runtime: runtime,
        };
        let outcome = harness.instance.init(config).await;
        harness.check(outcome)?;
        Ok(harness)
    }

    fn check(&mut self, outcome: CallOutcome) -> Result<Vec<(String, Message)>, HarnessError> {
        let module = self.name.clone();
        match outcome {
            CallOutcome::Done => Ok(self.instance.take_outbox()),
            CallOutcome::GuestError(reason) => {
                self.instance.take_outbox();
                Err(HarnessError::Guest { module, reason })
            }
            CallOutcome::Trap(fault) => {
                self.instance.take_outbox();
                Err(HarnessError::Trap {
                    module,
                    reason: fault.to_string(),
                })
            }
        }
    }

    /// Hands `msg` to input `input`; returns the (output, message) pairs the
    /// module sent.
    pub async fn send(
        &mut self,
        input: &str,
        msg: &Message,
    ) -> Result<Vec<(String, Message)>, HarnessError> {
        let outcome = self.instance.on_message(input, msg).await;
        self.check(outcome)
    }

    /// Fires timer `id`; returns what the module sent.
    pub async fn fire_timer(&mut self, id: u32) -> Result<Vec<(String, Message)>, HarnessError> {
        let outcome = self.instance.on_timer(id).await;
        self.check(outcome)
    }
}
