//! Direct methods: a request on `ganglion/{device}/methods/{module}/{method}`
//! with a response topic, correlation data and a [`TIMEOUT_PROPERTY`]; the
//! answer on that response topic with the same correlation data, a
//! [`STATUS_PROPERTY`] (one of [`super::code`], or 413 for a payload too
//! large) and a JSON payload.

use std::ops::RangeInclusive;

/// The largest request or response payload, in bytes (Azure's limit).
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;

/// The timeouts a request may ask for, in seconds (Azure's 5 to 300).
pub const TIMEOUT_SECS: RangeInclusive<u64> = 5..=300;

/// The timeout when a request gives none, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// The user property that carries the request's timeout in seconds.
pub const TIMEOUT_PROPERTY: &str = "timeout-secs";

/// The user property that carries the response's status.
pub const STATUS_PROPERTY: &str = "status";

/// The status of a request whose payload is larger than
/// [`MAX_PAYLOAD_BYTES`].
pub const PAYLOAD_TOO_LARGE: u16 = 413;
