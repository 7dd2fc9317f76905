//! The service's state as the audit trail left it at a segment boundary, written beside
//! the segments as `<next seq>.state.json`: a restart reads the latest checkpoint and then
//! only the records after it, so it is ready in the time one segment takes to read, however
//! long the trail.
//!
//! A checkpoint is made by the same fold a restart runs ([`super::restore`]), begun from the
//! state a start rebuilt and carried on by the sealer over each record the service writes
//! ([`Shadow`]): the state it holds is by construction what reading the whole trail would
//! rebuild. It is accepted only where the chain continues from it (the first record read
//! after it names its `prev`); what it covers was checked as it was read at a start, or
//! chained by this very writer since.

use super::restore::Restored;
use crate::approval::Escalations;
use crate::audit::{Layout, Start, TrailIndex};
use crate::contract::Telemetry;
use crate::coordinator::rate_limit::AgentRates;
use crate::coordinator::{Controls, Coordinator, Tracked};
use crate::dashboard::{DecisionFeed, Figures};
use crate::rollback::RollbackWatch;
use crate::track::TrackRecords;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How many checkpoints are kept: the newest, and the one before in case the newest is
/// unreadable.
const KEEP: usize = 2;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The first record not folded in, and the hash it must follow.
    pub next_seq: u64,
    pub prev: String,
    controls: Controls,
    in_flight: Vec<Tracked>,
    /// Overspend granted by people; absent from checkpoints written before grants existed.
    #[serde(default)]
    grants: crate::grants::Grants,
    /// When each service was last asked for; absent from checkpoints written before.
    #[serde(default)]
    asked: crate::coordinator::asks::Asked,
    rates: AgentRates,
    watch: RollbackWatch,
    escalations: Escalations,
    tracks: TrackRecords,
    figures: Figures,
    feed: DecisionFeed,
    last_observed: Telemetry,
}

impl Checkpoint {
    /// The state folded so far, which continues at `start`.
    pub fn take(c: &Coordinator, watch: &RollbackWatch, r: &Restored, start: Start) -> Self {
        Checkpoint {
            next_seq: start.next_seq,
            prev: start.prev,
            controls: c.controls.clone(),
            in_flight: c.in_flight.clone(),
            grants: c.grants.clone(),
            asked: c.asked.clone(),
            rates: c.rates.clone(),
            watch: watch.clone(),
            escalations: r.escalations.clone(),
            tracks: r.tracks.clone(),
            figures: r.figures.clone(),
            feed: r.feed.clone(),
            last_observed: r.last_observed.clone(),
        }
    }

    pub fn start(&self) -> Start {
        Start {
            next_seq: self.next_seq,
            prev: self.prev.clone(),
        }
    }

    /// Puts the state into the service's parts. The watch keeps the period the service was
    /// started with; waiting escalations keep the deadline the intent now in force gives.
    pub fn install(self, c: &mut Coordinator, watch: &mut RollbackWatch, r: &mut Restored) {
        c.controls = self.controls;
        c.in_flight = self.in_flight;
        c.grants = self.grants;
        c.asked = self.asked;
        c.rates = self.rates;
        watch.take_watched(self.watch);
        let reader = std::mem::take(&mut r.escalations);
        r.escalations = self.escalations;
        r.escalations.keep_reader(reader);
        r.escalations.redate(|raised| c.escalation_deadline(raised));
        r.tracks = self.tracks;
        r.figures = self.figures;
        r.feed = self.feed;
        r.last_observed = self.last_observed;
    }

    /// Writes the checkpoint whole or not at all, and removes all but the newest [`KEEP`].
    pub fn write(&self, layout: &Layout) -> Result<(), crate::audit::AuditError> {
        Parts {
            next_seq: self.next_seq,
            prev: &self.prev,
            controls: &self.controls,
            in_flight: &self.in_flight,
            grants: &self.grants,
            asked: &self.asked,
            rates: &self.rates,
            watch: &self.watch,
            escalations: &self.escalations,
            tracks: &self.tracks,
            figures: &self.figures,
            feed: &self.feed,
            last_observed: &self.last_observed,
        }
        .write(layout)
    }

