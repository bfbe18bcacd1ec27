//! A module's lifecycle keys: its limits (`memory-mib`, `cpu-deadline-ms`,
//! `queue-length`) and its restart policy (`restart-policy`,
//! `restart-backoff-base-ms`, `restart-backoff-cap-ms`, `restart-stable-secs`).
//!
//! ```toml
//! [modules.filter]
//! path = "filter.wasm"
//! memory-mib = 32                # linear memory; growth beyond it is refused (default 64)
//! cpu-deadline-ms = 200          # per call, then the call traps (default 1000)
//! queue-length = 1024            # input queue; when full, new messages are dropped and counted (default 256)
//! restart-policy = "on-failure"  # or "never", "always" (default "on-failure")
//! restart-backoff-base-ms = 500  # delay min(base · 2^n, cap) (default 1000)
//! restart-backoff-cap-ms = 30000 # (default 60000)
//! restart-stable-secs = 120      # a run this long resets n (default 60)
//! ```

use super::{Collector, ModuleDto};
use crate::runtime::{EPOCH_TICK, Limits};
use crate::supervisor::INPUT_QUEUE;
use crate::supervisor::policy::{DEFAULT_BACKOFF, DEFAULT_STABLE_PERIOD, Restart, RestartPolicy};
use std::ops::RangeInclusive;
use std::time::Duration;
use toml::Spanned;

/// `memory-mib`: a 32-bit linear memory holds at most 4 GiB.
const MEMORY_MIB: RangeInclusive<i64> = 1..=4096;
/// `cpu-deadline-ms`: at least one epoch tick, at most five minutes.
const CPU_DEADLINE_MS: RangeInclusive<i64> = 10..=300_000;
/// `queue-length`.
const QUEUE_LENGTH: RangeInclusive<i64> = 1..=65_536;
/// `restart-backoff-base-ms` and `restart-backoff-cap-ms`: at least 10 ms, so
/// that no policy is a hot restart loop, and at most an hour.
const BACKOFF_MS: RangeInclusive<i64> = 10..=3_600_000;
/// `restart-stable-secs`: at most a day.
const STABLE_SECS: RangeInclusive<i64> = 1..=86_400;

const MIB: usize = 1024 * 1024;

/// A module's validated lifecycle settings.
pub(super) struct Lifecycle {
    pub(super) limits: Limits,
    pub(super) queue_length: usize,
    pub(super) restart: Restart,
}

/// Checks that `value`, if given, lies in `range`, and reports it at
/// `{field}.{key}` if not.
fn ranged(
    c: &mut Collector<'_>,
    field: &str,
    key: &str,
    value: Option<&Spanned<i64>>,
    range: &RangeInclusive<i64>,
    unit: &str,
) -> Option<u64> {
    let value = value?;
    let v = *value.get_ref();
    if range.contains(&v)
        && let Ok(v) = u64::try_from(v)
    {
        return Some(v);
    }
    c.add(
        value.span(),
        format!("{field}.{key}"),
        format!(
            "must be {} to {} {unit}, not {v}",
            range.start(),
            range.end()
        ),
    );
    None
}

/// Validates module `field`'s lifecycle keys, reporting each problem to `c`.
/// A key at fault keeps its default.
pub(super) fn validate(field: &str, m: &ModuleDto, c: &mut Collector<'_>) -> Lifecycle {
    let mut limits = Limits::default();
    let memory = ranged(
        c,
        field,
        "memory-mib",
        m.memory_mib.as_ref(),
        &MEMORY_MIB,
        "MiB",
    );
    if let (Some(mib), Some(spanned)) = (memory, &m.memory_mib) {
        match usize::try_from(mib)
            .ok()
            .and_then(|mib| mib.checked_mul(MIB))
        {
            Some(bytes) => limits.memory_bytes = bytes,
            None => c.add(
                spanned.span(),
                format!("{field}.memory-mib"),
                format!("{mib} MiB is more than this machine can address"),
            ),
        }
    }
    let deadline = ranged(
        c,
        field,
        "cpu-deadline-ms",
        m.cpu_deadline_ms.as_ref(),
        &CPU_DEADLINE_MS,
        "milliseconds",
    );
    if let Some(ms) = deadline {
        limits.call_deadline = Duration::from_millis(ms).max(EPOCH_TICK);
    }
    let queue_length = ranged(
        c,
        field,
        "queue-length",
        m.queue_length.as_ref(),
        &QUEUE_LENGTH,
        "messages",
    )
    .and_then(|n| usize::try_from(n).ok())
    .unwrap_or(INPUT_QUEUE);
    Lifecycle {
        limits,
        queue_length,
        restart: validate_restart(field, m, c),
    }
}

fn validate_restart(field: &str, m: &ModuleDto, c: &mut Collector<'_>) -> Restart {
    let policy = match m
        .restart_policy
        .as_ref()
        .map(|p| (p.get_ref().as_str(), p.span()))
    {
        None | Some(("on-failure", _)) => RestartPolicy::OnFailure,
        Some(("never", _)) => RestartPolicy::Never,
        Some(("always", _)) => RestartPolicy::Always,
        Some((other, span)) => {
            c.add(
                span,
                format!("{field}.restart-policy"),
                format!("must be `never`, `on-failure` or `always`, not `{other}`"),
            );
            RestartPolicy::OnFailure
        }
    };
    let mut backoff = DEFAULT_BACKOFF;
    let base = ranged(
        c,
        field,
        "restart-backoff-base-ms",
        m.restart_backoff_base_ms.as_ref(),
        &BACKOFF_MS,
        "milliseconds",
    )
    .map(Duration::from_millis);
    let cap = ranged(
        c,
        field,
        "restart-backoff-cap-ms",
        m.restart_backoff_cap_ms.as_ref(),
        &BACKOFF_MS,
        "milliseconds",
    )
    .map(Duration::from_millis);
    match (base, cap) {
        (Some(base), Some(cap)) => {
            if cap < base
                && let Some(spanned) = &m.restart_backoff_cap_ms
            {
                c.add(
                    spanned.span(),
                    format!("{field}.restart-backoff-cap-ms"),
                    format!(
                        "must be at least restart-backoff-base-ms ({} ms), not {} ms",
                        base.as_millis(),
                        cap.as_millis()
                    ),
                );
            }
            backoff.base = base;
            backoff.cap = cap.max(base);
        }
        // One given alone moves the other's default out of its way.
        (Some(base), None) => {
            backoff.base = base;
            backoff.cap = backoff.cap.max(base);
        }
        (None, Some(cap)) => {
            backoff.cap = cap;
            backoff.base = backoff.base.min(cap);
        }
        (None, None) => {}
    }
    let mut stable = DEFAULT_STABLE_PERIOD;
    if let Some(secs) = ranged(
        c,
        field,
        "restart-stable-secs",
        m.restart_stable_secs.as_ref(),
        &STABLE_SECS,
        "seconds",
    ) {
        stable = Duration::from_secs(secs);
    }
    Restart {
        policy,
        backoff,
        stable,
    }
}
