//! [`Receipt`]: how a producer that must acknowledge its own sender (the ingest
//! task, for a leaf device's QoS 1 publish) learns that a message is safe: held
//! in a module's input queue, or durably in the `$upstream` queue.
//!
//! Every copy of a routed message carries a clone of the receipt. When the last
//! clone is gone the producer hears `true`, unless some copy was refused (a
//! full queue, a store error), in which case it hears `false` and must not
//! acknowledge.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

struct Inner {
    failed: AtomicBool,
    done: Mutex<Option<oneshot::Sender<bool>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let sender = self
            .done
            .get_mut()
            .map(Option::take)
            .unwrap_or_else(|poisoned| poisoned.into_inner().take());
        if let Some(sender) = sender {
            let _ = sender.send(!self.failed.load(Ordering::Relaxed));
        }
    }
}

/// A shared receipt; see the module docs.
#[derive(Clone)]
pub struct Receipt(Arc<Inner>);

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receipt")
    }
}

impl Receipt {
    /// A receipt, and where its outcome arrives.
    pub fn new() -> (Receipt, oneshot::Receiver<bool>) {
        let (tx, rx) = oneshot::channel();
        let inner = Inner {
            failed: AtomicBool::new(false),
            done: Mutex::new(Some(tx)),
        };
        (Receipt(Arc::new(inner)), rx)
    }

    /// Marks that one copy of the message was not taken.
    pub fn fail(&self) {
        self.0.failed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_copy_decides_and_any_failure_sticks() {
        let (r, rx) = Receipt::new();
        let copy = r.clone();
        drop(r);
        drop(copy);
        assert!(rx.await.unwrap());
        let (r, rx) = Receipt::new();
        let copy = r.clone();
        copy.fail();
        drop(copy);
        drop(r);
        assert!(!rx.await.unwrap());
    }
}
