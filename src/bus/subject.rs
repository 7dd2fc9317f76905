//! Subject names of spec section 4, and reading the tokens back. Every subject the service
//! publishes or listens on is spelled here and nowhere else.

use crate::contract::Domain;

/// Where each agent publishes its proposals: `arbiter.proposals.<domain>.<agent>`.
pub const PROPOSALS: &str = "arbiter.proposals.>";
/// What every proposals subject starts with.
pub const PROPOSALS_PREFIX: &str = "arbiter.proposals.";
/// Where decisions go: `arbiter.decisions.<domain>.<agent>`.
pub const DECISIONS: &str = "arbiter.decisions.>";
/// Observations of each service: `arbiter.telemetry.<service>`.
pub const TELEMETRY: &str = "arbiter.telemetry.>";
/// What every telemetry subject starts with (the rest is the service).
pub const TELEMETRY_PREFIX: &str = "arbiter.telemetry.";
/// Outcomes of executed actions: `arbiter.outcomes.<domain>.<agent>`.
pub const OUTCOMES: &str = "arbiter.outcomes.>";
/// The audit trail, replicated (`arbiter serve --replica`): written by the leader alone.
pub const AUDIT: &str = "arbiter.audit";

pub fn proposals_subject(domain: Domain, agent: &str) -> String {
    proposals_subject_of(domain.as_str(), agent)
}

/// The proposals subject for tokens read from a payload (which may name no known domain).
pub fn proposals_subject_of(domain: &str, agent: &str) -> String {
    format!("{PROPOSALS_PREFIX}{domain}.{agent}")
}

pub fn decisions_subject(domain: &str, agent: &str) -> String {
    format!("arbiter.decisions.{domain}.{agent}")
}

/// What every control subject starts with (the rest is the agent).
pub const CONTROL_PREFIX: &str = "arbiter.control.";

/// Where an agent is sent commands (a rollback of its change, a request to add capacity):
/// `arbiter.control.<agent>`.
pub fn control_subject(agent: &str) -> String {
    format!("{CONTROL_PREFIX}{agent}")
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("subject `{0}` is not arbiter.proposals.<domain>.<agent>")]
pub struct SubjectError(pub String);

/// The `(domain, agent)` tokens of a proposals subject.
pub fn parse_proposal_subject(subject: &str) -> Result<(&str, &str), SubjectError> {
    let mut t = subject.split('.');
    match (t.next(), t.next(), t.next(), t.next(), t.next()) {
        (Some("arbiter"), Some("proposals"), Some(d), Some(a), None)
            if !d.is_empty() && !a.is_empty() =>
        {
            Ok((d, a))
        }
        _ => Err(SubjectError(subject.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip() {
        let s = proposals_subject(Domain::Cost, "cost-1");
        assert_eq!(parse_proposal_subject(&s), Ok(("cost", "cost-1")));
        assert!(parse_proposal_subject("arbiter.proposals.cost").is_err());
        assert!(parse_proposal_subject("arbiter.proposals.cost.a.b").is_err());
    }
}
