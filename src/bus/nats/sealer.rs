//! What happens to a segment once the audit trail has sealed it, off the decision loop:
//! it is indexed, and the ledger lets go of the decisions the index now answers for.

use super::shared::Shared;
use crate::audit::{Segment, SegmentIndex, TrailIndex};
use crate::health::Backoff;
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex};

/// Indexes sealed segments in the order they were sealed, for as long as the service runs.
/// A segment that cannot be indexed now (a full disk) is tried again with backoff; until
/// then the ledger keeps its decisions in memory, so nothing is forgotten.
pub async fn run(
    mut sealed: mpsc::UnboundedReceiver<Segment>,
    index: Arc<TrailIndex>,
    state: Arc<Mutex<Shared>>,
) {
    while let Some(segment) = sealed.recv().await {
        let mut backoff = Backoff::default();
        let ix = loop {
            let file = index.layout().index(segment.first_seq);
            let s = segment.clone();
            match tokio::task::spawn_blocking(move || SegmentIndex::build(&s, &file)).await {
                Ok(Ok(ix)) => break ix,
                Ok(Err(e)) => tracing::warn!("audit segment not indexed yet: {e}"),
                Err(e) => tracing::warn!("audit segment not indexed yet: {e}"),
            }
            tokio::time::sleep(backoff.delay()).await;
        };
        let last_seq = ix.last_seq;
        let size = {
            index.install(ix);
            index.size()
        };
        metrics::gauge!("arbiter_audit_indexed_segments").set(size.segments as f64);
        metrics::gauge!("arbiter_audit_index_filter_bytes").set(size.filter_bytes as f64);
        state.lock().await.coordinator.ledger.indexed(last_seq);
    }
}
