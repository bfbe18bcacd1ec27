//! A module's twin as its instances see it: the host side of the `twin`
//! import. The instance holds the twin's [`TwinHandle`]: it reads the desired
//! section the twin keeper publishes, and sends its reported patches to the
//! keeper, which answers once the patch is applied (see [`crate::twin::keeper`]).

use super::ModuleState;
use crate::bindings::module::twin;
use crate::twin::VERSION_KEY;

impl twin::Host for ModuleState {
    fn desired(&mut self) -> String {
        match &self.twin {
            Some(t) => t.desired().to_payload(),
            None => format!("{{\"{VERSION_KEY}\":0}}"),
        }
    }

    async fn report(&mut self, patch: String) -> Result<(), String> {
        match &self.twin {
            Some(t) => t.report(&patch).await,
            None => Err("this module has no twin here".to_string()),
        }
    }
}
