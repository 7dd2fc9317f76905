//! The service's state carried on record by record as a standby reads the replicated trail:
//! the same fold a restart runs ([`super::restore::Rebuild`]), kept live, so a take-over
//! starts from the state in hand instead of reading the trail's head again (seconds per
//! segment, longer than the lease on a slow machine).

use super::checkpoint::Checkpoint;
use super::restore::{Rebuild, Restored};
use crate::audit::{AuditError, AuditLog, Event, Record, Segment, SegmentIndex};
use crate::contract::Timestamp;
use crate::coordinator::Coordinator;
use crate::rollback::RollbackWatch;

/// What a replica has rebuilt of the trail so far.
pub struct Folded {
    pub coordinator: Coordinator,
    pub watch: RollbackWatch,
    /// The trail (file and indexes) and what it rebuilt beside the coordinator.
    pub restored: Restored,
    /// The state at the start of the trail's head: the checkpoint taken at the last seal.
    pub at_head: Checkpoint,
    /// Records folded, which paces the pruning of what has gone stale.
    read: u64,
    /// Segments sealed whose index could not be written yet.
    unindexed: Vec<Segment>,
    /// Where this replica's retired segments go (`--audit-archive`); deleted without one.
    archive: Option<std::path::PathBuf>,
}

impl Folded {
    pub fn new(
        coordinator: Coordinator,
        watch: RollbackWatch,
        mut restored: Restored,
        at_head: Checkpoint,
        archive: Option<std::path::PathBuf>,
    ) -> Self {
        let unindexed = std::mem::take(&mut restored.unindexed);
        Folded {
            coordinator,
            watch,
            restored,
            at_head,
            read: 0,
            unindexed,
            archive,
        }
    }

    /// Takes in records just written to the head of `log`, each with where it starts there;
    /// then, if writing them sealed the head, keeps the state at the new head's start (and
    /// writes it as a checkpoint) and indexes the sealed segment, as the leader's sealer does.
    /// An index that cannot be written now (a full disk) is tried again next time; until
    /// then the ledger keeps that segment's decisions in memory.
    pub fn take_in(
        &mut self,
        records: &[Record],
        starts: &[u64],
        log: &mut AuditLog,
    ) -> Result<(), AuditError> {
        let sealed = log.take_sealed();
        // Records of a head sealed just now are in memory until its index answers for them.
        let indexed_through = self.at_head.next_seq.saturating_sub(1);
        let mut rebuild = Rebuild {
            coordinator: &mut self.coordinator,
            watch: &mut self.watch,
            now: Timestamp::from_datetime(chrono::Utc::now()),
            indexed_through,
            read: self.read,
            bytes: 0,
            restored: &mut self.restored,
        };
        for (r, at) in records.iter().zip(starts) {
            rebuild.read(r, *at);
        }
        self.read = rebuild.read;
        let retired_through = records
            .iter()
            .filter_map(|r| match r.event {
                Event::Retention { through_seq, .. } => Some(through_seq),
                _ => None,
            })
            .max();
        if self.unindexed.is_empty() && sealed.is_empty() && retired_through.is_none() {
            return Ok(());
        }
        tokio::task::block_in_place(|| {
            if !sealed.is_empty() {
                self.at_head = Checkpoint::take(
                    &self.coordinator,
                    &self.watch,
                    &self.restored,
                    log.position(),
                );
                if let Err(e) = self.at_head.write(log.layout()) {
                    tracing::warn!("checkpoint not written: {e}");
                }
                self.unindexed.extend(sealed);
            }
            self.index_sealed()?;
            if let Some(through) = retired_through {
                self.follow_retention(through);
            }
            Ok(())
        })
    }

    /// The leader retired its segments up to record `through` (a `retention` record): this
    /// replica retires its own whole segments up to there, once they are indexed and its
    /// checkpoint is past them, so its disk stays near the leader's setting. Its segments may
    /// be cut at other records than the leader's, so it may keep a few records the leader
    /// removed; `verify` accepts them (they still chain to the hash the record names).
    fn follow_retention(&mut self, through: u64) {
        let Some(index) = self.restored.index.clone() else {
            return;
        };
        let sealed = match index.layout().sealed() {
            Ok(s) => s,
            Err(e) => return tracing::warn!("audit retention not followed: {e}"),
        };
        let mut going = Vec::new();
        for (i, s) in sealed.iter().enumerate() {
            let Some(next) = sealed.get(i + 1) else { break };
            let indexed = !self.unindexed.iter().any(|u| u.first_seq == s.first_seq);
            if next.first_seq > through + 1 || next.first_seq > self.at_head.next_seq || !indexed {
                break;
            }
            going.push(s.clone());
        }
        super::sealer::let_go_of_indexes(&index);
        if going.is_empty() {
            return;
        }
        match super::sealer::retire(&going, self.archive.as_deref(), &index) {
            Ok(()) => tracing::info!(
                segments = going.len(),
                through,
                "retired segments as the leader's retention did"
            ),
            Err(e) => tracing::warn!("audit retention not followed: {e}"),
        }
    }

    /// Indexes the segments sealed and not indexed yet, oldest first.
    fn index_sealed(&mut self) -> Result<(), AuditError> {
        let Some(index) = self.restored.index.clone() else {
            return Ok(());
        };
        while let Some(segment) = self.unindexed.first() {
            let ix = SegmentIndex::build(segment, &index.layout().index(segment.first_seq))?;
            let last = ix.last_seq;
            index.install(ix);
            self.coordinator.ledger.indexed(last);
            self.unindexed.remove(0);
        }
        Ok(())
    }

    /// Lets go of what has expired, as the end of a restart does, and tries once more to
    /// index what is not.
    pub fn settle(&mut self) {
        if let Err(e) = self.index_sealed() {
            tracing::warn!("audit segment not indexed yet: {e}");
        }
        // What is still not indexed goes to the leader's sealer, which tries until it is.
        self.restored.unindexed = std::mem::take(&mut self.unindexed);
        let now = Timestamp::from_datetime(chrono::Utc::now());
        self.coordinator.in_flight.retain(|t| t.until > now);
        self.coordinator.ledger.forget_expired(now);
    }
}
