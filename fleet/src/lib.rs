//! The fleet's shared plumbing, used by the coordinator, the workers and `strata image` (local mode):
//!
//! - [`queue`]: layer jobs, with a RabbitMQ implementation (durable queue, persistent messages, publisher
//!   confirms, attempt counting, a dead-letter queue) and an in-process one for local mode;
//! - [`cache`]: layer results under (analyser version, layer digest), with single-flight claims and
//!   "layer done" notifications, in Redis (shared by every replica) or in memory;
//! - [`codec`]: how results and inventories are encoded on the wire and in the cache;
//! - [`telemetry`]: logging and OpenTelemetry traces, and the W3C trace context between processes.
//! - [`redis_link`]: Redis connections and subscriptions that survive a Redis restart;
//! - [`tls`]: `amqps://` and `rediss://` (CA and client-certificate settings);
//! - [`queue_type`]: classic or quorum job queues, and a quorum queue's delivery limit.
//!
//! It holds no scan logic: that is the coordinator's and the worker's, and it is the same in both modes.

pub mod cache;
pub mod codec;
pub mod config;
pub mod ops;
pub mod queue;
pub mod queue_type;
pub mod redis_link;
pub mod telemetry;
pub mod tls;

pub use strata_proto::v1::{LayerJob, LayerResult};

/// Errors of the queue and cache backends. They are transient by nature (a broker restarting, a network
/// blip); callers retry or fail the scan with the message.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("RabbitMQ: {0}")]
    Queue(String),
    #[error("Redis: {0}")]
    Cache(String),
    #[error("cannot decode {what}: {message}")]
    Decode { what: &'static str, message: String },
    #[error("the queue is closed")]
    Closed,
}

impl From<lapin::Error> for FleetError {
    fn from(e: lapin::Error) -> Self {
        FleetError::Queue(e.to_string())
    }
}

impl From<redis::RedisError> for FleetError {
    fn from(e: redis::RedisError) -> Self {
        // RedisError's Display can include the URL; ours never carries a password (see cache::redact).
        FleetError::Cache(cache::redact(&e.to_string()))
    }
}

pub type Result<T, E = FleetError> = std::result::Result<T, E>;
