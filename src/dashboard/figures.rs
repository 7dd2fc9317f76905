//! The headline figures operators ask of a coordinator: policy adherence (allowed, blocked,
//! escalated, by domain), escalation rate and time to rollback. Counted over the whole audit
//! trail — rebuilt from it on start, then kept up as decisions are given — so a restart does
//! not reset them.

use crate::audit::{Event, Record};
use crate::contract::{Decision, Timestamp, Verdict};
use std::collections::BTreeMap;

/// How the arbiter's first answers to proposals split.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Adherence {
    /// Approved or merged.
    pub allowed: u64,
    /// Rejected, deferred, expired, invalid or unauthorized.
    pub blocked: u64,
    /// Put to a person.
    pub escalated: u64,
}

impl Adherence {
    pub fn count(&mut self, v: Verdict) {
        match v {
            Verdict::Approved | Verdict::Merged => self.allowed += 1,
            Verdict::Escalated => self.escalated += 1,
            _ => self.blocked += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.allowed + self.blocked + self.escalated
    }
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    pub overall: Adherence,
    pub by_domain: BTreeMap<String, Adherence>,
    /// People's (or the timeout's) answers to escalations.
    pub answered: u64,
    pub rollbacks: u64,
    /// Seconds from breach to rollback command, summed over `rollbacks`.
    pub rollback_seconds: f64,
    /// Requests for capacity sent to agents (`asks.rs`); absent from earlier checkpoints.
    #[serde(default)]
    pub capacity_requests: u64,
}

impl Figures {
    /// Sets the `/metrics` gauge of what the whole trail holds, however many processes wrote
    /// it: unlike the counters, which start again at zero in each process, it agrees with
    /// `/api/summary` on every replica.
    pub fn gauge_trail(&self) {
        for (outcome, n) in [
            ("allowed", self.overall.allowed),
            ("blocked", self.overall.blocked),
            ("escalated", self.overall.escalated),
        ] {
            metrics::gauge!("arbiter_trail_decisions", "outcome" => outcome).set(n as f64);
        }
    }

    /// A decision given for a proposal in `domain`. A person's later answer to an escalation
    /// is not a new proposal's: it does not change adherence.
    pub fn decided(&mut self, domain: &str, d: &Decision) {
        if crate::approval::closes_escalation(d) {
            self.answered += 1;
            return;
        }
        self.overall.count(d.verdict);
        let domain = if domain.is_empty() { "unknown" } else { domain };
        if !self.by_domain.contains_key(domain) {
            self.by_domain
                .insert(domain.to_string(), Adherence::default());
        }
        if let Some(a) = self.by_domain.get_mut(domain) {
            a.count(d.verdict);
        }
    }

    pub fn rolled_back(&mut self, seconds_after_breach: f64) {
        self.rollbacks += 1;
        self.rollback_seconds += seconds_after_breach.max(0.0);
    }

    /// Counts a rollback or a request for capacity an audit record tells of (decisions are
    /// counted by the reader, which knows their domain, with [`Figures::decided`]).
    pub fn read_command(&mut self, r: &Record) {
        self.count_command(&r.at, &r.event)
    }

    /// Counts a rollback or a request for capacity recorded `at`, as it is written or read
    /// back.
    pub fn count_command(&mut self, at: &Timestamp, event: &Event) {
        match event {
            Event::Rollback { command, .. } => {
                let breach = serde_json::from_value::<Timestamp>(command["breach_at"].clone());
                if let Ok(breach) = breach {
                    self.rolled_back(breach.millis_until(at) as f64 / 1000.0);
                }
            }
            Event::Request { .. } => self.capacity_requests += 1,
            _ => {}
        }
    }

    /// Escalated among first answers; `None` before any.
    pub fn escalation_rate(&self) -> Option<f64> {
        let total = self.overall.total();
        (total > 0).then(|| self.overall.escalated as f64 / total as f64)
    }

    pub fn mean_time_to_rollback_s(&self) -> Option<f64> {
        (self.rollbacks > 0).then(|| self.rollback_seconds / self.rollbacks as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Reason;

    fn decision(verdict: Verdict, first_reason: &str) -> Decision {
        Decision {
            reasons: vec![Reason::new(
                crate::contract::ReasonCode::parse(first_reason).expect("a code"),
            )],
            ..Decision::sample("a", "p", verdict)
        }
    }

    #[test]
    fn an_answered_escalation_counts_once_as_escalated() {
        let mut f = Figures::default();
        f.decided("cost", &decision(Verdict::Approved, "within_intent"));
        f.decided("cost", &decision(Verdict::Rejected, "capacity_floor"));
        f.decided(
            "security",
            &decision(Verdict::Escalated, "autonomy_approve"),
        );
        f.decided("security", &decision(Verdict::Approved, "human_approved"));
        assert_eq!(
            f.overall,
            Adherence {
                allowed: 1,
                blocked: 1,
                escalated: 1
            }
        );
        assert_eq!(f.by_domain["security"].escalated, 1);
        assert_eq!(f.answered, 1);
        assert_eq!(f.escalation_rate(), Some(1.0 / 3.0));
        assert_eq!(f.mean_time_to_rollback_s(), None);
        f.rolled_back(4.0);
        f.rolled_back(2.0);
        assert_eq!(f.mean_time_to_rollback_s(), Some(3.0));
    }
}
