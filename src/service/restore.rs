//! What a restarted arbiter rebuilds from its audit trail: the decisions already given, the
//! escalations still waiting for a person, kill switches and freezes in force, the changes
//! in flight and under watch, agents' track records and the observations last recorded.

use super::checkpoint::Checkpoint;
use super::NatsError;
use crate::approval::{Escalations, Pending};
use crate::audit::{
    AuditError, AuditLog, Event, Layout, Record, Segment, SegmentIndex, Start, TrailIndex,
};
use crate::contract::{Decision, Proposal, Timestamp, Verdict};
use crate::coordinator::{Controls, Coordinator};
use crate::dashboard::{About, DecisionFeed, Figures, Held};
use crate::engine::InFlight;
use crate::rollback::RollbackWatch;
use crate::track::TrackRecords;
use std::sync::Arc;

/// What [`restore`] returns beside what it puts into the coordinator and the watch.
#[derive(Default)]
pub struct Restored {
    pub log: Option<AuditLog>,
    /// The trail's indexes, shared with the ledger and the API.
    pub index: Option<Arc<TrailIndex>>,
    pub escalations: Escalations,
    pub tracks: TrackRecords,
    pub last_observed: crate::contract::Telemetry,
    pub feed: DecisionFeed,
    pub figures: Figures,
    /// Sealed segments whose index could not be written (a full disk): their decisions are
    /// kept in memory until the sealer indexes them.
    pub unindexed: Vec<Segment>,
}

/// What [`restore`] rebuilt for a service about to run: the coordinator and rollback watch
/// the trail left, what it rebuilt beside them, and the fold at the head's start.
pub struct Opened {
    pub coordinator: Coordinator,
    pub watch: RollbackWatch,
    pub restored: Restored,
    pub at_head: Checkpoint,
}

/// [`restore`] of the trail at `path` under `cfg`'s settings, on a blocking thread: the one
/// way a restart and a standby open their trail.
pub async fn open_trail(
    cfg: &super::ServeConfig,
    path: std::path::PathBuf,
    mut coordinator: Coordinator,
    health: &Arc<crate::health::Health>,
) -> Result<Opened, NatsError> {
    let (segment_bytes, archive) = (cfg.segment_bytes, cfg.retention.archive.clone());
    let mut watch = RollbackWatch::new(cfg.rollback_watch);
    let health = health.clone();
    tokio::task::spawn_blocking(move || {
        let (restored, at_head) = restore(
            &path,
            segment_bytes,
            archive.as_deref(),
            &mut coordinator,
            &mut watch,
            &health,
        )?;
        Ok(Opened {
            coordinator,
            watch,
            restored,
            at_head,
        })
    })
    .await
    .map_err(super::nats)?
}

/// How many records between two prunings of what has gone stale during a restore (decisions
/// forgotten, changes no longer in flight), so memory follows what is live, not the trail.
const PRUNE_EVERY: u64 = 10_000;

/// Opens the audit trail (cutting a torn last line, refusing a broken chain) and rebuilds
/// the service's state from it, one record at a time: from the latest checkpoint on, or from
/// the start if there is none. Sealed segments are indexed first where a crash left them
/// unindexed: the ledger remembers their decisions through the index, not in memory. Returns
/// also the fold as it stood at the head's start, for the sealer to carry on (and written as
/// a checkpoint if it is newer than the one read).
pub fn restore(
    path: &std::path::Path,
    segment_bytes: u64,
    archive: Option<&std::path::Path>,
    coordinator: &mut Coordinator,
    watch: &mut RollbackWatch,
    health: &crate::health::Health,
) -> Result<(Restored, Checkpoint), NatsError> {
    let began = std::time::Instant::now();
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let (index, unindexed) = index_segments(path, archive, health)?;
    let index = Arc::new(index);
    let layout = index.layout().clone();
    // The head's first record: everything before it is in indexed, sealed segments.
    let boundary = index.sealed().last().map_or(1, |s| s.last_seq + 1);
    coordinator.controls = Controls::default();
    // The ledger keeps where each decision is recorded, and reads it back for a resend.
    coordinator.ledger = crate::engine::Ledger::recalling(index.clone());
    coordinator.ledger.forget_expired(now);
    let mut restored = Restored {
        escalations: crate::approval::Escalations::default().reading(index.clone()),
        ..Restored::default()
    };
    let (checkpoint, skipped) = Checkpoint::latest(&layout);
    for why in skipped {
        tracing::warn!("checkpoint not used: {why}");
    }
    let checkpoint = checkpoint.filter(|cp| cp.next_seq <= boundary);
    let start = checkpoint.as_ref().map(Checkpoint::start);
    let read_from = start.as_ref().map_or(0, |s| s.next_seq);
    if let Some(cp) = checkpoint {
        cp.install(coordinator, watch, &mut restored);
    }
    let size: u64 = layout
        .files()?
        .iter()
        .filter(|f| !is_before(&layout, f, read_from))
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let mut rebuild = Rebuild {
        coordinator,
        watch,
        now,
        indexed_through: boundary - 1,
        read: 0,
        bytes: 0,
        restored: &mut restored,
    };
    let mut at_boundary = None;
    let mut last_at = 0;
    let log = AuditLog::open_from(path, start.as_ref(), Some(index.clone()), |r, at| {
        if r.seq == boundary {
            let start = Start {
                next_seq: r.seq,
                prev: r.prev.clone(),
            };
            at_boundary = Some(rebuild.checkpoint(start));
        }
        // Positions restart at 0 in each file: count what was read by the records' starts.
        if at < last_at {
            rebuild.bytes += last_at;
        }
        last_at = at;
        rebuild.read(&r, at);
        if rebuild.read.is_multiple_of(PRUNE_EVERY) {
            health.fail(
                "restoring",
                progress(rebuild.read, rebuild.bytes + at, size),
            );
        }
    })?
    .with_segments(segment_bytes);
    // An empty head: the state at its start is the state now.
    let at_boundary = match at_boundary {
        Some(cp) => cp,
        None => rebuild.checkpoint(log.position()),
    };
    health.clear("restoring");
    // How much a start had to read: a checkpoint's worth shows here.
    metrics::gauge!("arbiter_audit_restored_records").set(rebuild.read as f64);
    tracing::info!(
        records = rebuild.read,
        from_seq = read_from.max(1),
        took_ms = began.elapsed().as_millis() as u64,
        "state rebuilt from the audit trail"
    );
    let coordinator = rebuild.coordinator;
    coordinator.in_flight.retain(|t| t.until > now);
    coordinator.ledger.forget_expired(now);
    if at_boundary.next_seq > read_from.max(1) {
        if let Err(e) = at_boundary.write(&layout) {
            tracing::warn!("checkpoint not written: {e}");
        }
    }
    restored.log = Some(log);
    restored.index = Some(index);
    restored.unindexed = unindexed;
    Ok((restored, at_boundary))
}

