//! [`Batch`]: the messages of one `on-messages` call.
//!
//! The host hands a module the messages waiting for one input in one call
//! (`ganglion:module/guest@0.2.0`). Before each message the module tells the
//! host which one it is handling (`batch.handling`), so that what it sends is
//! sent for that message and a trap is that message's fault alone: [`Batch`]
//! does so as it hands out each message.

use crate::Message;
use crate::bindings::batch::{failed, handling};
use crate::bindings::module::types::Message as WitMessage;
use crate::export::{Module, Slot};

/// The messages of one batch for one input, in the order they arrived. It is
/// an iterator: what the module sends while it handles the message last
/// returned is sent for that message, and [`Batch::fail`] fails that one.
///
/// ```no_run
/// # use ganglion_sdk::{Batch, Config, Message, Module};
/// # struct Counter { bytes: u64 }
/// impl Module for Counter {
///     # fn init(_config: Config) -> Result<Self, String> { Ok(Counter { bytes: 0 }) }
///     fn on_messages(&mut self, _input: &str, batch: &mut Batch) {
///         for msg in batch.by_ref() {
///             self.bytes += msg.body().len() as u64;
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Batch {
    messages: std::vec::IntoIter<WitMessage>,
    /// The index of the message last returned.
    current: Option<u32>,
}

impl Batch {
    /// Marks the message last returned as failed, with why (the host logs it
    /// with the module's name and counts it). Before the first message, it
    /// does nothing.
    pub fn fail(&mut self, error: impl AsRef<str>) {
        if self.current.is_some() {
            failed(error.as_ref());
        }
    }
}

impl Iterator for Batch {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        let msg = self.messages.next()?;
        let index = self.current.map_or(0, |i| i + 1);
        self.current = Some(index);
        handling(index);
        Some(Message::from(msg))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.messages.size_hint()
    }
}

/// Hands a batch to the module in `slot`.
pub fn dispatch_messages<M: Module>(
    slot: &'static Slot<M>,
    input: String,
    messages: Vec<WitMessage>,
) {
    let mut batch = Batch {
        messages: messages.into_iter(),
        current: None,
    };
    slot.with(|cell| match cell.borrow_mut().as_mut() {
        Some(module) => module.on_messages(&input, &mut batch),
        None => {
            while batch.next().is_some() {
                batch.fail("the module was called before init succeeded");
            }
        }
    });
}
