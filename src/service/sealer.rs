//! What follows the audit trail's writes, off the decision loop: the fold of the trail is
//! carried on over each record written (the records themselves, not read back), and when a
//! segment is sealed it is indexed, the fold is written as a checkpoint at its end, and the
//! ledger lets go of the decisions the index now answers for. Then the retention setting is
//! applied to the segments the checkpoint covers.

use super::checkpoint::Shadow;
use super::restore::Rebuild;
use super::shared::Shared;
use super::Retention;
use crate::audit::{Event, IndexEntry, Record};
use crate::audit::{Segment, SegmentIndex, Start, TrailIndex};
use crate::contract::Timestamp;
use crate::health::Backoff;
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex};

/// What the sealer is given, in the order the trail was written.
pub enum ToSeal {
    /// Records this process wrote, each with where it starts in its file: folded into the
    /// checkpoint's state and noted for the index as they come, so a sealed segment is not
    /// read back.
    Written(Vec<(Record, u64)>),
    /// A segment just sealed (or found sealed and not indexed at a start).
    Sealed(Segment),
}

/// Index entries of the head's records as they were written, while they follow each other.
#[derive(Default)]
struct Gathered {
    first_seq: Option<u64>,
    last_seq: u64,
    entries: Vec<IndexEntry>,
    /// A record was missed (the head was begun before this process): read the segment back.
    gap: bool,
}

impl Gathered {
    fn note(&mut self, records: &[(Record, u64)]) {
        for (r, at) in records {
            match self.first_seq {
                None => self.first_seq = Some(r.seq),
                Some(_) if r.seq != self.last_seq + 1 => self.gap = true,
                Some(_) => {}
            }
            self.last_seq = r.seq;
            self.entries.extend(IndexEntry::of(r, *at));
        }
    }

    /// The entries of every record of `segment`, if all were noted.
    fn of(&mut self, segment: &Segment) -> Option<(u64, Vec<IndexEntry>)> {
        let whole = !self.gap && self.first_seq == Some(segment.first_seq);
        let taken = std::mem::take(self);
        whole.then_some((taken.last_seq, taken.entries))
    }
}

/// How long records written wait to be folded together: the fold serves checkpoints, taken at
/// seals, so it may trail the writes by this much.
const FOLD_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Takes what the trail writes, in order, for as long as the service runs: records are
/// folded into the checkpoint's state ([`Shadow`]) and noted for the index as they come; a
/// sealed segment is indexed and checkpointed. A segment that cannot be indexed now (a full
/// disk) is tried again with backoff; until then the ledger keeps its decisions in memory,
/// so nothing is forgotten.
pub async fn run(
    mut to_seal: mpsc::UnboundedReceiver<ToSeal>,
    index: Arc<TrailIndex>,
    shadow: Shadow,
    retention: Retention,
    state: Arc<Mutex<Shared>>,
) {
    let mut shadow = Some(shadow);
    let mut gathered = Gathered::default();
    let mut next_up = None;
    loop {
        let next = match next_up.take() {
            Some(next) => next,
            None => match to_seal.recv().await {
                Some(next) => next,
                None => return,
            },
        };
        let segment = match next {
            ToSeal::Written(mut records) => {
                // What is written in the next moments is taken in the same turn, on a
                // blocking thread: one hand-over per turn rather than per window, and reading
                // records back for the ledger may touch the disk, which the runtime's threads
                // (the decision loop's, the bus's) must not wait on.
                tokio::time::sleep(FOLD_EVERY).await;
                while let Ok(more) = to_seal.try_recv() {
                    match more {
                        ToSeal::Written(r) => records.extend(r),
                        sealed => {
                            next_up = Some(sealed);
                            break;
                        }
                    }
                }
                let (mut g, s) = (std::mem::take(&mut gathered), shadow.take());
                let taken_in = tokio::task::spawn_blocking(move || {
                    g.note(&records);
                    (g, s.and_then(|s| fold(s, &records)))
                });
                match taken_in.await {
                    Ok((g, s)) => (gathered, shadow) = (g, s),
                    Err(e) => {
                        tracing::warn!("checkpoints stop until the next start: {e}");
                        gathered.gap = true;
                    }
                }
                continue;
            }
            ToSeal::Sealed(segment) => segment,
        };
        let mut entries = gathered.of(&segment);
        let mut backoff = Backoff::default();
        let last_seq = loop {
            let job = {
                let (index, segment, written) = (index.clone(), segment.clone(), entries.take());
                let shadow = shadow.take();
                tokio::task::spawn_blocking(move || {
                    let mut written = written;
                    let (done, shadow) = seal(&segment, &index, &mut written, shadow);
                    (done, shadow, written)
                })
            };
            match job.await {
                Ok((Ok(last_seq), kept, _)) => {
                    shadow = kept;
                    break last_seq;
                }
                Ok((Err(e), kept, written)) => {
                    (shadow, entries) = (kept, written);
                    tracing::warn!("audit segment not indexed yet: {e}");
                }
                Err(e) => tracing::warn!("audit segment not indexed yet: {e}"),
            }
            tokio::time::sleep(backoff.delay()).await;
        };
        let size = index.size();
        metrics::gauge!("arbiter_audit_indexed_segments").set(size.segments as f64);
        metrics::gauge!("arbiter_audit_index_filter_bytes").set(size.filter_bytes as f64);
        state.lock().await.coordinator.ledger.indexed(last_seq);
        if let Some(covered) = shadow.as_ref().map(|s| s.start.next_seq) {
            if let Err(e) = retain(&retention, &index, covered, &state).await {
                tracing::warn!("audit retention not applied: {e}");
            }
        }
    }
}

