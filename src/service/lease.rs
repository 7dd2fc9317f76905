//! Which replica leads: a lease in the JetStream key-value bucket `ARBITER_LEADER`.
//!
//! The leader created the key `leader` and renews it by revision well inside the bucket's
//! `max_age`; if it stops renewing (killed, paused, cut off), the server drops the key when
//! its age passes and a standby's create succeeds. The leader also keeps its own deadline,
//! the time it asked for the last renewal plus the lease less a margin: a deadline that
//! passes without a renewal means another replica may lead, so it stops at once (see
//! [`step_down`]) — it never publishes on a lease it cannot be sure of.

use super::{nats, NatsError};
use async_nats::jetstream::{self, kv};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const LEADER_BUCKET: &str = "ARBITER_LEADER";
const KEY: &str = "leader";

/// The lease as the leader holds it.
#[derive(Clone)]
pub struct Lease {
    store: kv::Store,
    replica: String,
    ttl: Duration,
    revision: Arc<AtomicU64>,
    /// Milliseconds after [`epoch`] until which no other replica can hold the lease.
    valid_until: Arc<AtomicU64>,
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_millis() as u64
}

/// The bucket, created or brought to `ttl`, replicated like the streams.
pub async fn bucket(js: &jetstream::Context, ttl: Duration) -> Result<kv::Store, NatsError> {
    super::replicated(js, &format!("KV_{LEADER_BUCKET}"), |replicas| {
        js.create_or_update_key_value(kv::Config {
            bucket: LEADER_BUCKET.into(),
            history: 1,
            max_age: ttl,
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
    })
    .await
    .map_err(nats)
}

/// The replica that holds the lease, if one does.
pub async fn holder(store: &kv::Store) -> Option<String> {
    let value = store.get(KEY).await.ok()??;
    Some(String::from_utf8_lossy(&value).into_owned())
}

impl Lease {
    /// Takes the lease if no replica holds it.
    pub async fn try_take(
        store: &kv::Store,
        replica: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, NatsError> {
        let asked = Instant::now();
        match store.create(KEY, replica.to_string().into()).await {
            Ok(revision) => {
                let lease = Lease {
                    store: store.clone(),
                    replica: replica.to_string(),
                    ttl,
                    revision: Arc::new(AtomicU64::new(revision)),
                    valid_until: Arc::new(AtomicU64::new(0)),
                };
                lease.extend_from(asked);
                Ok(Some(lease))
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(nats(e)),
        }
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether no other replica can hold the lease yet.
    pub fn held(&self) -> bool {
        millis(Instant::now()) < self.valid_until.load(Ordering::Acquire)
    }

    /// The bucket drops the key `ttl` after the server stored the renewal, which was after
    /// it was asked for: the lease is surely held until `asked + ttl`, less a margin for
    /// clocks that run at slightly different rates.
    fn extend_from(&self, asked: Instant) {
        let margin = self.ttl / 5;
        self.valid_until
            .store(millis(asked + self.ttl - margin), Ordering::Release);
    }

    /// Renews the lease every third of its time until it is lost, then steps down.
    pub fn keep(&self) -> tokio::task::JoinHandle<()> {
        let lease = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease.ttl / 3).await;
                let asked = Instant::now();
                let revision = lease.revision.load(Ordering::Acquire);
                match lease
                    .store
                    .update(KEY, lease.replica.clone().into(), revision)
                    .await
                {
                    Ok(next) => {
                        lease.revision.store(next, Ordering::Release);
                        lease.extend_from(asked);
                    }
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                        step_down("another replica holds the leader's lease");
                    }
                    Err(e) if !lease.held() => {
                        step_down(&format!("the lease could not be renewed in time: {e}"));
                    }
                    Err(e) => tracing::warn!("renewing the leader's lease, trying again: {e}"),
                }
            }
        })
    }

    /// Gives the lease up, so that a standby takes over at once rather than after it lapses.
    pub async fn release(&self) {
        let revision = self.revision.load(Ordering::Acquire);
        if let Err(e) = self.store.delete_expect_revision(KEY, Some(revision)).await {
            tracing::warn!("the leader's lease was not released (it lapses by itself): {e}");
        }
    }
}

/// Stops leading at once: the process starts again from its own arguments, as a standby,
/// with nothing of the leader's state — what it decided and did not publish is in the
/// trail, and its proposals, unacknowledged, go to the new leader, which answers them from
/// the trail.
pub fn step_down(why: &str) -> ! {
    if super::serve::stop_requested() {
        tracing::error!("stepping down: {why}; asked to stop, so exiting");
        std::process::exit(0)
    }
    start_again(&format!("stepping down: {why}"))
}

/// Starts the process again from its own arguments (the same process id), as a standby.
pub fn start_again(why: &str) -> ! {
    tracing::error!("{why}; starting again as a standby");
    use std::os::unix::process::CommandExt;
    let error = match std::env::current_exe() {
        Ok(exe) => std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .exec(),
        Err(e) => e,
    };
    tracing::error!("could not start again ({error}): exiting");
    std::process::exit(3)
}
