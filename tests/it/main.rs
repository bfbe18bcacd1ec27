//! Integration tests of the gateway, on real components built by this crate's
//! `build.rs` from `example-modules/` and `tests/modules/`.

// Test code: a failed expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod analytics;
mod control;
mod deploy;
mod deployment;
mod drift;
mod endpoint;
mod faults;
mod flush;
mod harness;
mod ingest;
mod lifecycle;
mod limits;
mod loading;
mod maintenance;
mod manifest;
mod ml;
mod operator;
mod page;
mod precompiled;
mod push;
mod routing;
mod sandbox;
mod signing;
mod storage;
mod store;
mod support;
mod swap;
mod tls;
mod uplink;
mod versions;
