//! The NATS transport of `arbiter serve`.
//!
//! Proposals are held in a JetStream stream and read through a durable pull consumer; a window
//! opens with the first proposal and closes after `window` or `max_window` proposals, and is
//! decided by the coordinator. A window's decisions are first appended to the audit trail (one flush
//! to disk), then published to the decisions stream (with a message id, so a republished decision is
//! deduplicated), and only once the stream has stored them are the proposals acknowledged —
//! by a task that does so window after window, in order, while the loop decides the next. An arbiter killed at any moment
//! therefore loses no accepted proposal: unacknowledged ones are redelivered, and the ledger —
//! seeded from the audit trail on start — answers them with the decision already given.

mod asks;
mod checkpoint;
mod connect;
mod feeds;
mod fold;
mod lease;
mod mirror;
mod queue;
mod reload;
mod restore;
mod rollbacks;
mod sealer;
mod serve;
mod shared;
mod standby;

pub use connect::{connect, connect_with, redact};
pub use lease::LEADER_BUCKET;
pub use mirror::AUDIT_STREAM;
pub use queue::ESCALATIONS_BUCKET;
pub use serve::serve;
pub use shared::{Delivery, Shared, Stored};
pub use standby::{serve_replica, ReplicaConfig};

use crate::audit::AuditError;
use std::path::PathBuf;
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

fn nats<E: std::fmt::Display>(e: E) -> NatsError {
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

/// How much of the audit trail is kept: whole sealed segments beyond `keep_bytes` are moved to
/// `archive` (or deleted without one), oldest first, once a checkpoint covers them — so only
/// after their chain was checked, and never the segments a restart still reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Retention {
    /// `None` keeps everything.
    pub keep_bytes: Option<u64>,
    pub archive: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub url: String,
    /// Longest wait for more proposals to join a window.
    pub window: Duration,
    /// Most proposals in one window.
    pub max_window: usize,
    /// Proposals waiting behind a window beyond which the service sheds: new proposals are
    /// answered `deferred` (`overloaded`) until the backlog is back under it.
    pub shed_above: u64,
    /// How long after its approval a change is undone if an SLO it is part of is breached.
    pub rollback_watch: Duration,
    pub audit: Option<PathBuf>,
    /// The audit trail's head is sealed into a segment (and indexed) at this size.
    pub segment_bytes: u64,
    /// What of the trail's sealed segments is kept.
    pub retention: Retention,
    pub stream_limits: StreamLimits,
    /// The intents directory to watch: a changed file is validated and applied, an invalid
    /// one refused (the last good intents stay in force); both are audited.
    pub intents_dir: Option<PathBuf>,
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
