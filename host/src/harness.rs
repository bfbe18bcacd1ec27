//! [`ModuleHarness`]: one module, run in the real runtime with no gateway
//! around it, for unit tests and benchmarks of a module. It hands the module a
//! message or a timer tick and returns what the module sent. Its storage is a
//! temporary database of its own, and its twin a document of its own that
//! [`ModuleHarness::set_desired`] changes and [`ModuleHarness::reported`]
//! reads.

use crate::message::Message;
use crate::runtime::grants::Grants;
use crate::runtime::storage::{DEFAULT_STORAGE_QUOTA, ModuleStorage};
use crate::runtime::{
    Batch, CallOutcome, EpochTicker, Instance, Limits, LoadError, Runtime, RuntimeError,
};
use crate::twin::keeper::DesiredChange;
use crate::twin::{DesiredOutcome, TwinHandle, Twins, VERSION_KEY};
use serde_json::Value;
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
    /// The twin refused a desired patch (not an object, or over a twin
    /// limit); the module was not told.
    #[error("module `{module}`: desired twin patch refused: {reason}")]
    Twin {
        /// The module.
        module: String,
        /// Why.
        reason: String,
    },
}

/// A single module instance driven directly, with the epoch ticker that
/// enforces its CPU deadline. Must be created and used inside a tokio runtime.
pub struct ModuleHarness {
    name: String,
    instance: Instance,
    twin: TwinHandle,
    _ticker: EpochTicker,
    _runtime: Arc<Runtime>,
}

impl ModuleHarness {
    /// Loads the component at `path` as module `name`, instantiates it with the
    /// default limits, no grants and an empty twin, and calls `init(config)`.
    /// The module is not told its desired twin until
    /// [`ModuleHarness::tell_whole_desired`] or [`ModuleHarness::set_desired`].
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
        ModuleHarness::load_in(runtime, name, path, config, grants).await
    }

    /// [`ModuleHarness::load_with_grants`], in `runtime` (for instance one
    /// made with [`Runtime::with_options`], to measure a setting).
    pub async fn load_in(
        runtime: Arc<Runtime>,
        name: &str,
        path: &Path,
        config: &[(String, String)],
        grants: &Grants,
    ) -> Result<ModuleHarness, HarnessError> {
        let component = runtime.load_file(name, path)?;
        let storage = ModuleStorage::temporary(DEFAULT_STORAGE_QUOTA).map_err(|e| {
            HarnessError::Instantiate {
                module: name.to_string(),
                reason: format!("cannot make its temporary storage: {e}"),
            }
        })?;
        // The twin lives in memory, with a keeper of its own that ends when
        // the harness and its instance are dropped.
        let (twins, _) = Twins::start(None, None, None);
        let twin = twins
            .open(name)
            .await
            .map_err(|e| HarnessError::Instantiate {
                module: name.to_string(),
                reason: e.to_string(),
            })?;
        let instance = runtime
            .instantiate(
                Arc::from(name),
                &component,
                Limits::default(),
                Some(storage),
                Some(twin.clone()),
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
            twin,
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
        let batch = self.send_batch(input, std::slice::from_ref(msg)).await;
        let module = self.name.clone();
        if let Some(fault) = batch.fault {
            return Err(HarnessError::Trap {
                module,
                reason: fault.to_string(),
            });
        }
        if let Some((_, reason)) = batch.failed.into_iter().next() {
            return Err(HarnessError::Guest { module, reason });
        }
        Ok(batch.sent.into_iter().map(|(_, o, m)| (o, m)).collect())
    }

    /// Hands `msgs` to input `input` as the gateway hands a batch: in one
    /// call for a 0.2.0 module, one call each for a 0.1.0 one. The [`Batch`]
    /// says what the module sent for each message, which it failed on, and
    /// whether it trapped.
    pub async fn send_batch(&mut self, input: &str, msgs: &[Message]) -> Batch {
        self.instance.on_messages(input, msgs).await
    }

    /// The version of the module world the component targets (`0.1.0` or
    /// `0.2.0`).
    pub fn world_version(&self) -> &'static str {
        self.instance.world_version()
    }

    /// Fires timer `id`; returns what the module sent.
    pub async fn fire_timer(&mut self, id: u32) -> Result<Vec<(String, Message)>, HarnessError> {
        let outcome = self.instance.on_timer(id).await;
        self.check(outcome)
    }

    /// Changes the module's desired twin as the cloud does, by the JSON merge
    /// patch `patch` (an object; `null` deletes a key; a `$version` in it is
    /// the new version, otherwise the version goes up by one), then tells the
    /// module as the gateway does: `on-twin-desired` with the patch as applied
    /// and its `$version`. Returns what the module sent. A patch whose
    /// `$version` is not newer changes nothing and is not told (an empty
    /// list). The twin keeps the patch even when the module refuses it (a
    /// [`HarnessError::Guest`]), as the gateway's twin does.
    pub async fn set_desired(
        &mut self,
        patch: &Value,
    ) -> Result<Vec<(String, Message)>, HarnessError> {
        let applied = self
            .twin
            .change_desired(DesiredChange::Patch(patch.clone()))
            .await;
        let (version, mut applied) = match applied {
            Ok(DesiredOutcome::Applied { version, patch }) => (version, patch),
            Ok(DesiredOutcome::Stale) => return Ok(Vec::new()),
            Err(e) => {
                return Err(HarnessError::Twin {
                    module: self.name.clone(),
                    reason: e.to_string(),
                });
            }
        };
        applied.insert(VERSION_KEY.to_string(), Value::from(version));
        let text = Value::Object(applied).to_string();
        let outcome = self.instance.on_twin_desired(&text).await;
        self.check(outcome)
    }

    /// Calls `on-twin-desired` with the whole desired twin and its
    /// `$version`, as the gateway does right after a module starts. Returns
    /// what the module sent.
    pub async fn tell_whole_desired(&mut self) -> Result<Vec<(String, Message)>, HarnessError> {
        let text = self.twin.desired().to_payload();
        let outcome = self.instance.on_twin_desired(&text).await;
        self.check(outcome)
    }

    /// The bytes of linear memory the module's instance has.
    pub fn memory_bytes(&self) -> usize {
        self.instance.memory_bytes()
    }

    /// The module's desired twin properties (without `$version`).
    pub fn desired(&self) -> Value {
        Value::Object(self.twin.desired().properties.clone())
    }

    /// The module's reported twin properties, as its reports left them.
    pub fn reported(&self) -> Value {
        Value::Object(self.twin.reported().properties.clone())
    }
}
