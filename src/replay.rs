//! What-if for intent authors: the recorded history decided again under other intents, and
//! every verdict that would change.
//!
//! The audit trail holds what the engine had: each proposal as it arrived and on which
//! subject, the observations in force (recorded whenever they changed), kill switches and
//! freezes, people's approvals and agents' outcomes. Replay walks it in order with a fresh
//! coordinator, deciding each recorded window (the decisions made at one instant) at its
//! recorded time. Changes in flight are the replay's own: a change the new intents would
//! have refused does not block the proposals after it. Final answers to escalations and the
//! arbiter's own rollback escalations are not proposals, and are not decided again.

use crate::audit::{Event, Record};
use crate::bus::Message;
use crate::contract::{Decision, Telemetry, Timestamp, Verdict};
use crate::coordinator::Coordinator;
use crate::engine::InFlight;
use crate::graph::ServiceGraph;
use crate::intent::{IntentSet, Roles};
use crate::world::World;
use std::collections::HashMap;

/// A verdict that would change.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Change {
    pub agent: String,
    pub proposal_id: String,
    pub decided_at: Timestamp,
    pub recorded: Verdict,
    pub replayed: Verdict,
    /// The reason codes of the replayed decision.
    pub codes: Vec<String>,
    pub explanation: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// Decisions decided again.
    pub decisions: usize,
    pub changes: Vec<Change>,
    /// Graph versions the history was decided on that differ from the replay's graph.
    pub other_graphs: Vec<String>,
}

/// Whether a recorded decision answered a proposal (rather than closing an escalation, or
/// being the arbiter's own rollback escalation).
fn answers_a_proposal(d: &Decision) -> bool {
    !crate::approval::closes_escalation(d)
        && !d.proposal_id.ends_with(crate::rollback::ROLLBACK_SUFFIX)
}

/// The recorded proposal as bytes and the subject it came on (for a history recorded off
/// the bus, the subject its payload names).
fn as_message(proposal: &crate::audit::Payload, subject: &Option<String>) -> Message {
    let subject = subject.clone().unwrap_or_else(|| {
        let v = proposal.value();
        let token = |k: &str| {
            v.get(k)
                .and_then(|t| t.as_str())
                .unwrap_or("unknown")
                .to_string()
        };
        crate::bus::proposals_subject_of(&token("domain"), &token("agent"))
    });
    Message {
        subject,
        payload: proposal.bytes(),
    }
}

/// Replays a history one record at a time, so a trail of any length is replayed in the
/// memory of one window (`audit::for_each` feeds it from a file); `finish` says what would
/// change.
pub struct Replayer {
    c: Coordinator,
    graph_version: String,
    telemetry: Telemetry,
    /// The replay's own escalations, for people's approvals to apply to, with their reasons
    /// (an overspend asked is granted on approval).
    escalated: HashMap<String, (InFlight, Vec<crate::contract::Reason>)>,
    /// The recorded window being gathered: decisions made at one instant, in order.
    window: Vec<(Message, Decision)>,
    out: Replay,
}

impl Replayer {
    pub fn new(graph: ServiceGraph, intents: IntentSet, roles: Roles) -> Replayer {
        Replayer {
            graph_version: graph.version().to_string(),
            c: Coordinator::new(graph, intents, roles),
            telemetry: Telemetry::default(),
            escalated: HashMap::new(),
            window: Vec::new(),
            out: Replay::default(),
        }
    }

    pub fn read(&mut self, r: &Record) {
        if let Event::Decision {
            proposal,
            decision,
            subject,
            ..
        } = &r.event
        {
            if answers_a_proposal(decision) {
                if self
                    .window
                    .first()
                    .is_some_and(|(_, d)| d.decided_at != decision.decided_at)
                {
                    self.decide_window();
                }
                self.window
                    .push((as_message(proposal, subject), (**decision).clone()));
                return;
            }
        }
        // Anything else closes the window being gathered before it takes effect.
        self.decide_window();
        let c = &mut self.c;
        match &r.event {
            Event::Observed { .. } => {
                r.event.observe(&mut self.telemetry);
            }
            Event::KillSwitch(_) | Event::Control { .. } => {
                if let Some(s) = r.control() {
                    c.controls.apply(&s)
                }
            }
            Event::Outcome {
                agent, proposal_id, ..
            } => c.outcome_reported(agent, proposal_id),
            Event::Approval {
                agent,
                proposal_id,
                approve: true,
                ..
            } => {
                if let Some((change, reasons)) =
                    self.escalated.remove(&format!("{agent}/{proposal_id}"))
                {
                    c.approved_by_human(change, &reasons, r.at);
                }
            }
            _ => {}
        }
    }

    pub fn finish(mut self) -> Replay {
        self.decide_window();
        self.out
    }

    fn decide_window(&mut self) {
        let Some((_, first)) = self.window.first() else {
            return;
        };
        let at = first.decided_at;
        let window = std::mem::take(&mut self.window);
        decide_again(
            &mut self.c,
            &self.telemetry,
            at,
            &window,
            &mut self.escalated,
            &mut self.out,
        );
        for (_, d) in &window {
            if let Some(v) = d
                .graph_version
                .as_ref()
                .filter(|v| **v != self.graph_version)
            {
                if !self.out.other_graphs.contains(v) {
                    self.out.other_graphs.push(v.clone());
                }
            }
        }
    }
}

fn decide_again(
    c: &mut Coordinator,
    telemetry: &Telemetry,
    at: Timestamp,
    window: &[(Message, Decision)],
    escalated: &mut HashMap<String, (InFlight, Vec<crate::contract::Reason>)>,
    out: &mut Replay,
) {
    let world = World::observed(&c.graph, telemetry).unwrap_or_else(|_| World::baseline(&c.graph));
    let inbox: Vec<Message> = window.iter().map(|(m, _)| m.clone()).collect();
    let subs: Vec<_> = inbox
        .iter()
        .map(|m| crate::contract::parse_proposal(&m.payload))
        .collect();
    let again = c.decide_parsed(at, &world, &inbox, &subs, None);
    for (((_, recorded), sub), answer) in window.iter().zip(&subs).zip(again) {
        let d = answer.decision;
        out.decisions += 1;
        if let (Verdict::Escalated, Ok(p)) = (d.verdict, sub) {
            escalated.insert(p.key(), (InFlight::of(p), d.reasons.clone()));
        }
        if d.verdict != recorded.verdict {
            out.changes.push(Change {
                agent: recorded.agent.clone(),
                proposal_id: recorded.proposal_id.clone(),
                decided_at: at,
                recorded: recorded.verdict,
                replayed: d.verdict,
                codes: d
                    .reasons
                    .iter()
                    .map(|r| r.code.as_str().to_string())
                    .collect(),
                explanation: d.explanation,
            });
        }
    }
}
