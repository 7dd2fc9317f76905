//! What a restarted arbiter rebuilds from its audit trail: the decisions already given, the
//! escalations still waiting for a person, kill switches and freezes in force, the changes
//! in flight and under watch, agents' track records and the observations last recorded.

use super::NatsError;
use crate::approval::{Escalations, Pending};
use crate::audit::{AuditLog, Event, Record};
use crate::contract::{Decision, Proposal, Timestamp, Verdict};
use crate::coordinator::{Controls, Coordinator};
use crate::dashboard::{DecisionFeed, Figures};
use crate::engine::{InFlight, Ledger};
use crate::rollback::RollbackWatch;
use crate::track::TrackRecords;

/// What [`restore`] returns beside what it puts into the coordinator and the watch.
#[derive(Default)]
pub struct Restored {
    pub log: Option<AuditLog>,
    pub escalations: Escalations,
    pub tracks: TrackRecords,
    pub last_observed: crate::contract::Telemetry,
    pub feed: DecisionFeed,
    pub figures: Figures,
}

/// A recorded decision (with its reference) and its proposal, read back once.
struct Recorded {
    decision: Decision,
    proposal: Option<Proposal>,
}

/// Opens the audit trail (cutting a torn last line, refusing a broken chain) and rebuilds
/// the service's state from it, reading the file once.
pub fn restore(
    path: &std::path::Path,
    coordinator: &mut Coordinator,
    watch: &mut RollbackWatch,
) -> Result<Restored, NatsError> {
    let (log, records) = AuditLog::open_reading(path)?;
    let decided: Vec<Recorded> = records
        .iter()
        .filter_map(|r| {
            let Event::Decision { proposal, .. } = &r.event else {
                return None;
            };
            Some(Recorded {
                decision: r.decision()?,
                proposal: crate::contract::parse_proposal(proposal.to_string().as_bytes()).ok(),
            })
        })
        .collect();
    seed_ledger(&decided, &mut coordinator.ledger);
    coordinator.controls = controls_in(&records);
    for r in approved(&decided) {
        watch.approved(r.1, r.0.decided_at);
    }
    let now = Timestamp::from_datetime(chrono::Utc::now());
    in_flight_from(&records, &decided, coordinator, now);
    let last_observed = records
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::Observed { telemetry } => Some(telemetry.clone()),
            _ => None,
        })
        .unwrap_or_default();
    Ok(Restored {
        log: Some(log),
        escalations: waiting_escalations(&decided, coordinator),
        tracks: TrackRecords::from_records(&records),
        last_observed,
        feed: DecisionFeed::from_records(&records, crate::dashboard::feed::FEED_CAPACITY),
        figures: Figures::from_records(&records),
    })
}

/// Approved decisions whose proposals could be read back.
fn approved(decided: &[Recorded]) -> impl Iterator<Item = (&Decision, &Proposal)> {
    decided.iter().filter_map(|r| match &r.proposal {
        Some(p) if r.decision.verdict == Verdict::Approved => Some((&r.decision, p)),
        _ => None,
    })
}

/// Kill switches and freezes in force according to an audit trail.
fn controls_in(records: &[Record]) -> Controls {
    let mut c = Controls::default();
    for r in records {
        if let Event::Control { action, detail } = &r.event {
            let target = detail.split(" (by ").next().unwrap_or("");
            let _ = c.apply(action, target);
        }
    }
    c
}

/// Escalations still waiting in an audit trail: escalated and not yet answered or expired.
fn waiting_escalations(decided: &[Recorded], coordinator: &Coordinator) -> Escalations {
    let mut e = Escalations::default();
    for r in decided {
        let d = &r.decision;
        let key = format!("{}/{}", d.agent, d.proposal_id);
        if d.verdict != Verdict::Escalated {
            e.pending.remove(&key);
            continue;
        }
        let Some(p) = &r.proposal else {
            continue;
        };
        e.pending.insert(
            key,
            Pending {
                proposal: p.clone(),
                decision: d.clone(),
                deadline: coordinator.escalation_deadline(d.decided_at),
            },
        );
    }
    e
}

/// Remembers every decision of an audit trail, each for as long as its proposal's lifetime
/// says (see [`Ledger`]); a decision whose proposal cannot be read back is kept for good.
fn seed_ledger(decided: &[Recorded], ledger: &mut Ledger) {
    for r in decided {
        match &r.proposal {
            Some(p) => ledger.record_until(&r.decision, p.expires_at),
            None => ledger.record(&r.decision),
        }
    }
}

/// Approved changes of an audit trail still in flight: approved (by the arbiter or, after an
/// escalation, by a person) within the settle time before `now`, with no outcome reported.
fn in_flight_from(
    records: &[Record],
    decided: &[Recorded],
    coordinator: &mut Coordinator,
    now: Timestamp,
) {
    for (d, p) in approved(decided) {
        coordinator.approved_by_human(InFlight::of(p), d.decided_at);
    }
    for r in records {
        if let Event::Outcome {
            agent, proposal_id, ..
        } = &r.event
        {
            let key = format!("{agent}/{proposal_id}");
            coordinator.in_flight.retain(|t| t.change.key != key);
        }
    }
    coordinator.in_flight.retain(|t| t.until > now);
}
