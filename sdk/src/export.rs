//! The [`Module`] trait and the [`export_module!`](crate::export_module) macro that
//! connects a type implementing it to the component's exports.

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

    /// Handles timer `id` firing (see [`timer::set`](crate::timer::set)).
    fn on_timer(&mut self, id: u32) -> Result<(), String> {
        let _ = id;
        Ok(())
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

/// Hands a message to the module in `slot`.
pub fn dispatch_message<M: Module>(
    slot: &'static Slot<M>,
    input: String,
    msg: crate::bindings::ganglion::module::types::Message,
) -> Result<(), String> {
    with_module(slot, |m| m.on_message(&input, Message::from(msg)))
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

            impl $crate::bindings::exports::ganglion::module::guest::Guest for GanglionExport {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::dispatch_init::<$module>(&GANGLION_MODULE, config)
                }

                fn on_message(
                    input: ::std::string::String,
                    msg: $crate::bindings::ganglion::module::types::Message,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::dispatch_message::<$module>(&GANGLION_MODULE, input, msg)
                }

                fn on_timer(id: u32) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::dispatch_timer::<$module>(&GANGLION_MODULE, id)
                }
            }

    $crate::bindings::__export_module_world!(GanglionExport with_types_in $crate::bindings);
        };
    };
}
