//! Times as milliseconds since the Unix epoch, to and from RFC 3339 text (the
//! form of `$creationTimeUtc` and of most JSON time stamps), and the wall clock
//! (WASI `wasi:clocks/wall-clock`, through std): the `ganglion-time` crate,
//! which the host uses too.

pub use ganglion_time::{format_rfc3339, now_ms, now_rfc3339, parse_rfc3339};
