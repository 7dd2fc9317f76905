//! One audit record and how its hash is computed.

use crate::contract::{AuditRef, Decision, Timestamp};
use serde::{Deserialize, Serialize};

/// The `prev` of the first record.
pub const GENESIS: &str = "sha256:genesis";

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The arbiter decided a proposal. `proposal` is the payload as received (the evidence of
    /// who asked for what); `knew` is what the engine saw of the target service; the decision
    /// names the intent version, the graph version and the constraints that decided.
    Decision {
        proposal: super::Payload,
        knew: std::sync::Arc<serde_json::Value>,
        decision: Box<Decision>,
        /// The subject it arrived on, when it came over the bus.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// The observations the engine saw from here on, so the history can be decided again
    /// (`arbiter replay`), recorded when they changed: whole in the first such record of each
    /// segment the service writes, otherwise only the services whose observations changed
    /// (`changes`). On a graph of thousands of services, the whole snapshot on every window
    /// would be most of what the trail writes.
    Observed {
        telemetry: crate::contract::Telemetry,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        changes: bool,
    },
    /// A person answered an escalation.
    Approval {
        agent: String,
        proposal_id: String,
        approver: String,
        approve: bool,
        comment: String,
    },
    /// An agent reported what happened after executing.
    Outcome {
        agent: String,
        proposal_id: String,
        status: String,
        observed: serde_json::Value,
    },
    /// Intent reloads (and, in trails written by earlier versions, kill switches and
    /// freezes as free text).
    Control { action: String, detail: String },
    /// A person pulled a kill switch or set or lifted the global freeze.
    KillSwitch(crate::contract::Control),
    /// Whole sealed segments up to record `through_seq` were removed from the trail (moved
    /// to `archived_to`, or deleted) after they had been verified and checkpointed:
    /// `last_hash` is the hash of record `through_seq`, which the first record kept names as
    /// its `prev`. What lets `verify` tell a trail cut by its retention setting from one cut
    /// by someone else.
    Retention {
        through_seq: u64,
        last_hash: String,
        segments: Vec<u64>,
        bytes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        archived_to: Option<String>,
    },
    /// An escalation still waiting, written again at the head of the trail so that retention
    /// can retire the segment it was first recorded in: the proposal (as parsed) and the
    /// escalated decision, whose `audit` names that first record. Not a new decision: the
    /// escalation is read back from here until it is answered or expires.
    Carried {
        proposal: super::Payload,
        decision: Box<Decision>,
    },
    /// The arbiter undid an approved change after an SLO breach (`escalated`: it asked a
    /// person first, and this records the person's go-ahead). `command` is what was sent on
    /// `arbiter.control.<agent>`, with the breach and when it was seen.
    Rollback {
        agent: String,
        proposal_id: String,
        command: serde_json::Value,
        escalated: bool,
    },
    /// The arbiter asked `agent` to add capacity to a service short of what the intent plans
    /// for it (`asks.rs`); `command` is what was sent on `arbiter.control.<agent>`. The
    /// agent's proposal, if it sends one, is decided and recorded like any other.
    Request {
        agent: String,
        command: serde_json::Value,
    },
    /// Replica `replica` holds the leader's lease from here on and alone extends the trail
    /// (`arbiter serve --replica`). Written first by a new leader: a replica that lost the
    /// lease can no longer append after it, so it cannot publish what it decides.
    Leader { replica: String },
}

/// One line of the audit file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub seq: u64,
    pub at: Timestamp,
    pub prev: String,
    pub hash: String,
    pub event: Event,
}

impl Event {
    /// Brings `seen` to what an observations record says (the whole snapshot, or its
    /// changes); whether this is one.
    pub fn observe(&self, seen: &mut crate::contract::Telemetry) -> bool {
        match self {
            Event::Observed {
                telemetry,
                changes: true,
            } => seen.apply_changes(telemetry),
            Event::Observed { telemetry, .. } => *seen = telemetry.clone(),
            _ => return false,
        }
        true
    }
}

impl Record {
    /// The hash the record written as `line` (without its newline) must carry: over `prev`
    /// and the line as written with its `hash` emptied — the bytes the writer hashed, so any
    /// change to them, even one that reads the same, breaks the chain.
    pub fn expected_hash(&self, line: &str) -> String {
        const FIELD: &str = "\"hash\":\"";
        // `seq`, `at` and `prev` come first and cannot hold the field's text.
        let bare = match line.find(FIELD) {
            Some(start) => {
                let value = start + FIELD.len();
                match line[value..].find('"') {
                    Some(len) => format!("{}{}", &line[..value], &line[value + len..]),
                    None => line.to_string(),
                }
            }
            None => line.to_string(),
        };
        crate::hash::sha256_parts(&[self.prev.as_bytes(), b"|", bare.as_bytes()])
    }

    /// This record's place in the chain, as decisions carry it.
    pub fn reference(&self) -> AuditRef {
        AuditRef {
            seq: self.seq,
            hash: self.hash.clone(),
            prev: self.prev.clone(),
        }
    }

    /// The decision a decision record holds, with its reference filled in (stored decisions
    /// carry none: it is the record's own); a carried escalation's, with the reference of
    /// the record it was first decided in.
    pub fn decision(&self) -> Option<Decision> {
        match &self.event {
            Event::Decision { decision, .. } => {
                let mut d = (**decision).clone();
                d.audit = Some(self.reference());
                Some(d)
            }
            Event::Carried { decision, .. } => Some((**decision).clone()),
            _ => None,
        }
    }

    /// The switch the record puts into force, if it is one: a `kill_switch` record, or a
    /// free-text one of an earlier version (see [`crate::contract::Control::from_legacy`]).
    pub fn control(&self) -> Option<crate::contract::Control> {
        match &self.event {
            Event::KillSwitch(c) => Some(c.clone()),
            Event::Control { action, detail } => {
                crate::contract::Control::from_legacy(action, detail)
            }
            _ => None,
        }
    }

    /// The agent and proposal the record is about, if any.
    pub fn subject(&self) -> Option<(&str, &str)> {
        match &self.event {
            Event::Decision { decision, .. } | Event::Carried { decision, .. } => {
                Some((&decision.agent, &decision.proposal_id))
            }
            Event::Approval {
                agent, proposal_id, ..
            }
            | Event::Outcome {
                agent, proposal_id, ..
            }
            | Event::Rollback {
                agent, proposal_id, ..
            } => Some((agent, proposal_id)),
            Event::Control { .. }
            | Event::KillSwitch(_)
            | Event::Observed { .. }
            | Event::Retention { .. }
            | Event::Request { .. }
            | Event::Leader { .. } => None,
        }
    }
}
