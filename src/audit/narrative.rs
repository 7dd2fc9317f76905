//! The story of one proposal, for a person: who asked for what, what the arbiter knew, which
//! intent and constraints decided, who approved, what happened.

use super::record::{Event, Record};
use super::AuditError;
use std::fmt::Write;
use std::path::Path;

/// Every record about `proposal_id` (of any agent) in the trail whose head is `path`, told
/// in order. `None` if there is none. Sealed segments are read through their indexes where
/// they have one.
pub fn narrative(path: &Path, proposal_id: &str) -> Result<Option<String>, AuditError> {
    let records = super::TrailIndex::open(path)?.about(proposal_id)?;
    Ok(tell(&records, proposal_id))
}

/// The story the records about `proposal_id` tell (`None` if they are none).
pub fn tell(records: &[Record], proposal_id: &str) -> Option<String> {
    let mut out = String::new();
    for r in records {
        if r.subject().is_none_or(|(_, id)| id != proposal_id) {
            continue;
        }
        let _ = write!(out, "#{} {}  ", r.seq, r.at);
        match &r.event {
            Event::Decision {
                proposal,
                knew,
                decision,
                ..
            } => {
                let proposal = proposal.value();
                let _ = writeln!(
                    out,
                    "{} proposed (as {}):\n    {}",
                    decision.agent,
                    proposal["domain"].as_str().unwrap_or("?"),
                    proposal["action"]
                );
                if let Some(rationale) = proposal["rationale"].as_str().filter(|r| !r.is_empty()) {
                    let _ = writeln!(out, "    because: {rationale}");
                }
                let _ = writeln!(out, "  The arbiter knew: {knew}");
                if let Some(i) = &decision.intent {
                    let _ = writeln!(out, "  Intent in force: '{}' ({})", i.name, i.version);
                }
                if let Some(g) = &decision.graph_version {
                    let _ = writeln!(out, "  Service graph: {g}");
                }
                let codes: Vec<&str> = decision.reasons.iter().map(|r| r.code.as_str()).collect();
                let _ = writeln!(
                    out,
                    "  Verdict: {} [{}]",
                    decision.verdict.as_str(),
                    codes.join(", ")
                );
                let _ = writeln!(out, "  {}", decision.explanation);
            }
            Event::Approval {
                approver,
                approve,
                comment,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "{approver} {} it: {comment}",
                    if *approve { "approved" } else { "denied" }
                );
            }
            Event::Outcome {
                agent,
                status,
                observed,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "{agent} reported the outcome: {status}; observed {observed}"
                );
            }
            Event::Rollback {
                agent,
                command,
                escalated,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "rolled back{}: {}; sent to {agent}: {}",
                    if *escalated {
                        " after a person's approval"
                    } else {
                        " automatically"
                    },
                    command["reason"]["detail"].as_str().unwrap_or(""),
                    command["action"]
                );
            }
            Event::Request { agent, command } => {
                let _ = writeln!(
                    out,
                    "asked {agent} for {}: {}",
                    command["action"],
                    command["reason"]["detail"].as_str().unwrap_or("")
                );
            }
            Event::Observed { .. } | Event::Retention { .. } | Event::Leader { .. } => {}
            Event::Carried { decision, .. } => {
                let first = decision.audit.as_ref().map_or(0, |a| a.seq);
                let _ = writeln!(
                    out,
                    "still waiting for a person: written again so that retention could retire record {first}'s segment"
                );
            }
            Event::Control { action, detail } => {
                let _ = writeln!(out, "control: {action}: {detail}");
            }
            Event::KillSwitch(c) => {
                let target = c.target.as_deref().unwrap_or("everything");
                let _ = writeln!(
                    out,
                    "control: {}: {target} (by {})",
                    c.action.as_str(),
                    c.by
                );
            }
        }
    }
    (!out.is_empty()).then_some(out)
}
