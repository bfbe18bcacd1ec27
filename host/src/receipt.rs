//! [`Receipt`]: how a producer that must acknowledge its own sender (the ingest
//! task, for a leaf device's QoS 1 publish) learns that a message is safe.
//!
//! A copy of the message is safe once it is durable in the `$upstream` queue,
//! or once the module it was routed to has handled it and everything that call
//! sent is safe in turn: the router gives every copy a clone of the receipt,
//! tagged with the sink the producer's routing sent it to, and a module's
//! supervisor holds its copy's clone through the call and hands it on to what
//! the call sent. When the last clone is gone the producer hears the
//! [`Outcome`]: safe, or which sinks refused their copy (a full queue, a store
//! error), so that it routes the message again to those sinks only.
//!
//! A module that fails on a copy, sends nothing for it or has failed for good
//! releases its part: there is nothing left to keep. A chain longer than
//! [`MAX_HOPS`] modules (a loop of routes) releases its part too, so that a
//! producer never waits forever.

use crate::route::Sink;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// How many module calls a receipt follows a message through before the
/// rest of the chain is released.
pub const MAX_HOPS: u8 = 16;

/// What the producer hears when the last copy of its message is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every copy is safe or was released.
    Safe,
    /// These sinks of the producer's routing refused their copy (or a copy
    /// further down the chain that began there): route it again to them.
    RefusedBy(Vec<Sink>),
    /// A copy was refused before it was routed: route it again everywhere.
    RefusedAll,
}

#[derive(Default)]
struct Refusals {
    sinks: Vec<Sink>,
    all: bool,
}

struct Inner {
    refused: Mutex<Refusals>,
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let sender = self
            .done
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let refused = std::mem::take(
            self.refused
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let outcome = if refused.all {
            Outcome::RefusedAll
        } else if refused.sinks.is_empty() {
            Outcome::Safe
        } else {
            Outcome::RefusedBy(refused.sinks)
        };
        if let Some(sender) = sender {
            let _ = sender.send(outcome);
        }
    }
}

/// A shared receipt; see the module docs.
#[derive(Clone)]
pub struct Receipt {
    inner: Arc<Inner>,
    /// The sink the producer's routing sent this copy (or its chain) to.
    sink: Option<Arc<Sink>>,
    /// How many module calls this copy's chain has gone through.
    hops: u8,
}

impl Drop for Receipt {
    /// A copy dropped by a panicking task was not handled: refused, so that
    /// its producer does not take it for safe.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.fail();
        }
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt")
            .field("sink", &self.sink)
            .field("hops", &self.hops)
            .finish()
    }
}

impl Receipt {
    /// A receipt, and where its outcome arrives.
    pub fn new() -> (Receipt, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        let inner = Inner {
            refused: Mutex::new(Refusals::default()),
            done: Mutex::new(Some(tx)),
        };
        let receipt = Receipt {
            inner: Arc::new(inner),
            sink: None,
            hops: 0,
        };
        (receipt, rx)
    }

    /// The clone for a copy routed to `sink`. A copy the producer's own
    /// routing makes is tagged with `sink`; one further down a chain keeps the
    /// sink its chain began at, since that is where the producer must route
    /// it again.
    pub fn for_sink(&self, sink: &Arc<Sink>) -> Receipt {
        Receipt {
            inner: self.inner.clone(),
            sink: Some(self.sink.clone().unwrap_or_else(|| sink.clone())),
            hops: self.hops,
        }
    }

    /// The clone that a message sent by the module handling this copy
    /// carries, or `None` once the chain is [`MAX_HOPS`] calls long.
    pub fn passed_on(&self) -> Option<Receipt> {
        (self.hops < MAX_HOPS).then(|| Receipt {
            inner: self.inner.clone(),
            sink: self.sink.clone(),
            hops: self.hops + 1,
        })
    }

    /// Marks that this copy (or one further down its chain) was not taken.
    pub fn fail(&self) {
        let mut refused = self
            .inner
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &self.sink {
            Some(sink) if !refused.sinks.contains(sink) => refused.sinks.push(Sink::clone(sink)),
            Some(_) => {}
            None => refused.all = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(m: &str) -> Arc<Sink> {
        Arc::new(Sink::ModuleInput(m.to_string(), "in".to_string()))
    }

    #[tokio::test]
    async fn the_last_copy_decides() {
        let (r, rx) = Receipt::new();
        let copy = r.for_sink(&module("a"));
        drop(r);
        drop(copy);
        assert_eq!(rx.await.unwrap(), Outcome::Safe);
    }

    #[tokio::test]
    async fn a_refusal_names_the_sink_its_chain_began_at() {
        let (r, rx) = Receipt::new();
        let to_a = r.for_sink(&module("a"));
        let to_up = r.for_sink(&Arc::new(Sink::Upstream));
        drop(r);
        // What module a sent on, refused further down.
        let sent = to_a.passed_on().unwrap().for_sink(&module("b"));
        drop(to_a);
        sent.fail();
        sent.fail();
        drop(sent);
        drop(to_up);
        assert_eq!(
            rx.await.unwrap(),
            Outcome::RefusedBy(vec![Sink::clone(&module("a"))])
        );
    }

    #[tokio::test]
    async fn a_refusal_before_routing_means_everywhere() {
        let (r, rx) = Receipt::new();
        r.fail();
        drop(r);
        assert_eq!(rx.await.unwrap(), Outcome::RefusedAll);
    }

    #[test]
    fn a_chain_releases_its_part_after_the_last_hop() {
        let (mut r, _rx) = Receipt::new();
        for _ in 0..MAX_HOPS {
            r = r.passed_on().unwrap();
        }
        assert!(r.passed_on().is_none());
    }
}
