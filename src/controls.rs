//! Kill switches and the global freeze: who may pull which, and what is in force.
//!
//! A switch is a typed value from the request to the audit record and back: an action, a
//! target that names a known agent or domain, and who pulled it. Nothing is parsed out of
//! free text, so a target cannot smuggle in another target or another person's name, and a
//! restart reads back exactly what was in force.

use crate::approval::Approver;
pub use crate::contract::{Control, ControlAction};
use crate::contract::{Domain, ReasonCode, Verdict};
use crate::intent::Roles;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why a switch may not be pulled.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("unknown control action `{0}`; one of suspend_agent, resume_agent, suspend_domain, resume_domain, freeze, unfreeze")]
    UnknownAction(String),
    #[error("{action} needs a target: the name of {kind}")]
    MissingTarget {
        action: &'static str,
        kind: &'static str,
    },
    #[error("{action} takes no target; it applies to every domain")]
    UnexpectedTarget { action: &'static str },
    #[error("no agent named `{0}` has a role in agents.toml")]
    UnknownAgent(String),
    #[error("unknown domain `{0}`; one of cost, security, resilience, application")]
    UnknownDomain(String),
    #[error("{approver} may not {action} {what}: it needs the {missing} domain, and {approver} answers for {allowed}")]
    NotAllowed {
        approver: String,
        action: &'static str,
        what: String,
        missing: String,
        allowed: String,
    },
}

impl ControlError {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::NotAllowed { .. } => "domain_not_allowed",
            _ => "bad_control",
        }
    }
}

impl Control {
    /// Checks a person's request against the roles and the person's domains: a switch on an
    /// agent needs every domain the agent works in, one on a domain that domain, and the
    /// freeze every domain.
    pub fn authorize(
        roles: &Roles,
        approver: &Approver,
        action: &str,
        target: Option<&str>,
    ) -> Result<Control, ControlError> {
        let action = ControlAction::parse(action)
            .ok_or_else(|| ControlError::UnknownAction(action.into()))?;
        let target = target.filter(|t| !t.is_empty());
        let (needed, what): (Vec<Domain>, String) = match (action.target_kind(), target) {
            (Some(kind), None) => {
                return Err(ControlError::MissingTarget {
                    action: action.as_str(),
                    kind: if kind == "agent" {
                        "an agent"
                    } else {
                        "a domain"
                    },
                })
            }
            (None, Some(_)) => {
                return Err(ControlError::UnexpectedTarget {
                    action: action.as_str(),
                })
            }
            (None, None) => (Domain::ALL.to_vec(), "everything".into()),
            (Some("agent"), Some(t)) => {
                let role = roles
                    .agents
                    .get(t)
                    .ok_or_else(|| ControlError::UnknownAgent(t.into()))?;
                (role.domains.clone(), format!("agent {t}"))
            }
            (Some(_), Some(t)) => {
                let d = Domain::parse(t).ok_or_else(|| ControlError::UnknownDomain(t.into()))?;
                (vec![d], format!("the {t} domain"))
            }
        };
        let missing: Vec<&str> = needed
            .iter()
            .filter(|d| !approver.domains.contains(d))
            .map(|d| d.as_str())
            .collect();
        if !missing.is_empty() {
            let allowed: Vec<&str> = approver.domains.iter().map(|d| d.as_str()).collect();
            return Err(ControlError::NotAllowed {
                approver: approver.name.clone(),
                action: action.as_str(),
                what,
                missing: missing.join(", "),
                allowed: if allowed.is_empty() {
                    "no domain".into()
                } else {
                    allowed.join(", ")
                },
            });
        }
        Ok(Control {
            action,
            target: target.map(str::to_string),
            by: approver.name.clone(),
        })
    }
}

/// Kill switches and the global freeze in force.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Controls {
    pub suspended_agents: BTreeSet<String>,
    pub suspended_domains: BTreeSet<String>,
    pub frozen: bool,
}

