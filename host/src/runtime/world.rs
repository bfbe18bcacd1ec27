//! The two versions of the module world a component may target
//! (`ganglion:module/module@0.1.0` and `@0.2.0`, see `wit/`), and the one
//! place where they differ: how messages are handed to the module. Both
//! import the same interfaces, so one linker serves both; a component is
//! taken as 0.2.0 if it exports 0.2.0's `guest`, else as 0.1.0.

use super::ModuleState;
use crate::bindings::{v0_1, v0_2};
use wasmtime::Store;
use wasmtime::component::InstancePre;

/// A component checked against one version of the world, ready to
/// instantiate.
pub(crate) enum WorldPre {
    /// `ganglion:module/module@0.1.0`: `on-message`, one call per message.
    V0_1(v0_1::ModulePre<ModuleState>),
    /// `ganglion:module/module@0.2.0`: `on-messages`, one call per batch.
    V0_2(v0_2::ModulePre<ModuleState>),
}

impl WorldPre {
    /// Which version `pre` targets; the error says why it targets neither.
    pub(crate) fn new(pre: InstancePre<ModuleState>) -> Result<WorldPre, wasmtime::Error> {
        let newer = match v0_2::ModulePre::new(pre.clone()) {
            Ok(p) => return Ok(WorldPre::V0_2(p)),
            Err(e) => e,
        };
        v0_1::ModulePre::new(pre)
            .map(WorldPre::V0_1)
            .map_err(|older| {
                wasmtime::Error::msg(format!(
                    "it targets neither ganglion:module/module@0.2.0 ({}) nor @0.1.0 ({})",
                    super::error_chain(&newer),
                    super::error_chain(&older)
                ))
            })
    }

    /// The compiled component (for the compiled cache).
    #[cfg(feature = "compiler")]
    pub(crate) fn component(&self) -> &wasmtime::component::Component {
        match self {
            WorldPre::V0_1(p) => p.instance_pre().component(),
            WorldPre::V0_2(p) => p.instance_pre().component(),
        }
    }

    /// The version of the world, as in `wit/`.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            WorldPre::V0_1(_) => V0_1,
            WorldPre::V0_2(_) => V0_2,
        }
    }

    /// A new instance in `store`.
    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<ModuleState>,
    ) -> Result<WorldBindings, wasmtime::Error> {
        Ok(match self {
            WorldPre::V0_1(p) => WorldBindings::V0_1(p.instantiate_async(store).await?),
            WorldPre::V0_2(p) => WorldBindings::V0_2(p.instantiate_async(store).await?),
        })
    }
}

/// The versions, as in `wit/`.
const V0_1: &str = "0.1.0";
const V0_2: &str = "0.2.0";

/// An instance's exports, in its version of the world.
pub(crate) enum WorldBindings {
    /// 0.1.0.
    V0_1(v0_1::Module),
    /// 0.2.0.
    V0_2(v0_2::Module),
}

impl WorldBindings {
    /// The version of the world, as in `wit/`.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            WorldBindings::V0_1(_) => V0_1,
            WorldBindings::V0_2(_) => V0_2,
        }
    }
}
