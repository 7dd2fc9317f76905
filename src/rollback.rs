//! Automatic rollback: an approved change followed, within the watch period, by a breach of
//! an SLO its service is part of is undone.
//!
//! A service's p99 includes its callees', so a breach of the SLO of `frontend` implicates
//! changes on `frontend` and on everything it calls. The most recent implicated change is
//! undone first, one per breached SLO per cool-down: undoing it changes the latency the next
//! observation reports, and undoing every recent change on one bad reading would be a second
//! outage. Restarts and credential rotations leave nothing to undo and are not watched.

use crate::contract::{Action, Domain, Observation, Proposal, Timestamp};
use crate::graph::ServiceGraph;
use crate::intent::Intent;
use std::collections::HashMap;
use std::time::Duration;

/// After one rollback for a breached SLO, the next waits this long for the effect to show.
pub const COOLDOWN_MS: i64 = 60_000;

/// An approved change being watched.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Watched {
    pub agent: String,
    pub proposal_id: String,
    pub domain: Domain,
    pub action: Action,
    pub approved_at: Timestamp,
}

/// A change to undo, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollback {
    pub change: Watched,
    /// The action that undoes it, when the contract can express one; otherwise the agent is
    /// asked to revert its change.
    pub compensation: Option<Action>,
    pub slo_service: String,
    pub observed_p99_ms: f64,
    pub slo_p99_ms: f64,
    pub breach_at: Timestamp,
}

impl Rollback {
    /// The command sent on `arbiter.control.<agent>`.
    pub fn command(&self, issued_at: Timestamp) -> serde_json::Value {
        serde_json::json!({
            "v": 1,
            "command": "rollback",
            "agent": self.change.agent,
            "proposal_id": self.change.proposal_id,
            "action": self.compensation,
            "reason": {
                "code": "slo_breach",
                "service": self.slo_service,
                "field": "p99_ms",
                "value": self.observed_p99_ms,
                "limit": self.slo_p99_ms,
                "detail": format!(
                    "{} p99 {:.0} ms over its SLO of {:.0} ms after {} was approved",
                    self.slo_service, self.observed_p99_ms, self.slo_p99_ms, self.change.proposal_id
                ),
            },
            "breach_at": self.breach_at,
            "issued_at": issued_at,
        })
    }
}

/// The action that undoes `a`, if the contract can express it.
pub fn compensation(a: &Action) -> Option<Action> {
    match a {
        Action::Scale { service, replicas } => Some(Action::Scale {
            service: service.clone(),
            replicas: -replicas,
        }),
        Action::FeatureFlag {
            service,
            flag,
            enabled,
        } => Some(Action::FeatureFlag {
            service: service.clone(),
            flag: flag.clone(),
            enabled: !enabled,
        }),
        _ => None,
    }
}

/// Whether a change leaves something behind that could be undone.
fn persists(a: &Action) -> bool {
    !matches!(a, Action::Restart { .. } | Action::RotateCredentials { .. })
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RollbackWatch {
    watch_ms: i64,
    changes: Vec<Watched>,
    /// Per breached SLO service, when the next rollback for it may be issued.
    cooldown_until: HashMap<String, Timestamp>,
}

impl RollbackWatch {
    /// Takes over what `other` watches and its cooldowns, keeping this watch's period (a
    /// checkpoint's, read by a service started with another).
    pub fn take_watched(&mut self, other: RollbackWatch) {
        self.changes = other.changes;
        self.cooldown_until = other.cooldown_until;
    }

    pub fn new(watch: Duration) -> RollbackWatch {
        RollbackWatch {
            watch_ms: watch.as_millis() as i64,
            changes: Vec::new(),
            cooldown_until: HashMap::new(),
        }
    }

    /// Watches a change approved at `at` (by the arbiter or by a person).
    pub fn approved(&mut self, p: &Proposal, at: Timestamp) {
        let horizon = at.plus_millis(-self.watch_ms);
        self.changes.retain(|c| c.approved_at >= horizon);
        if persists(&p.action) && !p.id.ends_with(ROLLBACK_SUFFIX) && at >= horizon {
            self.changes.push(Watched {
                agent: p.agent.clone(),
                proposal_id: p.id.clone(),
                domain: p.domain,
                action: p.action.clone(),
                approved_at: at,
            });
        }
    }

    pub fn watching(&self) -> usize {
        self.changes.len()
    }

    /// Looks at an observation of `service` taken at `at`: when it breaches the service's
    /// SLO in `intent`, the most recent change still watched on the service or below it is
    /// taken off the watch list and returned to be undone.
    pub fn observed(
        &mut self,
        graph: &ServiceGraph,
        intent: Option<&Intent>,
        service: &str,
        obs: &Observation,
        at: Timestamp,
    ) -> Option<Rollback> {
        let horizon = at.plus_millis(-self.watch_ms);
        self.changes.retain(|c| c.approved_at >= horizon);
        let slo = intent?.slos.iter().find(|s| s.service == service)?;
        let p99 = obs.p99_ms?;
        if p99 <= slo.p99_latency_ms {
            return None;
        }
        if self.cooldown_until.get(service).is_some_and(|&t| at < t) {
            return None;
        }
        let s = graph.index_of(service)?;
        let mut implicated = graph.downstream(s);
        implicated.push(s);
        let pick = self
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                graph
                    .index_of(c.action.service())
                    .is_some_and(|t| implicated.contains(&t))
            })
            .max_by_key(|(_, c)| c.approved_at)
            .map(|(i, _)| i)?;
        let change = self.changes.remove(pick);
        self.cooldown_until
            .insert(service.to_string(), at.plus_millis(COOLDOWN_MS));
        Some(Rollback {
            compensation: compensation(&change.action),
            change,
            slo_service: service.to_string(),
            observed_p99_ms: p99,
            slo_p99_ms: slo.p99_latency_ms,
            breach_at: at,
        })
    }
}