impl Controls {
    /// Puts an authorised switch into force.
    pub fn apply(&mut self, c: &Control) {
        let target = c.target.clone().unwrap_or_default();
        match c.action {
            ControlAction::SuspendAgent => {
                self.suspended_agents.insert(target);
            }
            ControlAction::ResumeAgent => {
                self.suspended_agents.remove(&target);
            }
            ControlAction::SuspendDomain => {
                self.suspended_domains.insert(target);
            }
            ControlAction::ResumeDomain => {
                self.suspended_domains.remove(&target);
            }
            ControlAction::Freeze => self.frozen = true,
            ControlAction::Unfreeze => self.frozen = false,
        }
    }

    /// Why a proposal of this agent and domain may not proceed now, if it may not.
    pub(crate) fn blocks(
        &self,
        agent: &str,
        domain: &str,
    ) -> Option<(Verdict, crate::contract::ReasonCode, String)> {
        if self.suspended_agents.contains(agent) {
            Some((
                Verdict::Rejected,
                ReasonCode::AgentSuspended,
                format!("agent {agent} is suspended by its kill switch"),
            ))
        } else if self.suspended_domains.contains(domain) {
            Some((
                Verdict::Rejected,
                ReasonCode::DomainSuspended,
                format!("the {domain} domain is suspended by its kill switch"),
            ))
        } else if self.frozen {
            Some((
                Verdict::Deferred,
                ReasonCode::GlobalFreeze,
                "a global change freeze is in force; send it again after it is lifted".to_string(),
            ))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Roles {
        crate::intent::parse_roles(
            "agents.toml",
            r#"
[agents.cost-optimizer-1]
domains = ["cost"]
[agents.security-guard-1]
domains = ["security"]
"#,
        )
        .unwrap()
    }

    fn finops() -> Approver {
        Approver {
            name: "finops-lead".into(),
            domains: vec![Domain::Cost],
        }
    }

    #[test]
    fn a_switch_needs_the_domains_it_touches() {
        let r = roles();
        let c =
            Control::authorize(&r, &finops(), "suspend_agent", Some("cost-optimizer-1")).unwrap();
        assert_eq!(c.by, "finops-lead");
        let e = Control::authorize(&r, &finops(), "suspend_agent", Some("security-guard-1"));
        assert_eq!(e.unwrap_err().code(), "domain_not_allowed");
        let e = Control::authorize(&r, &finops(), "freeze", None).unwrap_err();
        assert!(e.to_string().contains("security"), "{e}");
        assert!(Control::authorize(&r, &finops(), "suspend_domain", Some("cost")).is_ok());
        let e = Control::authorize(&r, &finops(), "suspend_domain", Some("security"));
        assert_eq!(e.unwrap_err().code(), "domain_not_allowed");
    }

    #[test]
    fn targets_must_name_something_known() {
        let r = roles();
        for bad in [
            "cost-optimizer-1 (by someone-else)",
            "nobody",
            "a\nb",
            "x\0",
        ] {
            let e = Control::authorize(&r, &finops(), "suspend_agent", Some(bad)).unwrap_err();
            assert_eq!(e, ControlError::UnknownAgent(bad.into()));
        }
        assert!(matches!(
            Control::authorize(&r, &finops(), "suspend_agent", None),
            Err(ControlError::MissingTarget { .. })
        ));
        assert!(matches!(
            Control::authorize(&r, &finops(), "suspend_domain", Some("billing")),
            Err(ControlError::UnknownDomain(_))
        ));
        assert!(matches!(
            Control::authorize(&r, &finops(), "reboot", None),
            Err(ControlError::UnknownAction(_))
        ));
    }

    #[test]
    fn legacy_records_are_read_without_trusting_their_text() {
        let c = Control::from_legacy("suspend_agent", "cost-optimizer-1 (by finops-lead)").unwrap();
        assert_eq!(c.target.as_deref(), Some("cost-optimizer-1"));
        assert_eq!(c.by, "finops-lead");
        // A target that smuggled a name in is not applied at all.
        assert_eq!(
            Control::from_legacy(
                "suspend_agent",
                "cost-optimizer-1 (by someone-else) (by finops-lead)"
            ),
            None
        );
        assert_eq!(
            Control::from_legacy("freeze", " (by sre)").unwrap().target,
            None
        );
    }
}