/// Whether trail file `f` holds only records before `seq` (a sealed segment that a
/// checkpoint covers).
fn is_before(layout: &Layout, f: &std::path::Path, seq: u64) -> bool {
    let sealed = layout.sealed().unwrap_or_default();
    let Some(i) = sealed.iter().position(|s| s.path == f) else {
        return false;
    };
    sealed.get(i + 1).is_some_and(|next| next.first_seq <= seq)
}

/// The trail's indexes: each sealed segment's index read, or built where it is missing or
/// unreadable (a crash between sealing and indexing). A segment whose index cannot be
/// written now (a full disk) is returned apart: the restore then reads its records, as it
/// does the head's, so nothing it decided is forgotten.
fn index_segments(
    path: &std::path::Path,
    archive: Option<&std::path::Path>,
    health: &crate::health::Health,
) -> Result<(TrailIndex, Vec<Segment>), NatsError> {
    let index = TrailIndex::empty(path);
    let mut unindexed = Vec::new();
    let segments = index.layout().sealed()?;
    for (i, s) in segments.iter().enumerate() {
        // After one that could not be indexed, none is: the restore reads them all.
        if !unindexed.is_empty() {
            unindexed.push(s.clone());
            continue;
        }
        let file = index.layout().index(s.first_seq);
        let ix = match SegmentIndex::load(&file, &s.path) {
            Ok(ix) => ix,
            Err(_) => {
                health.fail(
                    "restoring",
                    format!(
                        "indexing audit segment {} ({} of {})",
                        s.path.display(),
                        i + 1,
                        segments.len()
                    ),
                );
                match SegmentIndex::build(s, &file) {
                    Ok(ix) => ix,
                    Err(AuditError::Io { path, source }) => {
                        tracing::warn!("audit segment not indexed yet: {path}: {source}");
                        unindexed.push(s.clone());
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        index.install(ix);
    }
    // Indexes of segments retention removed: their decisions are still remembered, and read
    // back from the archive if they were moved there.
    for (first_seq, file) in index.layout().numbered("idx")? {
        if !index.has(first_seq) {
            let gone = index.layout().segment(first_seq);
            let archived = archive
                .zip(gone.file_name())
                .map(|(dir, name)| dir.join(name))
                .filter(|p| p.exists());
            match SegmentIndex::load(&file, archived.as_deref().unwrap_or(&gone)) {
                Ok(ix) => index.install(ix),
                Err(e) => tracing::warn!("index of a removed segment unreadable: {e}"),
            }
        }
    }
    Ok((index, unindexed))
}

/// How far a restore has read, for `/readyz`.
fn progress(records: u64, at: u64, size: u64) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    format!(
        "reading the audit trail: {:.0}% ({:.0} of {:.0} MB, {records} records)",
        100.0 * at as f64 / size.max(1) as f64,
        mb(at),
        mb(size)
    )
}

/// The state being rebuilt, record after record: by a restart, and by the sealer carrying
/// the fold on over each segment it seals.
pub struct Rebuild<'a> {
    pub coordinator: &'a mut Coordinator,
    pub watch: &'a mut RollbackWatch,
    pub now: Timestamp,
    /// Decisions recorded up to here are remembered through the trail's index.
    pub indexed_through: u64,
    pub read: u64,
    /// Bytes of the files read before the current one.
    pub bytes: u64,
    pub restored: &'a mut Restored,
}

/// What a record does to the track records and the headline figures (decisions' adherence
/// aside, which needs the proposal's domain): the one account, applied by the live service to
/// each record it writes and by a restart, a standby or a checkpoint to each record it reads.
pub fn tally(tracks: &mut TrackRecords, figures: &mut Figures, at: &Timestamp, event: &Event) {
    tracks.count(event);
    figures.count_command(at, event);
}

impl Rebuild<'_> {
    /// The state rebuilt so far, which continues at `start`.
    pub fn checkpoint(&self, start: Start) -> Checkpoint {
        Checkpoint::take(self.coordinator, self.watch, self.restored, start)
    }

    /// Takes in one record, which starts at `at` in its file.
    pub fn read(&mut self, r: &Record, at: u64) {
        tally(
            &mut self.restored.tracks,
            &mut self.restored.figures,
            &r.at,
            &r.event,
        );
        match &r.event {
            Event::Decision { proposal, .. } => {
                if let Some(d) = r.decision() {
                    let p = crate::contract::parse_proposal(proposal.get().as_bytes()).ok();
                    let about = About::received(p.as_ref(), proposal);
                    self.restored.figures.decided(&about.domain, &d);
                    let held = Held::Recorded { seq: r.seq, at };
                    self.restored.feed.push(about, &d, held);
                    // A refusal of a claimed identity was never the claimed agent's answer
                    // (trails of earlier versions filed it under that agent's name).
                    if !d
                        .reasons
                        .iter()
                        .any(|r| r.code == crate::contract::ReasonCode::SubjectMismatch)
                    {
                        self.decided(d, p, r.seq, at);
                    }
                }
            }
            Event::KillSwitch(_) | Event::Control { .. } => {
                if let Some(s) = r.control() {
                    self.coordinator.controls.apply(&s)
                }
            }
            Event::Outcome {
                agent, proposal_id, ..
            } => self.coordinator.outcome_reported(agent, proposal_id),
            Event::Observed { .. } => {
                r.event.observe(&mut self.restored.last_observed);
            }
            Event::Carried { decision, .. } => {
                let key = crate::contract::ProposalKey::of(&decision.agent, &decision.proposal_id);
                self.restored.escalations.moved(key, r.seq, at);
            }
            Event::Request { command, .. } => {
                if let Some(service) = command["action"]["service"].as_str() {
                    self.coordinator.asked.noted(service, r.at);
                }
            }
            Event::Approval { .. }
            | Event::Rollback { .. }
            | Event::Retention { .. }
            | Event::Leader { .. } => {}
        }
        self.read += 1;
        if self.read.is_multiple_of(PRUNE_EVERY) {
            let now = self.now;
            self.coordinator.in_flight.retain(|t| t.until > now);
            self.coordinator.ledger.forget_expired(now);
        }
    }

    /// A recorded decision: remembered for as long as its proposal's lifetime says (for good
    /// if the proposal cannot be read back), watched and in flight if approved, waiting if
    /// escalated and not yet answered.
    fn decided(&mut self, d: Decision, p: Option<Proposal>, seq: u64, at: u64) {
        let c = &mut *self.coordinator;
        // Asked only of the last minute's decisions: an indexed one is looked up on disk.
        let first_answer = || {
            !d.proposal_id.ends_with(crate::rollback::ROLLBACK_SUFFIX)
                && !c.ledger.answered_before(&d.agent, &d.proposal_id, seq)
        };
        if d.decided_at
            .plus_millis(crate::coordinator::rate_limit::WINDOW_MS)
            > self.now
            && first_answer()
        {
            c.admitted_earlier(&d);
        }
        if seq > self.indexed_through {
            c.ledger
                .remember_recorded(&d, p.as_ref().map(|p| p.expires_at), at);
        }
        let Some(p) = p else {
            if d.verdict != Verdict::Escalated {
                self.restored.escalations.remove(&d.agent, &d.proposal_id);
            }
            return;
        };
        match d.verdict {
            Verdict::Approved => {
                self.watch.approved(&p, d.decided_at);
                c.approved_by_human(InFlight::of(&p), &d.reasons, d.decided_at);
                self.restored.escalations.remove(&p.agent, &p.id);
            }
            Verdict::Escalated => {
                let deadline = c.escalation_deadline(d.decided_at);
                let pending = Pending {
                    proposal: p,
                    decision: d,
                    deadline,
                };
                self.restored.escalations.hold_recorded(&pending, seq, at);
            }
            _ => self.restored.escalations.remove(&p.agent, &p.id),
        }
    }
}
