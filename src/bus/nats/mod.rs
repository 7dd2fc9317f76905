//! The NATS side of `arbiter serve`: the connection, the streams and buckets it declares
//! (replicated on up to three servers), the subscriptions telemetry and outcomes arrive on,
//! the audit trail's replication stream, the object store of the replicas' sealed trail files
//! and the escalations bucket. What the service does
//! with them is in `crate::service`; nothing here decides anything.

pub(crate) mod archive;
mod connect;
pub(crate) mod feeds;
pub(crate) mod mirror;
pub(crate) mod queue;

pub use archive::TRAIL_BUCKET;
pub use connect::{connect, connect_watched, connect_with, redact};
pub use mirror::{read_replicated, Held, AUDIT_STREAM};
pub use queue::ESCALATIONS_BUCKET;

use crate::audit::AuditError;
use std::time::Duration;

pub const PROPOSALS_STREAM: &str = "ARBITER_PROPOSALS";
pub const DECISIONS_STREAM: &str = "ARBITER_DECISIONS";
pub const CONSUMER: &str = "arbiter";
/// How long a delivered proposal may stay unacknowledged before JetStream delivers it again:
/// ample for deciding, auditing and publishing a window, short enough that proposals held by
/// a crashed arbiter are decided soon after it restarts.
pub const ACK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("NATS/JetStream: {0}")]
    Nats(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

pub(crate) fn nats<E: std::fmt::Display>(e: E) -> NatsError {
    NatsError::Nats(e.to_string())
}

/// What the proposals and decisions streams may hold: set by the service on every start, so
/// the NATS store is bounded by what the operator declared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StreamLimits {
    /// Bytes per stream.
    pub max_bytes: i64,
    pub max_age: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_bytes: 1 << 30,
            max_age: Duration::from_secs(25 * 3600),
        }
    }
}

/// Creates or updates something JetStream replicates (a stream, a bucket's stream) on as many
/// servers as the cluster has, up to three: one that exists keeps its replica count (a
/// cluster that lost a node must not shrink it); a new one is tried with three, then two,
/// then one replica (a single server takes only one).
pub(crate) async fn replicated<T, E, F, Fut>(
    js: &async_nats::jetstream::Context,
    stream: &str,
    mut make: F,
) -> Result<T, E>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    if let Ok(s) = js.get_stream(stream).await {
        return make(s.cached_info().config.num_replicas.max(1)).await;
    }
    for replicas in [3, 2] {
        if let Ok(made) = make(replicas).await {
            return Ok(made);
        }
    }
    make(1).await
}
