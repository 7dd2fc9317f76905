//! What a standby's API reads: its fold, published as a leader publishes its state, after
//! each stretch of trail it reads. A person may watch the dashboard of any replica; only the
//! leader takes changes (`writes::Standby` refuses them, naming the leader).

use super::fold::Folded;
use crate::approval::Approvers;
use crate::snapshot::{Publisher, Reader, Setup, Snapshot};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often at most a standby copies its fold for the API: the feed is copied whole.
const EVERY: Duration = Duration::from_secs(1);

pub struct View {
    publisher: Publisher,
    setup: Arc<Setup>,
    /// The trail's next seq when last published.
    published_to: u64,
    at: Instant,
    pub telemetry: Arc<Mutex<crate::contract::Telemetry>>,
}

impl View {
    pub fn new(folded: &Folded, approvers: &Approvers) -> (View, Reader) {
        let setup = Arc::new(Setup::of(approvers, &folded.coordinator));
        let (publisher, reader) = crate::snapshot::channel(
            snapshot(folded, setup.clone()),
            folded.restored.feed.clone(),
            folded.restored.escalations.clone(),
        );
        let view = View {
            publisher,
            setup,
            published_to: next_seq(folded),
            at: Instant::now(),
            telemetry: Arc::new(Mutex::new(folded.restored.last_observed.clone())),
        };
        folded.restored.figures.gauge_trail();
        (view, reader)
    }

    /// Publishes the fold if it has moved on and the last copy is old enough.
    pub fn refresh(&mut self, folded: &Folded) {
        let to = next_seq(folded);
        if to == self.published_to || self.at.elapsed() < EVERY {
            return;
        }
        self.publisher
            .replace(&folded.restored.feed, &folded.restored.escalations);
        *self.telemetry.lock().unwrap_or_else(|p| p.into_inner()) =
            folded.restored.last_observed.clone();
        self.publisher.publish(snapshot(folded, self.setup.clone()));
        folded.restored.figures.gauge_trail();
        self.published_to = to;
        self.at = Instant::now();
    }
}

fn next_seq(folded: &Folded) -> u64 {
    folded
        .restored
        .log
        .as_ref()
        .map_or(0, |l| l.position().next_seq)
}

fn snapshot(folded: &Folded, setup: Arc<Setup>) -> Snapshot {
    Snapshot::of(
        setup,
        &folded.coordinator,
        (&folded.restored.figures, &folded.restored.tracks),
        folded.restored.escalations.len(),
        None,
    )
}
