//! `arbiter serve`: the service around the coordinator, over NATS.
//!
//! Proposals are held in a JetStream stream and read through a durable pull consumer; a window
//! opens with the first proposal and closes after `window` or `max_window` proposals, and is
//! decided by the coordinator. A window's decisions are first appended to the audit trail (one flush
//! to disk), then published to the decisions stream (with a message id, so a republished decision is
//! deduplicated), and only once the stream has stored them are the proposals acknowledged —
//! by a task that does so window after window, in order, while the loop decides the next. An arbiter killed at any moment
//! therefore loses no accepted proposal: unacknowledged ones are redelivered, and the ledger —
//! seeded from the audit trail on start — answers them with the decision already given.

//!
//! `serve.rs` is the decision loop, `shared.rs` the state it folds and the one way a decision
//! leaves it, `restore.rs` and `fold.rs` the fold of the audit trail (restart, standby),
//! `checkpoint.rs` and `sealer.rs` what a sealed segment leaves behind, `lease.rs` and
//! `standby.rs` the replicas, `archiver.rs` their sealed files copied beside the stream, `reload.rs` the intents' hot reload, `rollbacks.rs` and
//! `asks.rs` the commands the service itself sends to agents.

mod archiver;
mod asks;
mod checkpoint;
mod fold;
mod lease;
mod reload;
mod restore;
mod rollbacks;
mod sealer;
mod serve;
mod shared;
mod standby;
mod view;
mod writes;

use crate::bus::nats::{
    archive, connect_watched, feeds, mirror, nats, queue, replicated, ACK_WAIT,
};
pub use crate::bus::nats::{NatsError, StreamLimits, CONSUMER, DECISIONS_STREAM, PROPOSALS_STREAM};
pub use lease::LEADER_BUCKET;
pub use serve::serve;
pub use shared::{Delivery, Shared, Stored};
pub use standby::{serve_replica, ReplicaConfig};

use std::path::PathBuf;
use std::time::Duration;

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
