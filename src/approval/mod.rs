//! Human approval of escalated proposals, before the action: who may answer, and what the
//! answer becomes.
//!
//! Approvers (`intents/approvers.toml`) authenticate with bearer tokens, stored only as their
//! SHA-256, and may answer for the domains they are given. Nobody answers for an agent they
//! operate (`operators` in agents.toml). An answer becomes the proposal's second, final
//! decision; an escalation nobody answers in time expires.

use crate::contract::{Decision, Domain, Proposal, Timestamp};
use crate::hash::sha256;
use crate::intent::IntentError;
use crate::source::find_line;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

mod waiting;

pub use waiting::{Escalations, ReadBack, Waiting};

#[derive(Clone, Debug, PartialEq)]
pub struct Approver {
    pub name: String,
    pub domains: Vec<Domain>,
}

#[derive(Clone, Debug, Default)]
pub struct Approvers {
    by_token_hash: HashMap<String, Approver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    approvers: BTreeMap<String, RawApprover>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprover {
    token_sha256: String,
    domains: Vec<String>,
}

/// The file of approvers inside an intents directory.
pub const APPROVERS_FILE: &str = "approvers.toml";

pub fn parse_approvers(file: &str, text: &str) -> Result<Approvers, Vec<IntentError>> {
    let raw: RawFile = crate::intent::read_toml(file, text)?;
    let mut errors = Vec::new();
    let mut by_token_hash = HashMap::new();
    for (name, a) in raw.approvers {
        let mut err = |field: &str, message: String| {
            errors.push(IntentError {
                at: find_line(file, text, &name),
                field: format!("approvers.{name}.{field}"),
                message,
            })
        };
        if !a.token_sha256.starts_with("sha256:") || a.token_sha256.len() != 71 {
            err(
                "token_sha256",
                "must be `sha256:` and 64 hex digits of the token's SHA-256".into(),
            );
        }
        let mut domains = Vec::new();
        for d in &a.domains {
            match Domain::parse(d) {
                Some(d) => domains.push(d),
                None => err("domains", format!("unknown domain `{d}`")),
            }
        }
        by_token_hash.insert(a.token_sha256, Approver { name, domains });
    }
    if errors.is_empty() {
        Ok(Approvers { by_token_hash })
    } else {
        Err(errors)
    }
}

impl Approvers {
    pub fn len(&self) -> usize {
        self.by_token_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token_hash.is_empty()
    }

    pub fn authenticate(&self, token: &str) -> Option<&Approver> {
        self.by_token_hash.get(&sha256(token.as_bytes()))
    }
}

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
}

impl ApprovalError {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            ApprovalError::NotPending(_) => "not_pending",
            ApprovalError::Domain { .. } => "domain_not_allowed",
            ApprovalError::OwnAgent { .. } => "own_agent",
        }
    }
}

/// Whether a decision closes an earlier escalation (a person's answer or the timeout) rather
/// than answering a proposal for the first time.
pub fn closes_escalation(d: &Decision) -> bool {
    d.reasons.first().is_some_and(|r| {
        matches!(
            r.code.as_str(),
            "human_approved" | "human_denied" | "escalation_timeout"
        )
    })
}
