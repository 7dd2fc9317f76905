//! Human approval of escalated proposals, before the action: who may answer, and what the
//! answer becomes.
//!
//! Approvers (`intents/approvers.toml`) authenticate with bearer tokens, stored only as their
//! SHA-256, and may answer for the domains they are given. Nobody answers for an agent they
//! operate (`operators` in agents.toml). An answer becomes the proposal's second, final
//! decision; an escalation nobody answers in time expires.

use crate::contract::{Decision, Proposal, ReasonCode, Timestamp};

mod waiting;

pub use crate::intent::{Approver, Approvers};
pub use waiting::{Escalations, ReadBack, Waiting};

/// An escalated proposal waiting for a person.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub proposal: Proposal,
    pub decision: Decision,
    pub deadline: Timestamp,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("no escalation of {0} is waiting")]
    NotPending(String),
    #[error("{approver} may not answer for the {domain} domain")]
    Domain { approver: String, domain: String },
    #[error("{approver} operates {agent} and may not answer for its proposals")]
    OwnAgent { approver: String, agent: String },
    #[error("a comment may hold at most {MAX_COMMENT_BYTES} bytes; this one holds {0}")]
    CommentTooLong(usize),
}

/// The longest comment a person may give with an answer. The comment goes into the final
/// decision (its reason and its explanation) and into the audit record: unbounded, a long
/// one made a decision larger than the bus carries, and the service, which publishes every
/// final decision until the stream takes it, waited on it for good.
pub const MAX_COMMENT_BYTES: usize = 4096;

impl ApprovalError {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            ApprovalError::NotPending(_) => "not_pending",
            ApprovalError::Domain { .. } => "domain_not_allowed",
            ApprovalError::OwnAgent { .. } => "own_agent",
            ApprovalError::CommentTooLong(_) => "comment_too_long",
        }
    }
}

/// Whether a decision closes an earlier escalation (a person's answer or the timeout) rather
/// than answering a proposal for the first time.
pub fn closes_escalation(d: &Decision) -> bool {
    d.reasons.first().is_some_and(|r| {
        matches!(
            r.code,
            ReasonCode::HumanApproved | ReasonCode::HumanDenied | ReasonCode::EscalationTimeout
        )
    })
}
