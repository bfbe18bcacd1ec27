//! Messages to a module, in batches: what is waiting in the input queue for
//! one input goes to the module in one call (at most [`MAX_BATCH`] messages
//! or [`MAX_BATCH_BYTES`] of bodies), so that the fixed cost of a call is
//! paid once per batch under load, while a message that finds nothing
//! waiting goes alone, at once.
//!
//! What the module sends for the message at index `i` carries that message's
//! receipt. A fault ends the instance: the message at fault is lost and
//! counted as failed, and what was sent for it is discarded; what was sent
//! for the messages before it goes on, and those after it wait in
//! [`Supervisor::waiting`] for the next instance. What still waits there when
//! the supervisor ends is refused on its receipts, so that its producers
//! route it again.

use super::{Served, Supervisor, exit_reason};
use crate::envelope::{Delivery, Envelope, Producer};
use crate::lifecycle::ExitReason;
use crate::message::message_size;
use crate::receipt::Receipt;
use crate::runtime::Instance;

/// The most messages one call takes.
pub const MAX_BATCH: usize = 64;
/// The most bytes of bodies one call takes (a single larger message still
/// goes, alone).
pub const MAX_BATCH_BYTES: usize = 64 * 1024;

impl Supervisor {
    /// Hands `first` to the module, with what waits behind it for the same
    /// input; `Some` when a fault ended the instance.
    pub(super) async fn deliver(&mut self, live: &mut Instance, first: Delivery) -> Option<Served> {
        let mut run = vec![first];
        self.gather(&mut run);
        let input = run[0].input.clone();
        let (messages, receipts): (Vec<_>, Vec<_>) =
            run.into_iter().map(|d| (d.message, d.receipt)).unzip();
        let started = std::time::Instant::now();
        let batch = live.on_messages(&input, &messages).await;
        self.counted(live, started);
        let reached = match batch.fault {
            Some(_) => batch.done + 1,
            None => messages.len(),
        };
        self.metrics
            .received_many(reached.min(messages.len()) as u64);
        for (index, error) in &batch.failed {
            self.metrics.failed();
            tracing::warn!(module = %self.name, "call failed on message {index} of {}: {error}", messages.len());
        }
        for (index, output, message) in batch.sent {
            self.metrics.sent();
            let from = Producer::Module {
                module: self.name.clone(),
                output,
            };
            let receipt = receipts
                .get(index as usize)
                .and_then(Option::as_ref)
                .and_then(Receipt::passed_on);
            if self
                .router
                .send(Envelope::new(from, message, receipt))
                .await
                .is_err()
            {
                break;
            }
        }
        let reason = exit_reason(batch.fault?);
        if reason.is_failure() {
            self.metrics.failed();
        }
        // Those after the one at fault were not handled: they go first to
        // the next instance, before what already waited.
        let untried =
            messages
                .into_iter()
                .zip(receipts)
                .skip(batch.done + 1)
                .map(|(message, receipt)| Delivery {
                    input: input.clone(),
                    message,
                    receipt,
                });
        for (i, delivery) in untried.enumerate() {
            self.waiting.insert(i, delivery);
        }
        Some(self.ended_by(reason))
    }

    /// Adds to `run` what waits for the same input, first among the
    /// deliveries kept for this instance, then in the input queue, up to the
    /// batch's bounds. A delivery for another input stops the gathering; it
    /// waits, first in line, for the next call.
    fn gather(&mut self, run: &mut Vec<Delivery>) {
        let mut bytes = message_size(&run[0].message);
        while run.len() < MAX_BATCH {
            let next = match self.waiting.pop_front() {
                Some(d) => d,
                None => match self.inbox.try_recv() {
                    Ok(d) => d,
                    Err(_) => return,
                },
            };
            let size = message_size(&next.message);
            if next.input != run[0].input || bytes + size > MAX_BATCH_BYTES {
                self.waiting.push_front(next);
                return;
            }
            bytes += size;
            run.push(next);
        }
    }

    /// What a fault that ended the instance does to its counters and log.
    pub(super) fn ended_by(&self, reason: ExitReason) -> Served {
        if !matches!(reason, ExitReason::Exit(_)) {
            self.metrics.trapped();
        }
        tracing::error!(module = %self.name, "module {reason}; discarding what the call sent");
        Served::Ended(reason)
    }

    /// Refuses what still waits for an instance, on its receipts, so that
    /// its producers route it again.
    pub(super) fn refuse_waiting(&mut self) {
        for d in self.waiting.drain(..) {
            if let Some(receipt) = &d.receipt {
                receipt.fail();
            }
        }
    }
}
