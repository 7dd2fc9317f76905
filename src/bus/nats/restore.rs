//! What a restarted arbiter rebuilds from its audit trail: the decisions already given, the
//! escalations still waiting for a person, kill switches and freezes in force, the changes
//! in flight and under watch, agents' track records and the observations last recorded.

use super::NatsError;
use crate::approval::{Escalations, Pending};
use crate::audit::{AuditLog, Event, Record};
use crate::contract::{AuditRef, Verdict};
use crate::coordinator::{Controls, Coordinator};
use crate::engine::Ledger;
use crate::rollback::RollbackWatch;
use crate::track::TrackRecords;

/// What [`restore`] returns beside what it puts into the coordinator and the watch.
#[derive(Default)]
pub struct Restored {
    pub log: Option<AuditLog>,
    pub escalations: Escalations,
    pub tracks: TrackRecords,
    pub last_observed: crate::contract::Telemetry,
}

/// Opens the audit trail (cutting a torn last line, refusing a broken chain) and rebuilds
/// the service's state from it.
pub fn restore(
    path: &std::path::Path,
    coordinator: &mut Coordinator,
    watch: &mut RollbackWatch,
) -> Result<Restored, NatsError> {
    let log = AuditLog::open(path)?;
    let records = crate::audit::records(path)?;
    seed_ledger(&records, &mut coordinator.ledger);
    coordinator.controls = controls_in(&records);
    watched_changes(&records, watch);
    let now = crate::contract::Timestamp::from_datetime(chrono::Utc::now());
    in_flight_from(&records, coordinator, now);
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
        escalations: waiting_escalations(&records, coordinator),
        tracks: TrackRecords::from_records(&records),
        last_observed,
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
fn waiting_escalations(records: &[Record], coordinator: &Coordinator) -> Escalations {
    let mut e = Escalations::default();
    for r in records {
        let Event::Decision {
            proposal, decision, ..
        } = &r.event
        else {
            continue;
        };
        let key = format!("{}/{}", decision.agent, decision.proposal_id);
        if decision.verdict != Verdict::Escalated {
            e.pending.remove(&key);
            continue;
        }
        let Ok(p) = crate::contract::parse_proposal(proposal.to_string().as_bytes()) else {
            continue;
        };
        let timeout = coordinator.escalation_timeout_s(decision.decided_at);
        let mut d = (**decision).clone();
        d.audit = Some(AuditRef {
            seq: r.seq,
            hash: r.hash.clone(),
            prev: r.prev.clone(),
        });
        e.pending.insert(
            key,
            Pending {
                proposal: p,
                decision: d,
                deadline: decision.decided_at.plus_millis(timeout as i64 * 1000),
            },
        );
    }
    e
}

/// Remembers every decision of an audit trail, each for as long as its proposal's lifetime
/// says (see [`Ledger`]); a decision whose proposal cannot be read back is kept for good.
fn seed_ledger(records: &[Record], ledger: &mut Ledger) {
    for r in records {
        let Event::Decision {
            proposal, decision, ..
        } = &r.event
        else {
            continue;
        };
        let mut d = (**decision).clone();
        d.audit = Some(AuditRef {
            seq: r.seq,
            hash: r.hash.clone(),
            prev: r.prev.clone(),
        });
        let expires = proposal
            .get("expires_at")
            .and_then(|v| v.as_str())
            .and_then(|t| crate::contract::Timestamp::parse(t).ok());
        match expires {
            Some(at) => ledger.record_until(&d, at),
            None => ledger.record(&d),
        }
    }
}

/// Approved changes of an audit trail still inside the watch period at `now`.
fn watched_changes(records: &[Record], watch: &mut RollbackWatch) {
    for r in records {
        if let Event::Decision {
            proposal, decision, ..
        } = &r.event
        {
            if decision.verdict == Verdict::Approved {
                if let Ok(p) = crate::contract::parse_proposal(proposal.to_string().as_bytes()) {
                    watch.approved(&p, decision.decided_at);
                }
            }
        }
    }
}

/// Approved changes of an audit trail still in flight: approved (by the arbiter or, after an
/// escalation, by a person) within the settle time before `now`, with no outcome reported.
fn in_flight_from(
    records: &[Record],
    coordinator: &mut Coordinator,
    now: crate::contract::Timestamp,
) {
    for r in records {
        match &r.event {
            Event::Decision {
                proposal, decision, ..
            } if decision.verdict == Verdict::Approved => {
                if let Ok(p) = crate::contract::parse_proposal(proposal.to_string().as_bytes()) {
                    let change = crate::engine::InFlight {
                        key: p.key(),
                        domain: p.domain,
                        action: p.action.clone(),
                    };
                    coordinator.approved_by_human(change, decision.decided_at);
                }
            }
            Event::Outcome {
                agent, proposal_id, ..
            } => {
                let key = format!("{agent}/{proposal_id}");
                coordinator.in_flight.retain(|t| t.change.key != key);
            }
            _ => {}
        }
    }
    coordinator.in_flight.retain(|t| t.until > now);
}
