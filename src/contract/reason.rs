//! The closed set of `reasons[].code` values and of `recommendation`s: enums, so the
//! published schema lists every value an agent may meet, and the code cannot send one that
//! is not listed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// Why a decision is what it is: stable, machine-readable.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        pub enum ReasonCode {
            $($(#[$doc])* #[serde(rename = $text)] $variant,)*
        }

        impl ReasonCode {
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ReasonCode::$variant => $text,)*
                }
            }

            pub fn parse(text: &str) -> Option<ReasonCode> {
                match text {
                    $($text => Some(ReasonCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    // The payload (verdict `invalid`).
    /// Not JSON, or not an object.
    MalformedJson = "malformed_json",
    MissingField = "missing_field",
    UnknownField = "unknown_field",
    BadType = "bad_type",
    BadValue = "bad_value",
    /// A number that is not finite (`1e309`, `NaN`).
    NotFinite = "not_finite",
    OutOfRange = "out_of_range",
    BadIdentifier = "bad_identifier",
    BadParameter = "bad_parameter",
    BadTimestamp = "bad_timestamp",
    UnknownVariant = "unknown_variant",
    UnsupportedVersion = "unsupported_version",
    TooLarge = "too_large",
    UnknownService = "unknown_service",
    // Who asks (verdict `unauthorized` or `rejected`).
    /// The subject's tokens name another agent or domain than the payload.
    SubjectMismatch = "subject_mismatch",
    UnknownAgent = "unknown_agent",
    DomainNotAllowed = "domain_not_allowed",
    KindNotAllowed = "kind_not_allowed",
    ServiceNotAllowed = "service_not_allowed",
    AgentSuspended = "agent_suspended",
    DomainSuspended = "domain_suspended",
    // Answered before the optimisation.
    Expired = "expired",
    NoIntentInForce = "no_intent_in_force",
    AutonomyObserve = "autonomy_observe",
    /// The domain's zone for the service's tier needs a person (`escalated`).
    AutonomyRecommend = "autonomy_recommend",
    AutonomyApprove = "autonomy_approve",
    /// The action cannot be undone and the intent sends such actions to a person.
    Irreversible = "irreversible",
    ChangeFreeze = "change_freeze",
    GlobalFreeze = "global_freeze",
    AgentRateLimit = "agent_rate_limit",
    /// The same action was answered recently; `retry_after` says until when.
    AskedBefore = "asked_before",
    /// The service is shedding load: too many proposals wait.
    Overloaded = "overloaded",
    // The optimisation.
    WithinIntent = "within_intent",
    Amended = "amended",
    Merged = "merged",
    MergedProposals = "merged_proposals",
    Outranked = "outranked",
    Conflict = "conflict",
    CapacityFloor = "capacity_floor",
    CapacityDip = "capacity_dip",
    SloHeadroom = "slo_headroom",
    Budget = "budget",
    BudgetSoft = "budget_soft",
    BudgetGranted = "budget_granted",
    OverspendAsked = "overspend_asked",
    BlastRadius = "blast_radius",
    ConcurrencyLimit = "concurrency_limit",
    ChangeInFlight = "change_in_flight",
    NotBeneficial = "not_beneficial",
    LowConfidence = "low_confidence",
    LoadUnknown = "load_unknown",
    RepairsHarm = "repairs_harm",
    /// Approved although it breaks a soft limit, for an objective ranked above it.
    AcceptedRiskCapacityFloor = "accepted_risk:capacity_floor",
    AcceptedRiskCapacityDip = "accepted_risk:capacity_dip",
    AcceptedRiskSloHeadroom = "accepted_risk:slo_headroom",
    SolverDeadline = "solver_deadline",
    SolverIncomplete = "solver_incomplete",
    SolverFallback = "solver_fallback",
    // After the first decision.
    HumanApproved = "human_approved",
    HumanDenied = "human_denied",
    EscalationTimeout = "escalation_timeout",
    SloBreach = "slo_breach",
    SloBreachRevert = "slo_breach_revert",
    CapacityShort = "capacity_short",
}

impl ReasonCode {
    /// The code a soft limit's reason gets when the change is approved in spite of it.
    pub fn accepted_risk(self) -> Option<ReasonCode> {
        match self {
            ReasonCode::CapacityFloor => Some(ReasonCode::AcceptedRiskCapacityFloor),
            ReasonCode::CapacityDip => Some(ReasonCode::AcceptedRiskCapacityDip),
            ReasonCode::SloHeadroom => Some(ReasonCode::AcceptedRiskSloHeadroom),
            _ => None,
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// On an escalation, what the arbiter would decide if it could act alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recommendation {
    Approve,
    Deny,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_written() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ReasonCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ReasonCode>(&json).unwrap(), *c);
            assert_eq!(ReasonCode::parse(c.as_str()), Some(*c));
        }
        assert!(serde_json::from_str::<ReasonCode>("\"no_such_code\"").is_err());
    }
}