    /// The newest checkpoint that can be read, with what made the others unusable.
    pub fn latest(layout: &Layout) -> (Option<Checkpoint>, Vec<String>) {
        let mut skipped = Vec::new();
        let all = match layout.numbered("state.json") {
            Ok(all) => all,
            Err(e) => return (None, vec![e.to_string()]),
        };
        for (_, path) in all.iter().rev() {
            let read = std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Checkpoint>(&b).map_err(|e| e.to_string()));
            match read {
                Ok(cp) => return (Some(cp), skipped),
                Err(e) => skipped.push(format!("{}: {e}", path.display())),
            }
        }
        (None, skipped)
    }
}

/// A checkpoint as it is written: borrowed from the state it is taken of, and streamed to its
/// file, so writing one every segment costs neither a copy of the state nor its whole text in
/// memory (tens of megabytes at thousands of proposals a second).
#[derive(Serialize)]
struct Parts<'a> {
    next_seq: u64,
    prev: &'a str,
    controls: &'a Controls,
    in_flight: &'a [Tracked],
    grants: &'a crate::grants::Grants,
    asked: &'a crate::coordinator::asks::Asked,
    rates: &'a AgentRates,
    watch: &'a RollbackWatch,
    escalations: &'a Escalations,
    tracks: &'a TrackRecords,
    figures: &'a Figures,
    feed: &'a DecisionFeed,
    last_observed: &'a Telemetry,
}

impl Parts<'_> {
    fn write(&self, layout: &Layout) -> Result<(), crate::audit::AuditError> {
        crate::audit::write_atomically_with(&layout.checkpoint(self.next_seq), |w| {
            serde_json::to_writer(w, self).map_err(std::io::Error::other)
        })?;
        let all = layout.numbered("state.json")?;
        for (_, old) in all.iter().rev().skip(KEEP) {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }
}

/// The fold of the trail carried on past the start, record by record as they are written,
/// by the sealer: what each new checkpoint is taken from. It decides nothing; it only reads.
pub struct Shadow {
    pub coordinator: Coordinator,
    pub watch: RollbackWatch,
    pub restored: Restored,
    /// Where the next record must continue the chain.
    pub start: Start,
    /// Records folded, which paces the pruning of what has gone stale.
    pub folded: u64,
}

impl Shadow {
    /// A fold that continues from `cp` with the live service's graph, intents and roles.
    pub fn from_checkpoint(cp: Checkpoint, live: &Coordinator, index: Arc<TrailIndex>) -> Shadow {
        let mut coordinator =
            Coordinator::new(live.graph.clone(), live.intents.clone(), live.roles.clone());
        coordinator.settle_ms = live.settle_ms;
        coordinator.max_lifetime_ms = live.max_lifetime_ms;
        coordinator.ledger = crate::engine::Ledger::recalling(index.clone());
        let mut watch = cp.watch.clone();
        let mut restored = Restored {
            escalations: crate::approval::Escalations::default().reading(index.clone()),
            ..Restored::default()
        };
        let start = cp.start();
        cp.install(&mut coordinator, &mut watch, &mut restored);
        Shadow {
            coordinator,
            watch,
            restored,
            start,
            folded: 0,
        }
    }

    /// Writes the state the fold has reached as the checkpoint at its `start`.
    pub fn write(&self, layout: &Layout) -> Result<(), crate::audit::AuditError> {
        let (c, r) = (&self.coordinator, &self.restored);
        Parts {
            next_seq: self.start.next_seq,
            prev: &self.start.prev,
            controls: &c.controls,
            in_flight: &c.in_flight,
            grants: &c.grants,
            asked: &c.asked,
            rates: &c.rates,
            watch: &self.watch,
            escalations: &r.escalations,
            tracks: &r.tracks,
            figures: &r.figures,
            feed: &r.feed,
            last_observed: &r.last_observed,
        }
        .write(layout)
    }
}
