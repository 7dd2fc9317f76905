//! A domain agent's proposed action (spec section 1).

use super::{Action, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// Contract version; only 1 is spoken.
    #[schemars(range(min = 1, max = 1))]
    pub v: u32,
    /// Unique per agent: the idempotency key.
    #[schemars(length(min = 1, max = 128))]
    pub id: String,
    /// A NATS subject token: letters, digits, '-' or '_'.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub agent: String,
    pub domain: Domain,
    pub action: Action,
    /// The agent's own estimate of the effect: a claim the arbiter records beside its own.
    #[serde(default)]
    pub expected: Expected,
    /// In [0, 1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
    pub reversible: bool,
    #[serde(default)]
    pub rationale: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    pub created_at: Timestamp,
    /// A proposal not decided by then is answered `expired`.
    pub expires_at: Timestamp,
}

impl Proposal {
    /// `agent/id`: how one proposal is named in reasons and `merged_into`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.agent, self.id)
    }

    /// How the service files this proposal (its ledger, index and escalations).
    pub fn filed_as(&self) -> super::ProposalKey {
        super::ProposalKey::of(&self.agent, &self.id)
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Cost,
    Security,
    Resilience,
    Application,
}

impl Domain {
    pub const ALL: [Domain; 4] = [
        Domain::Cost,
        Domain::Security,
        Domain::Resilience,
        Domain::Application,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Domain::Cost => "cost",
            Domain::Security => "security",
            Domain::Resilience => "resilience",
            Domain::Application => "application",
        }
    }

    pub fn parse(text: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// The effect an agent claims; every field optional because agents know different things.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_hour: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<f64>,
}

/// One observation the agent based its proposal on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub metric: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<u32>,
}