/// Carries the fold over records written just now, if they continue where it stands; a
/// fold they do not continue is dropped (checkpoints stop until the next start).
fn fold(mut shadow: Shadow, records: &[(Record, u64)]) -> Option<Shadow> {
    let (first, _) = records.first()?;
    if first.seq != shadow.start.next_seq || first.prev != shadow.start.prev {
        tracing::warn!(
            expected = shadow.start.next_seq,
            got = first.seq,
            "checkpoints stop until the next start: the fold missed records"
        );
        return None;
    }
    let Shadow {
        coordinator,
        watch,
        restored,
        start,
        folded,
    } = &mut shadow;
    let mut rebuild = Rebuild {
        coordinator,
        watch,
        now: Timestamp::from_datetime(chrono::Utc::now()),
        indexed_through: 0,
        read: *folded,
        bytes: 0,
        restored,
    };
    for (r, at) in records {
        rebuild.read(r, *at);
    }
    *folded = rebuild.read;
    let (last, _) = records.last().expect("not empty");
    *start = Start {
        next_seq: last.seq + 1,
        prev: last.hash.clone(),
    };
    Some(shadow)
}

/// Moves away (or deletes) the oldest sealed segments while the trail is larger than
/// `keep_bytes`, among those wholly before `covered` (the checkpoint's next seq; the limit
/// is exceeded until the checkpoint catches up, and `arbiter_audit_retention_held_back_bytes`
/// says by how much). Escalations still waiting in what goes are first written again at the
/// head ([`carry`]), so however long they wait the trail stays near its setting; one that
/// cannot be read back to be carried holds its segment. The trail records what goes, with
/// the hash the first record kept follows, so `verify` can tell this cut from tampering; a
/// crash between the record and the removal leaves files that are simply removed next time.
/// An index outlives its segment until every decision in it may be forgotten: a resend is
/// still answered with its verdict.
async fn retain(
    retention: &Retention,
    index: &Arc<TrailIndex>,
    covered: u64,
    state: &Arc<Mutex<Shared>>,
) -> Result<(), super::NatsError> {
    let_go_of_indexes(index);
    let Some(keep) = retention.keep_bytes else {
        return Ok(());
    };
    let layout = index.layout();
    let sealed = layout.sealed()?;
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut total: u64 = sealed.iter().map(|s| size(&s.path)).sum::<u64>() + size(layout.head());
    let mut going = Vec::new();
    metrics::gauge!("arbiter_audit_retention_held_back_bytes").set(0.0);
    for (i, s) in sealed.iter().enumerate() {
        let Some(next) = sealed.get(i + 1) else { break };
        if total <= keep {
            break;
        }
        if next.first_seq > covered {
            metrics::gauge!("arbiter_audit_retention_held_back_bytes").set((total - keep) as f64);
            break;
        }
        total -= size(&s.path);
        going.push((s.clone(), next.clone()));
    }
    let Some((_, first_kept)) = going.last() else {
        return Ok(());
    };
    carry(state, first_kept.first_seq).await?;
    if let Some(waiting) = state.lock().await.published.escalations().oldest_record() {
        going.retain(|(_, next)| next.first_seq <= waiting);
    }
    let Some((_, first_kept)) = going.last() else {
        return Ok(());
    };
    let Some(kept) = crate::audit::first_record_of(&first_kept.path)? else {
        return Ok(());
    };
    let event = Event::Retention {
        through_seq: kept.seq - 1,
        last_hash: kept.prev,
        segments: going.iter().map(|(s, _)| s.first_seq).collect(),
        bytes: going.iter().map(|(s, _)| size(&s.path)).sum(),
        archived_to: retention.archive.as_ref().map(|a| a.display().to_string()),
    };
    let now = Timestamp::from_datetime(chrono::Utc::now());
    if state.lock().await.append_now(now, event).await?.is_none() {
        return Ok(());
    }
    let going: Vec<crate::audit::Segment> = going.into_iter().map(|(s, _)| s).collect();
    retire(&going, retention.archive.as_deref(), index)
}

