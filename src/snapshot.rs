//! What the HTTP API reads: a snapshot of the service's state that the decision loop
//! publishes after each turn, and the two collections too large to copy each turn (the
//! decision feed, the escalations waiting), which it shares behind their own locks.
//!
//! The loop holds its state while a window is recorded (an `fsync`) and published; a
//! request that waited for that lock would take as long as the slowest window, and a person
//! reading the dashboard would slow the loop down. Reads take the latest snapshot instead
//! (an `Arc`, swapped in whole), so they never wait for a window. Writes (a person's answer,
//! a kill switch) still go through the loop's state: they must be recorded in order with the
//! decisions.

use crate::approval::{Approvers, Escalations};
use crate::dashboard::{DecisionFeed, Figures};
use crate::graph::ServiceGraph;
use crate::intent::{IntentSet, Roles};
use crate::track::TrackRecords;
use std::sync::{Arc, RwLock};

/// What changes only when the intents are reloaded: shared by every snapshot until then.
#[derive(Clone, Debug)]
pub struct Setup {
    pub approvers: Approvers,
    pub roles: Roles,
    pub intents: IntentSet,
    pub graph: ServiceGraph,
}

impl Setup {
    pub fn of(approvers: &Approvers, c: &crate::coordinator::Coordinator) -> Setup {
        Setup {
            approvers: approvers.clone(),
            roles: c.roles.clone(),
            intents: c.intents.clone(),
            graph: c.graph.clone(),
        }
    }
}

/// The state as it stood after the loop's last turn.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub setup: Arc<Setup>,
    pub figures: Figures,
    pub tracks: TrackRecords,
    pub controls: crate::controls::Controls,
    pub pending_approvals: usize,
    pub changes_in_flight: usize,
    /// Overspend people granted beyond the budget (`grants.rs`).
    pub grants: crate::grants::Grants,
    /// The share of decisions given since start that the audit trail holds.
    pub audit_completeness: Option<f64>,
}

impl Snapshot {
    /// What `coordinator` and the figures and track records folded beside it stand at: the
    /// same for a leader after each turn and for a standby after each stretch of trail.
    pub fn of(
        setup: Arc<Setup>,
        coordinator: &crate::coordinator::Coordinator,
        (figures, tracks): (&Figures, &TrackRecords),
        pending_approvals: usize,
        audit_completeness: Option<f64>,
    ) -> Snapshot {
        Snapshot {
            setup,
            figures: figures.clone(),
            tracks: tracks.clone(),
            controls: coordinator.controls.clone(),
            pending_approvals,
            changes_in_flight: coordinator.in_flight.len(),
            grants: coordinator.grants.clone(),
            audit_completeness,
        }
    }

    /// Nothing decided yet, under `setup`.
    pub fn empty(setup: Arc<Setup>) -> Snapshot {
        Snapshot {
            setup,
            figures: Figures::default(),
            tracks: TrackRecords::default(),
            controls: Default::default(),
            pending_approvals: 0,
            changes_in_flight: 0,
            grants: Default::default(),
            audit_completeness: None,
        }
    }
}

/// The loop's side: publishes snapshots, pushes decisions into the feed and keeps the
/// escalations waiting.
pub struct Publisher {
    latest: tokio::sync::watch::Sender<Arc<Snapshot>>,
    feed: Arc<RwLock<DecisionFeed>>,
    escalations: Arc<RwLock<Escalations>>,
}

/// The API's side: the latest snapshot, the feed and the escalations waiting, read without
/// the loop's lock.
#[derive(Clone)]
pub struct Reader {
    latest: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    feed: Arc<RwLock<DecisionFeed>>,
    escalations: Arc<RwLock<Escalations>>,
}

/// A publisher starting from `first`, `feed` and `escalations`, and a reader of what it
/// publishes.
pub fn channel(
    first: Snapshot,
    feed: DecisionFeed,
    escalations: Escalations,
) -> (Publisher, Reader) {
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(first));
    let feed = Arc::new(RwLock::new(feed));
    let escalations = Arc::new(RwLock::new(escalations));
    (
        Publisher {
            latest: tx,
            feed: feed.clone(),
            escalations: escalations.clone(),
        },
        Reader {
            latest: rx,
            feed,
            escalations,
        },
    )
}

impl Publisher {
    pub fn publish(&self, snapshot: Snapshot) {
        self.latest.send_replace(Arc::new(snapshot));
    }

    /// Puts `feed` and `escalations` in place of what readers see, whole: for a standby,
    /// whose fold keeps its own.
    pub fn replace(&self, feed: &DecisionFeed, escalations: &Escalations) {
        *self.feed() = feed.clone();
        *self.escalations() = escalations.clone();
    }

    /// The setup the latest snapshot carries, to be shared by the next one.
    pub fn setup(&self) -> Arc<Setup> {
        self.latest.borrow().setup.clone()
    }

    /// The feed, to push decisions into: held only for the pushing (in memory).
    pub fn feed(&self) -> std::sync::RwLockWriteGuard<'_, DecisionFeed> {
        // A reader that panicked while reading leaves the feed as it was: still usable.
        self.feed.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The escalations waiting, to hold, answer or expire one: never held across an `await`.
    pub fn escalations(&self) -> std::sync::RwLockWriteGuard<'_, Escalations> {
        self.escalations.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reader {
    pub fn latest(&self) -> Arc<Snapshot> {
        self.latest.borrow().clone()
    }

    /// The feed, to read a page or find a decision: the loop waits for it only while it
    /// pushes a window's decisions, so hold it briefly and never across an `await`.
    pub fn feed(&self) -> std::sync::RwLockReadGuard<'_, DecisionFeed> {
        self.feed.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The escalations waiting, as they stand: copy what is needed and let go (reading
    /// their records back is done after).
    pub fn escalations(&self) -> std::sync::RwLockReadGuard<'_, Escalations> {
        self.escalations.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Snapshot {
        Snapshot::empty(Arc::new(Setup {
            approvers: Approvers::default(),
            roles: Roles::default(),
            intents: IntentSet::default(),
            graph: ServiceGraph::from_parts(
                &[crate::graph::LinkRecord {
                    parent: "frontend".into(),
                    child: "cart".into(),
                    call_count: 1.0,
                }],
                &Default::default(),
            )
            .expect("a graph"),
        }))
    }

    #[test]
    fn a_reader_sees_the_latest_snapshot_and_keeps_the_one_it_holds() {
        let (publisher, reader) = channel(empty(), DecisionFeed::default(), Escalations::default());
        let held = reader.latest();
        let mut next = empty();
        next.pending_approvals = 3;
        next.setup = publisher.setup();
        publisher.publish(next);
        assert_eq!(reader.latest().pending_approvals, 3);
        assert_eq!(
            held.pending_approvals, 0,
            "a snapshot read is never changed"
        );
        assert!(Arc::ptr_eq(&held.setup, &reader.latest().setup));
    }
}