/// Proposals the arbiter raises itself to undo a change (when the undo needs a person) are
/// named after the change with this suffix.
pub const ROLLBACK_SUFFIX: &str = ".rollback";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::parse_proposal;

    fn shop() -> ServiceGraph {
        let root = env!("CARGO_MANIFEST_DIR");
        ServiceGraph::from_files(
            &std::path::Path::new(root).join("scenarios/online-boutique/graph.json"),
            Some(&std::path::Path::new(root).join("scenarios/online-boutique/overlay.toml")),
        )
        .unwrap()
    }

    fn intent() -> Intent {
        crate::intent::parse_intent(
            "t.toml",
            "name = \"t\"\npriorities = [\"availability\"]\n[[slo]]\nservice = \"frontend\"\np99_latency_ms = 400.0\n",
        )
        .unwrap()
    }

    fn change(id: &str, action: serde_json::Value) -> Proposal {
        let json = serde_json::json!({
            "v": 1, "id": id, "agent": "app-tuner-1", "domain": "application", "action": action,
            "confidence": 0.9, "reversible": true, "rationale": "t",
            "created_at": "2026-11-27T10:00:00Z", "expires_at": "2026-11-27T10:05:00Z",
        });
        parse_proposal(json.to_string().as_bytes()).unwrap()
    }

    /// What the watch makes of `service` seen at `p99_ms` at time `at`.
    fn observe(
        w: &mut RollbackWatch,
        g: &ServiceGraph,
        i: &Intent,
        service: &str,
        p99_ms: f64,
        at: &str,
    ) -> Option<Rollback> {
        let seen = Observation {
            p99_ms: Some(p99_ms),
            ..Default::default()
        };
        w.observed(g, Some(i), service, &seen, t(at))
    }

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn a_breach_undoes_the_most_recent_change_below_the_slo_once_per_cooldown() {
        let (g, i) = (shop(), intent());
        let mut w = RollbackWatch::new(Duration::from_secs(600));
        let flag = serde_json::json!({"kind": "feature_flag", "service": "recommendationservice", "flag": "ml", "enabled": true});
        let scale = serde_json::json!({"kind": "scale", "service": "cartservice", "replicas": -2});
        w.approved(&change("a", flag), t("2026-11-27T10:00:00Z"));
        w.approved(&change("b", scale), t("2026-11-27T10:01:00Z"));
        // Within the SLO: nothing.
        assert!(observe(&mut w, &g, &i, "frontend", 350.0, "2026-11-27T10:02:00Z").is_none());
        let r = observe(&mut w, &g, &i, "frontend", 520.0, "2026-11-27T10:03:00Z")
            .expect("a breach rolls back");
        assert_eq!(r.change.proposal_id, "b");
        assert_eq!(
            r.compensation,
            Some(Action::Scale {
                service: "cartservice".into(),
                replicas: 2
            })
        );
        // Still breached ten seconds later: the cool-down holds the next one back.
        assert!(observe(&mut w, &g, &i, "frontend", 520.0, "2026-11-27T10:03:10Z").is_none());
        let r = observe(&mut w, &g, &i, "frontend", 520.0, "2026-11-27T10:04:30Z")
            .expect("after the cool-down the next change is undone");
        assert_eq!(r.change.proposal_id, "a");
        assert!(matches!(
            r.compensation,
            Some(Action::FeatureFlag { enabled: false, .. })
        ));
        assert_eq!(w.watching(), 0);
    }

    #[test]
    fn changes_elsewhere_old_changes_and_services_without_slo_are_left_alone() {
        let (g, i) = (shop(), intent());
        let mut w = RollbackWatch::new(Duration::from_secs(600));
        let scale = serde_json::json!({"kind": "scale", "service": "cartservice", "replicas": -1});
        w.approved(&change("old", scale), t("2026-11-27T10:00:00Z"));
        // cartservice has no SLO of its own.
        assert!(observe(
            &mut w,
            &g,
            &i,
            "cartservice",
            5000.0,
            "2026-11-27T10:01:00Z"
        )
        .is_none());
        // Eleven minutes later the change is out of the watch period.
        assert!(observe(&mut w, &g, &i, "frontend", 900.0, "2026-11-27T10:11:00Z").is_none());
        // A restart leaves nothing to undo.
        let restart =
            serde_json::json!({"kind": "restart", "service": "frontend", "rolling": true});
        w.approved(&change("r", restart), t("2026-11-27T10:12:00Z"));
        assert!(observe(&mut w, &g, &i, "frontend", 900.0, "2026-11-27T10:13:00Z").is_none());
    }
}
