//! [`ModuleState`]: what a module's wasmtime `Store` holds, and the host side of
//! the `host` and `timers` imports.

use super::grants::{GrantError, Grants};
use super::storage::ModuleStorage;
use super::timers::{MAX_TIMERS, MIN_TIMER_INTERVAL_MS, TimerRefusal, Timers};
use crate::bindings::module::{host, timers, types};
use crate::message::{
    IdGenerator, MAX_MESSAGE_BYTES, Message, message_size, now_ms, stamp_from_module_at,
};
use std::sync::Arc;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

/// The most messages one call of a module may send.
pub const MAX_SENDS_PER_CALL: u32 = 1024;
/// The longest output name.
pub const MAX_OUTPUT_NAME: usize = 128;
/// Log lines from a module are cut to this many bytes.
pub const MAX_LOG_LINE: usize = 4096;

/// A store's resource limits, remembering whether a memory growth was refused,
/// so that the trap which usually follows can be reported as memory exhaustion.
pub(crate) struct Limiter {
    limits: StoreLimits,
    /// A growth was refused since the current call began.
    pub(crate) growth_refused: bool,
    /// The bytes of linear memory granted so far (every memory's).
    pub(crate) memory_bytes: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_bytes += desired.saturating_sub(current);
        } else {
            self.growth_refused = true;
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.growth_refused = true;
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// `text` cut to [`MAX_LOG_LINE`] bytes, marked with `…` where cut.
fn truncate_line(mut text: String) -> String {
    if text.len() > MAX_LOG_LINE {
        let mut cut = MAX_LOG_LINE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Where a 0.2.0 batch is: the message the module said it handles, and
/// which sends are for which message.
#[derive(Debug, Default)]
pub(crate) struct BatchCursor {
    /// How many messages the batch has.
    pub(crate) len: u32,
    /// Each message the module named, with the outbox's length then: the
    /// sends from there on are for it.
    pub(crate) marks: Vec<(u32, usize)>,
    /// The messages the module said it failed on, with why.
    pub(crate) failed: Vec<(u32, String)>,
    /// The CPU budget of one message, in epoch ticks: each message the
    /// module names starts with it afresh.
    pub(crate) budget: u64,
}

impl BatchCursor {
    /// The message the module named last, if any.
    pub(crate) fn current(&self) -> Option<u32> {
        self.marks.last().map(|(index, _)| *index)
    }

    /// Where the sends for the message named last start in the outbox (0
    /// before the first).
    pub(crate) fn start(&self) -> usize {
        self.marks.last().map_or(0, |(_, start)| *start)
    }
}

/// The per-store state of one module instance.
pub struct ModuleState {
    module: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    /// Messages the current call sent, with their outputs.
    pub(crate) outbox: Vec<(String, Message)>,
    /// The module's timers.
    pub(crate) timers: Timers,
    /// Epoch ticks the current call may still use.
    pub(crate) ticks_left: u64,
    /// The module's private key-value namespace.
    pub(crate) storage: Option<ModuleStorage>,
    /// The module's twin.
    pub(crate) twin: Option<crate::twin::TwinHandle>,
    /// While a 0.2.0 `on-messages` call runs: which message it handles.
    pub(crate) batch: Option<BatchCursor>,
    /// The clock as the current call's first send without a creation time
    /// read it: the creation time of every such send of the call.
    pub(crate) call_ms: Option<u64>,
    ids: Arc<IdGenerator>,
}

impl ModuleState {
    /// State for module `module`, with WASI granting only what `grants`
    /// grants: the granted directories and environment variables, and no
    /// arguments or network.
    pub fn new(
        module: Arc<str>,
        limits: StoreLimits,
        ids: Arc<IdGenerator>,
        storage: Option<ModuleStorage>,
        grants: &Grants,
    ) -> Result<Self, GrantError> {
        let wasi = super::grants::wasi_ctx(&module, grants)?;
        Ok(ModuleState {
            module,
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                limits,
                growth_refused: false,
                memory_bytes: 0,
            },
            outbox: Vec::new(),
            timers: Timers::default(),
            ticks_left: 0,
            storage,
            twin: None,
            batch: None,
            call_ms: None,
            ids,
        })
    }

    /// The module's name.
    pub fn module(&self) -> &str {
        &self.module
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }
}

impl WasiView for ModuleState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn check_output(output: &str) -> Result<(), String> {
    if output.is_empty() {
        return Err("the output name is empty".to_string());
    }
    if output.len() > MAX_OUTPUT_NAME {
        return Err(format!(
            "the output name is longer than {MAX_OUTPUT_NAME} bytes"
        ));
    }
    match output
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(c) => Err(format!("the output name has the character {c:?}")),
        None => Ok(()),
    }
}

impl types::Host for ModuleState {}

impl host::Host for ModuleState {
    fn send(&mut self, output: String, mut msg: Message) -> Result<(), host::SendError> {
        check_output(&output).map_err(host::SendError::InvalidOutput)?;
        if message_size(&msg) > MAX_MESSAGE_BYTES {
            return Err(host::SendError::TooLarge(MAX_MESSAGE_BYTES as u32));
        }
        // In a batch the limit is each message's.
        let since = self.batch.as_ref().map_or(0, BatchCursor::start);
        if self.outbox.len().saturating_sub(since) >= MAX_SENDS_PER_CALL as usize {
            return Err(host::SendError::TooMany(MAX_SENDS_PER_CALL));
        }
        let clock = &mut self.call_ms;
        stamp_from_module_at(&mut msg, &self.module, &output, &self.ids, || {
            *clock.get_or_insert_with(now_ms)
        });
        self.outbox.push((output, msg));
        Ok(())
    }

    fn log(&mut self, level: types::LogLevel, text: String) {
        let text = truncate_line(text);
        let module = &*self.module;
        match level {
            types::LogLevel::Trace => tracing::trace!(module, "{text}"),
            types::LogLevel::Debug => tracing::debug!(module, "{text}"),
            types::LogLevel::Info => tracing::info!(module, "{text}"),
            types::LogLevel::Warn => tracing::warn!(module, "{text}"),
            types::LogLevel::Error => tracing::error!(module, "{text}"),
        }
    }
}

impl timers::Host for ModuleState {
    fn set_timer(
        &mut self,
        id: u32,
        interval_ms: u64,
        repeat: bool,
    ) -> Result<(), timers::TimerError> {
        let now = tokio::time::Instant::now();
        self.timers
            .set(id, interval_ms, repeat, now)
            .map_err(|refusal| match refusal {
                TimerRefusal::IntervalTooShort => {
                    timers::TimerError::IntervalTooShort(MIN_TIMER_INTERVAL_MS)
                }
                TimerRefusal::TooMany => timers::TimerError::TooMany(MAX_TIMERS),
            })
    }

    fn cancel_timer(&mut self, id: u32) -> bool {
        self.timers.cancel(id)
    }
}

impl crate::bindings::v0_2::ganglion::module0_2_0::batch::Host for ModuleState {
    fn handling(&mut self, index: u32) {
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        // Only forward, within the batch: a later message, never an earlier.
        let forward = batch.current().is_none_or(|current| index > current);
        if forward && index < batch.len {
            batch.marks.push((index, self.outbox.len()));
            self.ticks_left = batch.budget;
        }
    }

    fn failed(&mut self, error: String) {
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        let index = batch.current().unwrap_or(0);
        if batch.failed.last().is_none_or(|(last, _)| *last != index) {
            batch.failed.push((index, truncate_line(error)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_output;

    #[test]
    fn output_names() {
        assert!(check_output("output1").is_ok());
        assert!(check_output("temperature.Output_2-x").is_ok());
        assert!(check_output("").is_err());
        assert!(check_output("a/b").unwrap_err().contains("'/'"));
        assert!(check_output(&"x".repeat(129)).is_err());
    }
}
