//! The host's tests that run the `ganglion` binary as a process, or the
//! library's parsers against many inputs, as one test binary (one link of
//! wasmtime instead of seven).
//!
//! - [`allocation`]: the instance pool and its fallback under `ulimit -v`.
//! - [`cli`]: `ganglion route test` and `ganglion manifest import`.
//! - [`conformance`]: route conditions and sources against edgeHub's own cases.
//! - [`docs`]: the command blocks of docs/modules.md, operations.md and azure.md.
//! - [`doctor`]: `ganglion doctor` on a good device and on each fault.
//! - [`emulated`]: a subset that `cargo xtask test-cross` also runs against
//!   the aarch64 build under qemu.
//! - [`metrics`]: `ganglion run --metrics-addr` serves `/metrics`; JSON logs.
//! - [`crash`]: SIGKILL and SIGTERM under load lose no acknowledged message.
//! - [`never_panics`]: property tests of the route parser and evaluator.
//! - [`packaging`]: the systemd unit, checked by systemd.
//! - [`python`]: a Python module in the default pool; its exception logged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod allocation;
mod cli;
mod conformance;
mod crash;
mod docs;
mod doctor;
mod emulated;
mod metrics;
mod never_panics;
mod packaging;
mod python;
