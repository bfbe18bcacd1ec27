//! The cloud protocol (`docs/protocol.md`) in one place: the topic tree, the
//! documents exchanged on it as typed structs, their limits and the status
//! codes. It depends on nothing else in the crate. The agent, the uplink, the
//! deployer and the operator's tools read and write the protocol through it,
//! so each document is parsed by one function with one set of rules.
//!
//! # Layout
//! - [`topics`]: `ganglion/{device}/...`, built and parsed.
//! - [`deployment`]: the retained deployment document and its outcome codes.
//! - [`status`]: the retained status document.
//! - [`artifact`]: pushed artifacts and the gateway's answer about each.
//! - [`method`]: direct methods' properties and limits.
//! - [`twin`]: the twin documents, each side with its `$version`.

pub mod artifact;
pub mod deployment;
pub mod method;
pub mod status;
pub mod topics;
pub mod twin;

/// The largest packet the gateway takes from the cloud broker: room for a
/// 128 KB method payload or a 32 KB twin, with their properties. MQTT 5
/// brokers do not send a client anything larger (they drop it).
pub const MAX_INBOUND_PACKET: u32 = 512 * 1024;

/// Status codes of the protocol's replies: HTTP-like, as in Azure IoT Hub's
/// twin and direct-method replies.
pub mod code {
    /// Done.
    pub const OK: u16 = 200;
    /// The request was wrong: it is refused and changes nothing.
    pub const BAD_REQUEST: u16 = 400;
    /// What the request names is not there (a module a method addresses).
    pub const NOT_FOUND: u16 = 404;
    /// The gateway or a module failed while doing it.
    pub const INTERNAL_ERROR: u16 = 500;
    /// No answer in time (a direct method's timeout).
    pub const GATEWAY_TIMEOUT: u16 = 504;
}
