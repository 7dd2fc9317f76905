//! The arbiter's answer to one proposal (spec section 2).
//!
//! Beyond the spec's fields a decision may carry `recommendation` (what the arbiter advises the
//! human on an escalation) and `estimate` (the arbiter's own effect estimate beside the agent's
//! claim). Both are additive and omitted when empty, so a v1 reader that ignores unknown fields
//! is unaffected.

use super::{Action, Expected, ReasonCode, Recommendation, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub v: u32,
    pub proposal_id: String,
    pub agent: String,
    pub verdict: Verdict,
    /// The action to execute when it differs from the one proposed.
    pub action: Option<Action>,
    /// `agent/id` of the approved proposal this one was folded into.
    pub merged_into: Option<String>,
    pub reasons: Vec<Reason>,
    pub explanation: String,
    pub blast_radius: Option<BlastRadius>,
    pub intent: Option<IntentRef>,
    pub graph_version: Option<String>,
    pub decided_at: Timestamp,
    pub audit: Option<AuditRef>,
    /// On `escalated`: what the arbiter would decide if it could act alone (`approve`/`deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
    /// On `rejected`, `deferred` and `escalated`: until when the same action from the same
    /// agent gets the same answer (unless the intent, the graph or the target service's
    /// health, failing or overload changes). A resend before then, under any id, is answered
    /// at once with reason `asked_before`; an escalated one is `deferred` while a person has
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Timestamp>,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Merged,
    Rejected,
    Escalated,
    Deferred,
    Expired,
    Invalid,
    Unauthorized,
}

impl Verdict {
    pub const ALL: [Verdict; 8] = [
        Verdict::Approved,
        Verdict::Merged,
        Verdict::Rejected,
        Verdict::Escalated,
        Verdict::Deferred,
        Verdict::Expired,
        Verdict::Invalid,
        Verdict::Unauthorized,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Merged => "merged",
            Verdict::Rejected => "rejected",
            Verdict::Escalated => "escalated",
            Verdict::Deferred => "deferred",
            Verdict::Expired => "expired",
            Verdict::Invalid => "invalid",
            Verdict::Unauthorized => "unauthorized",
        }
    }
}

/// One machine-readable reason. `code` is stable; the other fields say which numbers, which
/// proposal and which intent clause decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub code: ReasonCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_clause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
}

impl Reason {
    pub fn new(code: ReasonCode) -> Self {
        Reason {
            code,
            service: None,
            field: None,
            detail: None,
            by: None,
            intent_clause: None,
            value: None,
            limit: None,
        }
    }
    pub fn service(mut self, s: &str) -> Self {
        self.service = Some(s.to_string());
        self
    }
    pub fn field(mut self, f: &str) -> Self {
        self.field = Some(f.to_string());
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    pub fn by(mut self, b: &str) -> Self {
        self.by = Some(b.to_string());
        self
    }
    pub fn clause(mut self, c: impl Into<String>) -> Self {
        self.intent_clause = Some(c.into());
        self
    }
    pub fn numbers(mut self, value: f64, limit: f64) -> Self {
        self.value = Some(round3(value));
        self.limit = Some(round3(limit));
        self
    }
}

/// Rounds for output so that decisions read well and stay stable across platforms.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The services a change can hurt and the share of entry traffic that flows through them.
/// `services` lists the target and its nearest callers, breadth-first, at most 32; the share
/// accounts for every caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlastRadius {
    /// Shared with the graph: listing a service costs no copy of its name.
    pub services: Vec<std::sync::Arc<str>>,
    pub entry_traffic_share: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentRef {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRef {
    pub seq: u64,
    pub hash: String,
    pub prev: String,
}

/// The arbiter's own estimate of the action's effect next to what the agent claimed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    pub arbiter: Expected,
    pub agent: Expected,
}

impl Decision {
    /// A decision with nothing said yet beyond who, which proposal, what and when: the
    /// engine fills in the rest per verdict.
    pub fn blank(
        proposal_id: String,
        agent: String,
        verdict: Verdict,
        decided_at: Timestamp,
    ) -> Decision {
        Decision {
            v: super::VERSION,
            proposal_id,
            agent,
            verdict,
            action: None,
            merged_into: None,
            reasons: Vec::new(),
            explanation: String::new(),
            blast_radius: None,
            intent: None,
            graph_version: None,
            decided_at,
            audit: None,
            recommendation: None,
            estimate: None,
            retry_after: None,
        }
    }

    /// A bare decision for unit tests of what is built on decisions.
    #[cfg(test)]
    pub(crate) fn sample(agent: &str, proposal_id: &str, verdict: Verdict) -> Decision {
        let at = Timestamp::parse("2026-11-27T10:00:00Z").expect("a valid time");
        Decision::blank(proposal_id.into(), agent.into(), verdict, at)
    }
}
