//! Each agent's track record: what it proposed, what the arbiter and people made of it, and
//! how its approved changes turned out. Kept by the service as it goes and rebuilt from the
//! audit trail, so a restart forgets nothing.

use crate::audit::{Event, Record};
use crate::contract::{Decision, Verdict};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgentRecord {
    /// Proposals answered (a person's later answer to an escalation is not a new one).
    pub proposals: u64,
    pub approved: u64,
    pub merged: u64,
    pub rejected: u64,
    pub deferred: u64,
    pub escalated: u64,
    /// Invalid, unauthorized or expired.
    pub refused: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Changes the agent itself reported rolled back.
    pub rolled_back: u64,
    /// Changes the arbiter undid after an SLO breach.
    pub automatic_rollbacks: u64,
}

impl AgentRecord {
    /// Succeeded among reported outcomes.
    pub fn success_rate(&self) -> Option<f64> {
        let reported = self.succeeded + self.failed + self.rolled_back;
        (reported > 0).then(|| self.succeeded as f64 / reported as f64)
    }

    /// Rolled back (by the agent or the arbiter) among approved changes.
    pub fn rollback_rate(&self) -> Option<f64> {
        (self.approved > 0)
            .then(|| (self.rolled_back + self.automatic_rollbacks) as f64 / self.approved as f64)
    }
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackRecords {
    /// By agent name.
    pub agents: BTreeMap<String, AgentRecord>,
}

impl TrackRecords {
    pub fn decided(&mut self, d: &Decision) {
        let a = self.agent(&d.agent);
        if !crate::approval::closes_escalation(d) {
            a.proposals += 1;
        }
        match d.verdict {
            Verdict::Approved => a.approved += 1,
            Verdict::Merged => a.merged += 1,
            Verdict::Rejected => a.rejected += 1,
            Verdict::Deferred => a.deferred += 1,
            Verdict::Escalated => a.escalated += 1,
            Verdict::Invalid | Verdict::Unauthorized | Verdict::Expired => a.refused += 1,
        }
    }

    /// An outcome reported by `agent`: `succeeded`, `failed` or `rolled_back`.
    pub fn outcome(&mut self, agent: &str, status: &str) {
        let a = self.agent(agent);
        match status {
            "succeeded" => a.succeeded += 1,
            "failed" => a.failed += 1,
            "rolled_back" => a.rolled_back += 1,
            _ => {}
        }
    }

    pub fn rolled_back(&mut self, agent: &str) {
        self.agent(agent).automatic_rollbacks += 1;
    }

    /// The agent's record, created empty on first sight (without copying its name each time).
    fn agent(&mut self, name: &str) -> &mut AgentRecord {
        if !self.agents.contains_key(name) {
            self.agents.insert(name.to_string(), AgentRecord::default());
        }
        self.agents.get_mut(name).expect("just inserted")
    }

    /// Approved changes across agents, and how many of them failed or were rolled back (by
    /// their agent or by the arbiter): what "incidents per 1 000 actions" counts.
    pub fn incidents(&self) -> (u64, u64) {
        self.agents
            .values()
            .fold((0, 0), |(approved, incidents), r| {
                (
                    approved + r.approved,
                    incidents + r.failed + r.rolled_back + r.automatic_rollbacks,
                )
            })
    }

    /// Counts what one audit record tells of an agent.
    pub fn read(&mut self, r: &Record) {
        self.count(&r.event)
    }

    /// Counts what one event tells of an agent, as it is written or read back.
    pub fn count(&mut self, event: &Event) {
        match event {
            Event::Decision { decision, .. } => self.decided(decision),
            Event::Outcome { agent, status, .. } => self.outcome(agent, status),
            Event::Rollback { agent, .. } => self.rolled_back(agent),
            Event::Approval { .. }
            | Event::Control { .. }
            | Event::KillSwitch(_)
            | Event::Observed { .. }
            | Event::Retention { .. }
            | Event::Carried { .. }
            | Event::Request { .. }
            | Event::Leader { .. } => {}
        }
    }

    /// As JSON for the API: each agent's counts with its rates.
    pub fn to_json(&self) -> serde_json::Value {
        let agents: serde_json::Map<String, serde_json::Value> = self
            .agents
            .iter()
            .map(|(name, a)| {
                let mut v = serde_json::to_value(a).expect("records serialise");
                v["success_rate"] = serde_json::json!(a.success_rate());
                v["rollback_rate"] = serde_json::json!(a.rollback_rate());
                (name.clone(), v)
            })
            .collect();
        serde_json::Value::Object(agents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(agent: &str, verdict: Verdict, code: &str) -> Decision {
        let mut d: Decision = serde_json::from_value(serde_json::json!({
            "v": 1, "proposal_id": "p", "agent": agent, "verdict": verdict.as_str(),
            "action": null, "merged_into": null, "reasons": [{"code": code}],
            "explanation": "", "decided_at": "2026-11-27T10:00:00Z"
        }))
        .unwrap();
        d.audit = None;
        d
    }

    #[test]
    fn rates_count_outcomes_and_rollbacks_and_a_final_answer_is_not_a_new_proposal() {
        let mut t = TrackRecords::default();
        t.decided(&decision("a", Verdict::Approved, "within_intent"));
        t.decided(&decision("a", Verdict::Escalated, "autonomy_approve"));
        t.decided(&decision("a", Verdict::Approved, "human_approved"));
        t.decided(&decision("a", Verdict::Rejected, "outranked"));
        t.outcome("a", "succeeded");
        t.outcome("a", "rolled_back");
        t.rolled_back("a");
        let a = &t.agents["a"];
        assert_eq!(
            (a.proposals, a.approved, a.escalated, a.rejected),
            (3, 2, 1, 1)
        );
        assert_eq!(a.success_rate(), Some(0.5));
        assert_eq!(a.rollback_rate(), Some(1.0));
        let json = t.to_json();
        assert_eq!(json["a"]["rollback_rate"], 1.0);
    }
}
