//! # ganglion: a WebAssembly module host for IoT gateways
//!
//! ganglion runs analytics and ML modules, written as WebAssembly components
//! against the `ganglion:module` WIT world, and routes messages between them,
//! leaf devices and the cloud with Azure IoT Edge's route syntax.
//!
//! # Layout
//! - [`manifest`]: the TOML deployment manifest, validated into domain types.
//! - [`route`]: the route grammar and the condition language.
//! - [`runtime`]: the wasmtime engine, linking, loading and instantiating
//!   components, timers and limits.
//! - [`supervisor`]: the task that owns one module instance and its input
//!   queue, and restarts the instance with backoff as its restart policy says.
//! - [`router`]: the task that owns the routing table and delivers messages.
//! - [`artifact`]: signed artifacts: keys, signatures, verification.
//! - [`deployer`]: owns the running modules; applies a deployment as a diff.
//! - [`gateway`]: starts and stops all of the above for one manifest.
//! - [`ingest`]: leaf devices' messages from the local MQTT broker.
//! - [`agent`]: cloud control: twins stored and published, direct methods,
//!   the status document.
//! - [`doctor`]: checks a device before the first run (`ganglion doctor`).
//! - [`harness`]: one module driven directly, for module tests and benchmarks.
//! - [`store`]: the sled database: the durable `$upstream` queue.
//! - [`twin`]: device and module twins: desired and reported properties,
//!   merge patches, Azure's limits, and their store in sled.
//! - [`upstream`]: the task that owns the queue: accepts messages into it and
//!   publishes them over the [`uplink`], the MQTT session to the cloud.
//! - [`bindings`]: the module world's types and calls, generated from `wit/`.
//! - [`message`]: the message type and the system properties the host owns.
//! - [`envelope`]: a message with its producer and receipt, as tasks pass it.
//! - [`receipt`]: how a producer learns that every copy of its message is safe.
//! - [`metrics`]: counters per route and module.
//! - [`lifecycle`]: a module's status, starts and exits, as its supervisor
//!   publishes them.
//! - [`allocator`]: the binaries' allocator (mimalloc) and its settings.
//! - [`backoff`]: the capped exponential backoff of restarts and reconnects.
//! - [`wait`]: optional deadlines, channels and tasks in `select!` loops.
//! - [`protocol`]: the cloud protocol: topics, documents, status codes.
//! - [`web`]: the local HTTP endpoint: `/metrics` in Prometheus text.
//! - [`operator`]: the operator's tools over the cloud broker: twins, direct
//!   methods, status and the live monitor (`ganglion twin`, `invoke`, ...).
//!
//! The `ganglion` binary (`src/bin/ganglion/`) is a thin command line over
//! [`gateway::Gateway`].

pub mod agent;
pub mod allocator;
pub mod artifact;
pub mod backoff;
pub mod bindings;
pub mod deployer;
pub mod doctor;
pub mod envelope;
pub mod gateway;
pub mod harness;
pub mod ingest;
pub mod lifecycle;
pub mod manifest;
pub mod message;
pub mod metrics;
pub mod operator;
pub mod protocol;
pub mod receipt;
pub mod route;
pub mod router;
pub mod runtime;
pub mod store;
pub mod supervisor;
pub mod twin;
pub mod uplink;
pub mod upstream;
pub mod wait;
pub mod web;

pub use gateway::{Gateway, GatewayError, GatewayOptions};
pub use manifest::{Manifest, ManifestError};
pub use message::Message;
