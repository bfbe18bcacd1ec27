//! What travels between the gateway's tasks: a message with where it came
//! from and the receipt its producer waits on ([`Envelope`], to the router),
//! a copy for a module's input ([`Delivery`]), and a copy for the `$upstream`
//! queue ([`UpstreamMessage`]).

use crate::message::Message;
use crate::receipt::Receipt;
use crate::route::{Origin, Sink};
use std::sync::Arc;
use std::time::Duration;

/// A message as it arrives at the router.
#[derive(Debug)]
pub struct Envelope {
    /// Where it came from.
    pub from: Producer,
    /// The message.
    pub message: Message,
    /// Told when every copy is safe, for a producer that acknowledges its own
    /// sender.
    pub receipt: Option<Receipt>,
    /// Set when the producer routes the message again after a refusal: only
    /// the matching routes to these sinks take it, so a sink that took it
    /// once does not get it twice.
    pub only_to: Option<Vec<Sink>>,
}

impl Envelope {
    /// A message from `from`, routed to every matching route.
    pub fn new(from: Producer, message: Message, receipt: Option<Receipt>) -> Envelope {
        Envelope {
            from,
            message,
            receipt,
            only_to: None,
        }
    }
}

/// Where a message came from.
#[derive(Debug, Clone)]
pub enum Producer {
    /// A module's output.
    Module {
        /// The module.
        module: Arc<str>,
        /// The output.
        output: String,
    },
    /// A leaf device.
    Device(String),
    /// A change of a module's reported twin (`/twinChangeNotifications`).
    TwinChange(Arc<str>),
}

impl Producer {
    /// Where it came from, as the route conditions see it.
    pub fn origin(&self) -> Origin<'_> {
        match self {
            Producer::Module { module, output } => Origin::Module { module, output },
            Producer::Device(d) => Origin::Device(d),
            Producer::TwinChange(_) => Origin::TwinChange,
        }
    }
}

/// A message delivered to a module input.
#[derive(Debug)]
pub struct Delivery {
    /// The input.
    pub input: Arc<str>,
    /// The message.
    pub message: Message,
    /// The producer's receipt, held until the module has handled the message
    /// and passed on to what that call sent.
    pub receipt: Option<Receipt>,
}

/// A message accepted by `$upstream`.
#[derive(Debug, Clone)]
pub struct UpstreamMessage {
    /// The route that sent it there: of the matching routes, the one with the
    /// highest priority, the first in manifest order among equals.
    pub route: Arc<str>,
    /// That route's priority, 0 (highest) to 9; `None` when unset (lowest).
    pub priority: Option<u8>,
    /// That route's time to live, overriding the store-and-forward default.
    pub time_to_live: Option<Duration>,
    /// The message.
    pub message: Message,
    /// The producer's receipt; the queue drops it once the message is durable.
    pub receipt: Option<Receipt>,
}