/// Drops the indexes of retired segments once every decision in them may be forgotten.
pub(super) fn let_go_of_indexes(index: &TrailIndex) {
    let now_ms = Timestamp::from_datetime(chrono::Utc::now()).millis();
    for ix in index.sealed() {
        let retired = !index.layout().segment(ix.first_seq).exists();
        if retired && ix.max_forget_ms <= now_ms {
            let _ = std::fs::remove_file(&ix.path);
            index.drop_index(ix.first_seq);
        }
    }
}

/// Moves `segments` to `archive` (or deletes them without one). Their indexes stay until
/// what they answer for may be forgotten ([`let_go_of_indexes`]).
pub(super) fn retire(
    segments: &[crate::audit::Segment],
    archive: Option<&std::path::Path>,
    index: &TrailIndex,
) -> Result<(), super::NatsError> {
    for s in segments {
        match archive {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| crate::audit::AuditError::Io {
                    path: dir.display().to_string(),
                    source: e,
                })?;
                let to = dir.join(s.path.file_name().expect("a segment has a name"));
                move_file(&s.path, &to)?;
                index.moved(s.first_seq, &to);
            }
            None => {
                std::fs::remove_file(&s.path).map_err(|e| crate::audit::AuditError::Io {
                    path: s.path.display().to_string(),
                    source: e,
                })?;
            }
        }
        metrics::counter!("arbiter_audit_segments_retired_total").increment(1);
    }
    Ok(())
}

/// How many escalations are written again with one flush.
const CARRY_AT_ONCE: usize = 512;

/// Writes again at the head of the trail the escalations still waiting that are read back
/// from records before `before`. They are read back off the decision loop, and written (and
/// read back from their new record from then on) only if they still wait by then.
async fn carry(state: &Arc<Mutex<Shared>>, before: u64) -> Result<(), crate::audit::AuditError> {
    let part = state
        .lock()
        .await
        .published
        .escalations()
        .recorded_before(before);
    if part.is_empty() {
        return Ok(());
    }
    let read = tokio::task::spawn_blocking(move || part.all())
        .await
        .map_err(|e| crate::audit::AuditError::Io {
            path: "escalations".into(),
            source: std::io::Error::other(e),
        })?;
    for chunk in read.chunks(CARRY_AT_ONCE) {
        state.lock().await.carry(chunk).await;
    }
    Ok(())
}

/// Moves a file, across file systems too (an archive on other storage): copied, made
/// durable, then the original removed.
fn move_file(from: &std::path::Path, to: &std::path::Path) -> Result<(), crate::audit::AuditError> {
    let io = |p: &std::path::Path| {
        let p = p.display().to_string();
        move |source| crate::audit::AuditError::Io { path: p, source }
    };
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map_err(io(to))?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io(to))?;
    std::fs::remove_file(from).map_err(io(from))
}

