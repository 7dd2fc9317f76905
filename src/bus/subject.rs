//! Subject names of spec section 4, and reading the tokens back.

use crate::contract::Domain;

pub fn proposals_subject(domain: Domain, agent: &str) -> String {
    format!("arbiter.proposals.{}.{agent}", domain.as_str())
}

pub fn decisions_subject(domain: &str, agent: &str) -> String {
    format!("arbiter.decisions.{domain}.{agent}")
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
