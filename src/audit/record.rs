//! One audit record and how its hash is computed.

use crate::contract::{AuditRef, Decision, Timestamp};
use crate::hash::sha256;
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
        proposal: serde_json::Value,
        knew: serde_json::Value,
        decision: Box<Decision>,
        /// The subject it arrived on, when it came over the bus.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// The observations the engine saw from here on (recorded when they changed), so the
    /// history can be decided again (`arbiter replay`).
    Observed {
        telemetry: crate::contract::Telemetry,
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
    /// Kill switches, freezes, intent reloads.
    Control { action: String, detail: String },
    /// The arbiter undid an approved change after an SLO breach (`escalated`: it asked a
    /// person first, and this records the person's go-ahead). `command` is what was sent on
    /// `arbiter.control.<agent>`, with the breach and when it was seen.
    Rollback {
        agent: String,
        proposal_id: String,
        command: serde_json::Value,
        escalated: bool,
    },
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

impl Record {
    /// The hash this record must carry: over `prev` and the record with `hash` empty and any
    /// decision's own `audit` reference removed (it is filled in from this hash).
    pub fn expected_hash(&self) -> String {
        let mut bare = self.clone();
        bare.hash = String::new();
        if let Event::Decision { decision, .. } = &mut bare.event {
            decision.audit = None;
        }
        let body = serde_json::to_string(&bare).expect("records serialise");
        sha256(format!("{}|{body}", self.prev).as_bytes())
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
    /// carry none: it is the record's own).
    pub fn decision(&self) -> Option<Decision> {
        match &self.event {
            Event::Decision { decision, .. } => {
                let mut d = (**decision).clone();
                d.audit = Some(self.reference());
                Some(d)
            }
            _ => None,
        }
    }

    /// The agent and proposal the record is about, if any.
    pub fn subject(&self) -> Option<(&str, &str)> {
        match &self.event {
            Event::Decision { decision, .. } => Some((&decision.agent, &decision.proposal_id)),
            Event::Approval {
                agent, proposal_id, ..
            }
            | Event::Outcome {
                agent, proposal_id, ..
            }
            | Event::Rollback {
                agent, proposal_id, ..
            } => Some((agent, proposal_id)),
            Event::Control { .. } | Event::Observed { .. } => None,
        }
    }
}