/// Indexes one sealed segment — from the entries of its records gathered as they were
/// written, or by reading it back — and, when the fold stands at its end, writes the fold as
/// the checkpoint there. Returns the segment's last seq, and the fold to keep.
pub(super) fn seal(
    segment: &Segment,
    index: &TrailIndex,
    written: &mut Option<(u64, Vec<IndexEntry>)>,
    shadow: Option<Shadow>,
) -> (Result<u64, crate::audit::AuditError>, Option<Shadow>) {
    let file = index.layout().index(segment.first_seq);
    let built = match written {
        Some((last_seq, entries)) => SegmentIndex::from_entries(segment, &file, *last_seq, entries),
        None => SegmentIndex::build(segment, &file),
    };
    let last = match built {
        Ok(ix) => {
            let last = ix.last_seq;
            index.install(ix);
            last
        }
        Err(e) => return (Err(e), shadow),
    };
    let Some(mut shadow) = shadow.filter(|s| s.start.next_seq == last + 1) else {
        return (Ok(last), None);
    };
    shadow.coordinator.ledger.indexed(last);
    if let Err(e) = shadow.write(index.layout()) {
        tracing::warn!("checkpoint not written: {e}");
    }
    (Ok(last), Some(shadow))
}

#[cfg(test)]
mod tests {
    use super::{fold, Shadow};
    use crate::audit::{Event, Record, Start, TrailIndex, GENESIS};
    use crate::contract::Timestamp;
    use crate::coordinator::Coordinator;
    use crate::graph::ServiceGraph;
    use crate::intent::{IntentSet, Roles};
    use crate::rollback::RollbackWatch;
    use crate::service::checkpoint::Checkpoint;
    use crate::service::restore::Restored;
    use std::path::Path;

    /// Records chained from `prev`, seqs `from..from + n`.
    fn written(from: u64, n: u64, prev: &mut String) -> Vec<(Record, u64)> {
        (from..from + n)
            .map(|seq| {
                let hash = format!("h{seq}");
                let r = Record {
                    seq,
                    at: Timestamp::parse("2026-12-07T10:00:00Z").unwrap(),
                    prev: std::mem::replace(prev, hash.clone()),
                    hash,
                    event: Event::Observed {
                        telemetry: Default::default(),
                        changes: false,
                    },
                };
                (r, seq * 100)
            })
            .collect()
    }

    /// The fold behind checkpoints takes records in batch after batch as they are written:
    /// it stands after the last one, and counts them all (the count paces the pruning of what
    /// has gone stale, so a count that started again with each batch never pruned).
    #[test]
    fn the_fold_goes_on_across_batches_and_stops_at_a_gap() {
        let graph =
            ServiceGraph::from_files(Path::new("scenarios/online-boutique/graph.json"), None)
                .unwrap();
        let live = Coordinator::new(graph, IntentSet::new(Vec::new()), Roles::default());
        let dir = std::env::temp_dir().join(format!("arbiter-sealer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let index = std::sync::Arc::new(TrailIndex::open(&dir.join("audit.jsonl")).unwrap());
        let watch = RollbackWatch::new(std::time::Duration::from_secs(600));
        let start = Start {
            next_seq: 1,
            prev: GENESIS.into(),
        };
        let cp = Checkpoint::take(&live, &watch, &Restored::default(), start);
        let mut shadow = Some(Shadow::from_checkpoint(cp, &live, index));
        let mut prev = GENESIS.to_string();
        for batch in 0..3 {
            let records = written(1 + batch * 4, 4, &mut prev);
            shadow = fold(shadow.expect("continued"), &records);
        }
        let s = shadow.expect("continued");
        assert_eq!((s.folded, s.start.next_seq), (12, 13));
        assert_eq!(s.start.prev, "h12");
        // Records that do not follow where it stands end it: checkpoints stop.
        let mut elsewhere = "h13".to_string();
        assert!(fold(s, &written(14, 2, &mut elsewhere)).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
