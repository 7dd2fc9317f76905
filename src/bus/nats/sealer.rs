//! What happens to a segment once the audit trail has sealed it, off the decision loop: its
//! chain is checked, it is indexed, the fold of the trail is carried on over it and written
//! as a checkpoint, and the ledger lets go of the decisions the index now answers for.

use super::checkpoint::Shadow;
use super::restore::Rebuild;
use super::shared::Shared;
use crate::audit::{Segment, SegmentIndex, Start, TrailIndex};
use crate::contract::Timestamp;
use crate::health::Backoff;
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex};

/// Takes sealed segments in the order they were sealed, for as long as the service runs. A
/// segment that cannot be indexed now (a full disk) is tried again with backoff; until then
/// the ledger keeps its decisions in memory, so nothing is forgotten.
pub async fn run(
    mut sealed: mpsc::UnboundedReceiver<Segment>,
    index: Arc<TrailIndex>,
    shadow: Shadow,
    state: Arc<Mutex<Shared>>,
) {
    let mut shadow = Some(shadow);
    while let Some(segment) = sealed.recv().await {
        let mut backoff = Backoff::default();
        let last_seq = loop {
            let job = {
                let (index, segment) = (index.clone(), segment.clone());
                let shadow = shadow.take();
                tokio::task::spawn_blocking(move || seal(&segment, &index, shadow))
            };
            match job.await {
                Ok((Ok(last_seq), kept)) => {
                    shadow = kept;
                    break last_seq;
                }
                Ok((Err(e), kept)) => {
                    shadow = kept;
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
    }
}

/// Indexes one sealed segment, and carries the fold over it into a new checkpoint when the
/// segment continues where the fold stands (a segment that does not — it was sealed before
/// the fold could follow — is indexed only, and checkpoints stop until the next restart).
/// Returns the segment's last seq, and the fold to keep.
fn seal(
    segment: &Segment,
    index: &TrailIndex,
    shadow: Option<Shadow>,
) -> (Result<u64, crate::audit::AuditError>, Option<Shadow>) {
    let file = index.layout().index(segment.first_seq);
    let Some(mut shadow) = shadow.filter(|s| s.start.next_seq == segment.first_seq) else {
        let built = SegmentIndex::build(segment, &file).map(|ix| {
            let last = ix.last_seq;
            index.install(ix);
            last
        });
        return (built, None);
    };
    let start = shadow.start.clone();
    let mut prev = start.prev.clone();
    let built = {
        let Shadow {
            coordinator,
            watch,
            restored,
            ..
        } = &mut shadow;
        let mut rebuild = Rebuild {
            coordinator,
            watch,
            now: Timestamp::from_datetime(chrono::Utc::now()),
            indexed_through: 0,
            read: 0,
            bytes: 0,
            restored,
        };
        SegmentIndex::build_visiting(segment, &file, Some(&start), |r, at| {
            prev = r.hash.clone();
            rebuild.read(r, at);
        })
    };
    match built {
        Ok(ix) => {
            let last = ix.last_seq;
            index.install(ix);
            shadow.coordinator.ledger.indexed(last);
            shadow.start = Start {
                next_seq: last + 1,
                prev,
            };
            if let Err(e) = shadow.checkpoint().write(index.layout()) {
                tracing::warn!("checkpoint not written: {e}");
            }
            (Ok(last), Some(shadow))
        }
        // The fold took in part of a segment that failed: it cannot go on from here.
        Err(e) => (Err(e), None),
    }
}
