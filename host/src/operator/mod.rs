//! The operator's side of the cloud protocol (`docs/protocol.md`): what the
//! `ganglion twin`, `invoke`, `status`, `monitor` and `deploy` commands do
//! over the cloud MQTT broker, as a library, so that integration tests call
//! the same code as the command line.
//!
//! - [`broker`]: where the broker is and how to reach it
//!   ([`BrokerSettings`]), built like the gateway's uplink (TLS included),
//!   with a unique client id and a clean start.
//! - [`session`]: one short MQTT 5 session to the broker ([`Session`]); it
//!   subscribes, publishes at QoS 1 waiting for the PUBACK, and reads
//!   retained documents with a deadline.
//! - [`twin`]: reads a twin's retained desired and reported documents, and
//!   changes the desired one with a merge patch ([`twin::plan_set`] is the
//!   pure part: merge, limits, version bump).
//! - [`method`]: direct methods, request and response.
//! - [`status`]: the retained status document and the online flag, and a
//!   table of them for people.
//! - [`monitor`]: the live stream of telemetry, reported twins and status.
//! - [`deploy`]: checks a manifest locally, publishes it as the device's
//!   next retained deployment, and waits for the gateway to report it.
//! - [`push`]: sends a module's artifact through the broker in chunks, and
//!   once the gateway stored it, deploys the device's deployment with the
//!   module naming the artifact's digest.
//!
//! Every failure is an [`OperatorError`] that names what failed and why.

pub mod broker;
pub mod deploy;
pub mod method;
pub mod monitor;
pub mod push;
pub mod session;
pub mod status;
pub mod twin;

pub use broker::BrokerSettings;
pub use session::{Incoming, Session};

use crate::manifest::ManifestError;
use crate::twin::TwinError;
use crate::uplink::tls::TlsError;
use std::time::Duration;

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// A device, module, method or twin name cannot be one level of a topic.
    #[error(
        "the {what} `{name}` cannot name a topic level: it must be non-empty, without `/`, `+` or `#`"
    )]
    BadName {
        /// "device", "module", "method" or "twin".
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The broker address is not usable.
    #[error("broker address `{url}`: {reason}")]
    BadBroker {
        /// The address given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS files could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The broker could not be reached or the connection failed before the
    /// broker accepted it.
    #[error("cannot connect to the broker {broker}: {reason}")]
    Connect {
        /// The broker's address.
        broker: String,
        /// Why.
        reason: String,
    },
    /// The broker did not accept the connection in time.
    #[error("the broker {broker} did not accept the connection within {} s", .waited.as_secs())]
    ConnectTimeout {
        /// The broker's address.
        broker: String,
        /// How long was waited.
        waited: Duration,
    },
    /// The broker refused the connection (for example, bad credentials).
    #[error("the broker {broker} refused the connection: {reason}")]
    Refused {
        /// The broker's address.
        broker: String,
        /// The broker's reason code.
        reason: String,
    },
    /// The connection broke after it was up.
    #[error("lost the connection to the broker {broker}: {reason}")]
    ConnectionLost {
        /// The broker's address.
        broker: String,
        /// Why.
        reason: String,
    },
    /// The broker did not acknowledge a subscription or a publish in time.
    #[error("the broker {broker} did not acknowledge {what} within {} s", .waited.as_secs())]
    AckTimeout {
        /// The broker's address.
        broker: String,
        /// What was not acknowledged.
        what: String,
        /// How long was waited.
        waited: Duration,
    },
    /// The broker refused a subscription (for example, not authorized).
    #[error("the broker refused the subscription to `{filter}`: {reason}")]
    SubscribeRefused {
        /// The topic filter.
        filter: String,
        /// The broker's reason code.
        reason: String,
    },
    /// The broker refused a publish (for example, not authorized).
    #[error("the broker refused the publish to `{topic}`: {reason}")]
    PublishRefused {
        /// The topic.
        topic: String,
        /// The broker's reason code.
        reason: String,
    },
    /// Input from the command line is not what it must be.
    #[error("{what}: {reason}")]
    BadInput {
        /// What was given: "the patch", "the method payload", ...
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A retained document on the broker is not what the protocol says.
    #[error("the document on `{topic}` is malformed: {reason}")]
    BadDocument {
        /// Where it was read.
        topic: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A twin change breaks a limit; nothing was published.
    #[error(
        "twin `{twin}` of device `{device}`: the change is refused and nothing was published: {refusal}"
    )]
    TwinRefused {
        /// The device.
        device: String,
        /// The twin (`$device` or a module name).
        twin: String,
        /// The limit broken, with the path at fault. (Part of the message,
        /// not a `source`, so that a printed error chain says it once.)
        refusal: TwinError,
    },
    /// A direct method got no answer.
    #[error(
        "device `{device}` did not answer method `{method}` of module `{module}`: {why}; is the gateway offline?"
    )]
    NoAnswer {
        /// The device.
        device: String,
        /// The module.
        module: String,
        /// The method.
        method: String,
        /// What happened instead.
        why: String,
    },
    /// A direct method's response does not follow the protocol.
    #[error("the response to method `{method}` is malformed: {reason}")]
    BadResponse {
        /// The method.
        method: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest to deploy could not be read or does not validate;
    /// nothing was published.
    #[error("{error}\nnothing was published{}", missing_files_hint(*.only_missing_files))]
    ManifestRefused {
        /// Why. (Part of the message, not a `source`, so that a printed
        /// error chain says it once.)
        error: ManifestError,
        /// Whether every problem is a file that is missing here: module
        /// paths are resolved on the gateway, where the files may be.
        only_missing_files: bool,
    },
    /// The gateway refused a pushed artifact; the deployment was not
    /// changed.
    #[error(
        "device `{device}` refused the artifact for module `{module}`: {reason}\nthe deployment was not changed"
    )]
    ArtifactRefused {
        /// The device.
        device: String,
        /// The module.
        module: String,
        /// The gateway's reason.
        reason: String,
    },
    /// The gateway did not say whether it stored a pushed artifact.
    #[error(
        "device `{device}` did not confirm the artifact {digest} within {} s: {why}; the deployment was not changed", .waited.as_secs()
    )]
    ArtifactUnconfirmed {
        /// The device.
        device: String,
        /// The artifact.
        digest: String,
        /// How long was waited.
        waited: Duration,
        /// What happened instead.
        why: String,
    },
    /// No status document was ever published for the device.
    #[error(
        "no status for device `{device}` on the broker: its gateway never connected, or the device id is wrong"
    )]
    NoStatus {
        /// The device.
        device: String,
    },
}

/// The hint for a manifest whose only problems are missing files.
fn missing_files_hint(only_missing_files: bool) -> &'static str {
    if only_missing_files {
        "; every problem is a missing file, and the gateway resolves module paths \
         relative to the folder of its own manifest: if the files are there, deploy \
         with --no-check"
    } else {
        ""
    }
}

/// Checks that `name` can be one level of a topic: non-empty, without `/`,
/// `+` or `#`.
pub fn check_name(what: &'static str, name: &str) -> Result<(), OperatorError> {
    if name.is_empty() || name.contains(['/', '+', '#']) {
        return Err(OperatorError::BadName {
            what,
            name: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_one_topic_level() {
        assert!(check_name("device", "gw-1").is_ok());
        assert!(check_name("twin", "$device").is_ok());
        for bad in ["", "a/b", "a+", "#"] {
            let e = check_name("module", bad).unwrap_err().to_string();
            assert!(
                e.contains("module") && e.contains(&format!("`{bad}`")),
                "{e}"
            );
        }
    }
}
