//! The [`Module`] trait and the [`export_module!`](crate::export_module) macro that
//! connects a type implementing it to the component's exports.

pub use crate::batch::Batch;
use crate::{Config, Message};
use std::cell::RefCell;
use std::thread::LocalKey;

/// A ganglion module. Implement [`Module::init`]; the handlers you do not need
/// default to doing nothing.
///
/// An `Err` from a handler is an ordinary failure: the host logs it with the
/// module's name and counts the message as failed, and the module keeps running.
/// A panic is a trap: the host discards what the call sent and restarts the
/// module.
pub trait Module: Sized + 'static {
    /// Builds the module from its configuration in the deployment manifest. Set
    /// timers here. An `Err` stops the module from starting.
    fn init(config: Config) -> Result<Self, String>;

    /// Handles a message routed to the module's input `input`.
    fn on_message(&mut self, input: &str, msg: Message) -> Result<(), String> {
        let _ = (input, msg);
        Ok(())
    }

    /// Handles a batch of messages routed to the module's input `input`, in
    /// the order they arrived: what was waiting when the host called (a lone
    /// message comes alone). By default it calls [`Module::on_message`] for
    /// each, and fails those it returns an error for. Override it to work on
    /// the batch as a whole; what [`send`](crate::send) sends while a message
    /// is the batch's current one is sent for that message.
    fn on_messages(&mut self, input: &str, batch: &mut Batch) {
        while let Some(msg) = batch.next() {
            if let Err(e) = self.on_message(input, msg) {
                batch.fail(e);
            }
        }
    }

    /// Handles timer `id` firing (see [`timer::set`](crate::timer::set)).
    fn on_timer(&mut self, id: u32) -> Result<(), String> {
        let _ = id;
        Ok(())
    }

    /// Handles the module's desired twin properties: the whole document (with
    /// its `$version`) right after `init`, then a JSON merge patch (`null`
    /// deletes a key) each time the cloud changes them. See
    /// [`twin`](crate::twin) to read them whole or to report.
    fn on_twin_desired(&mut self, patch: serde_json::Value) -> Result<(), String> {
        let _ = patch;
        Ok(())
    }

    /// Handles direct method `name` with its JSON payload; the answer goes back
    /// to the caller with status 200. By default every method is unknown
    /// (status 404).
    fn on_method(
        &mut self,
        name: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, MethodError> {
        let _ = payload;
        Err(MethodError::new(404, format!("no method `{name}`")))
    }
}

/// A direct method's failure: an HTTP-like status and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodError {
    /// The status, e.g. 400 for bad input or 500 for an internal error.
    pub status: u16,
    /// What went wrong.
    pub message: String,
}

impl MethodError {
    /// A failure with `status` and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        MethodError {
            status,
            message: message.into(),
        }
    }

    /// Status 400: the caller's payload is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        MethodError::new(400, message)
    }
}

/// The slot that holds a module's state between calls.
pub type Slot<M> = LocalKey<RefCell<Option<M>>>;

/// Runs `M::init` and keeps the module in `slot`.
pub fn dispatch_init<M: Module>(
    slot: &'static Slot<M>,
    config: Vec<(String, String)>,
) -> Result<(), String> {
    let module = M::init(Config::new(config))?;
    slot.with(|cell| *cell.borrow_mut() = Some(module));
    Ok(())
}

fn with_module<M: Module>(
    slot: &'static Slot<M>,
    call: impl FnOnce(&mut M) -> Result<(), String>,
) -> Result<(), String> {
    slot.with(|cell| match cell.borrow_mut().as_mut() {
        Some(module) => call(module),
        None => Err("the module was called before init succeeded".to_string()),
    })
}

/// Hands a desired-twin patch to the module in `slot`.
pub fn dispatch_twin_desired<M: Module>(
    slot: &'static Slot<M>,
    patch: String,
) -> Result<(), String> {
    let patch: serde_json::Value = serde_json::from_str(&patch)
        .map_err(|e| format!("the desired twin patch is not JSON: {e}"))?;
    with_module(slot, |m| m.on_twin_desired(patch))
}

/// Hands a direct method call to the module in `slot`.
pub fn dispatch_method<M: Module>(
    slot: &'static Slot<M>,
    name: String,
    payload: String,
) -> Result<String, crate::bindings::guest::MethodError> {
    use crate::bindings::guest::MethodError as WitError;
    let wit = |e: MethodError| WitError {
        status: e.status,
        message: e.message,
    };
    let payload: serde_json::Value = serde_json::from_str(&payload).map_err(|e| {
        wit(MethodError::bad_request(format!(
            "the payload is not JSON: {e}"
        )))
    })?;
    slot.with(|cell| match cell.borrow_mut().as_mut() {
        Some(module) => module
            .on_method(&name, payload)
            .map(|answer| answer.to_string())
            .map_err(wit),
        None => Err(wit(MethodError::new(
            503,
            "the module was called before init succeeded",
        ))),
    })
}

/// Hands a timer tick to the module in `slot`.
pub fn dispatch_timer<M: Module>(slot: &'static Slot<M>, id: u32) -> Result<(), String> {
    with_module(slot, |m| m.on_timer(id))
}

/// Exports a type implementing [`Module`] as the component's `guest` interface.
/// Use it once per module crate.
#[macro_export]
macro_rules! export_module {
    ($module:ty) => {
        const _: () = {
            ::std::thread_local! {
                static GANGLION_MODULE: ::core::cell::RefCell<::core::option::Option<$module>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            struct GanglionExport;

            impl $crate::bindings::guest::Guest for GanglionExport {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::dispatch_init::<$module>(&GANGLION_MODULE, config)
                }

                fn on_messages(
                    input: ::std::string::String,
                    messages: ::std::vec::Vec<$crate::bindings::module::types::Message>,
                ) {
                    $crate::__private::dispatch_messages::<$module>(
                        &GANGLION_MODULE,
                        input,
                        messages,
                    )
                }

                fn on_timer(id: u32) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::dispatch_timer::<$module>(&GANGLION_MODULE, id)
                }

                fn on_twin_desired(
                    patch: ::std::string::String,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::dispatch_twin_desired::<$module>(&GANGLION_MODULE, patch)
                }

                fn on_method(
                    name: ::std::string::String,
                    payload: ::std::string::String,
                ) -> ::core::result::Result<
                    ::std::string::String,
                    $crate::bindings::guest::MethodError,
                > {
                    $crate::__private::dispatch_method::<$module>(&GANGLION_MODULE, name, payload)
                }
            }

    $crate::bindings::__export_module_world!(GanglionExport with_types_in $crate::bindings);
        };
    };
}
