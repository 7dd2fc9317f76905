//! A person's kill switch or freeze as it travels: from the API request, through the audit
//! record, back into force at restart. A typed value, so nothing is read out of free text.

use serde::{Deserialize, Serialize};

/// What a person can do to the flow of automated changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ControlAction {
    SuspendAgent,
    ResumeAgent,
    SuspendDomain,
    ResumeDomain,
    Freeze,
    Unfreeze,
}

impl ControlAction {
    pub const ALL: [ControlAction; 6] = [
        ControlAction::SuspendAgent,
        ControlAction::ResumeAgent,
        ControlAction::SuspendDomain,
        ControlAction::ResumeDomain,
        ControlAction::Freeze,
        ControlAction::Unfreeze,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ControlAction::SuspendAgent => "suspend_agent",
            ControlAction::ResumeAgent => "resume_agent",
            ControlAction::SuspendDomain => "suspend_domain",
            ControlAction::ResumeDomain => "resume_domain",
            ControlAction::Freeze => "freeze",
            ControlAction::Unfreeze => "unfreeze",
        }
    }

    pub fn parse(text: &str) -> Option<ControlAction> {
        ControlAction::ALL.into_iter().find(|a| a.as_str() == text)
    }

    pub fn target_kind(self) -> Option<&'static str> {
        match self {
            ControlAction::SuspendAgent | ControlAction::ResumeAgent => Some("agent"),
            ControlAction::SuspendDomain | ControlAction::ResumeDomain => Some("domain"),
            ControlAction::Freeze | ControlAction::Unfreeze => None,
        }
    }
}

/// A switch pulled: what, on whom, by whom. The audit record adds when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub action: ControlAction,
    /// The agent or domain; `None` for the freeze, which applies to everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub by: String,
}

impl Control {
    /// A control action written by an earlier version as free text (`"<target> (by <who>)"`).
    /// Only a target that could be a name is taken; anything else is not applied.
    pub fn from_legacy(action: &str, detail: &str) -> Option<Control> {
        let action = ControlAction::parse(action)?;
        let (target, by) = detail.rsplit_once(" (by ")?;
        let by = by.strip_suffix(')')?;
        let target = match action.target_kind() {
            None => None,
            Some(_) if super::is_service_name_pub(target) => Some(target.to_string()),
            Some(_) => return None,
        };
        Some(Control {
            action,
            target,
            by: by.to_string(),
        })
    }
}
