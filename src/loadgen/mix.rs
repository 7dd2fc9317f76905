//! The proposals the load generator sends: each from an agent of the roles file, of a kind
//! and for a service that agent may propose, so the arbiter does its full work on every one
//! (admission, the engine, the audit trail) rather than refusing them early.
//!
//! Where an action has a free parameter (a version, a limit, a rule, flag, key or secret
//! name), the proposal's number is in it: each is a new ask, decided by the engine, rather
//! than a resend the refusal memory answers at once. Scale-ups and -downs, restarts and
//! isolations have none, so those repeat as a real agent's would, and some of them are
//! answered from memory.

use crate::contract::{ActionKind, Domain};
use crate::graph::ServiceGraph;
use crate::intent::Roles;
use crate::synthetic::Rng;

/// What one agent may send: its domain, kinds and services.
struct Sender {
    agent: String,
    domain: Domain,
    kinds: Vec<ActionKind>,
    services: Vec<String>,
}

pub struct Mix {
    senders: Vec<Sender>,
    rng: Rng,
    run: String,
    lifetime: chrono::Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("no agent in the roles file may propose for any service of the graph")]
pub struct NoSender;

impl Mix {
    /// `run` makes ids unique across runs against the same arbiter.
    pub fn new(roles: &Roles, graph: &ServiceGraph, run: &str, seed: u64) -> Result<Mix, NoSender> {
        let mut senders = Vec::new();
        for (agent, role) in &roles.agents {
            let services: Vec<String> = graph
                .services()
                .iter()
                .map(|s| s.name.clone())
                .filter(|s| role.allows_service(s))
                .collect();
            let kinds = role
                .kinds
                .clone()
                .unwrap_or_else(|| ActionKind::ALL.to_vec());
            if let (Some(domain), false, false) =
                (role.domains.first(), services.is_empty(), kinds.is_empty())
            {
                senders.push(Sender {
                    agent: agent.clone(),
                    domain: *domain,
                    kinds,
                    services,
                });
            }
        }
        if senders.is_empty() {
            return Err(NoSender);
        }
        Ok(Mix {
            senders,
            rng: Rng::new(seed),
            run: run.to_string(),
            lifetime: chrono::Duration::minutes(5),
        })
    }

    /// Proposals that expire `lifetime` after they are made (5 minutes unless set): the
    /// longer it is, the longer the arbiter must remember their decisions.
    pub fn with_lifetime(mut self, lifetime: chrono::Duration) -> Mix {
        self.lifetime = lifetime;
        self
    }

    pub fn run(&self) -> &str {
        &self.run
    }

    /// The `n`th proposal: its subject and payload; `created_at` and `expires_at` are set
    /// from `now` so the arbiter decides it rather than answering `expired`.
    pub fn proposal(&mut self, n: u64, now: chrono::DateTime<chrono::Utc>) -> (String, Vec<u8>) {
        let s = &self.senders[self.rng.below(self.senders.len())];
        let service = &s.services[self.rng.below(s.services.len())];
        let kind = s.kinds[self.rng.below(s.kinds.len())];
        let action = action(kind, service, n, &mut self.rng);
        let created = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let expires = (now + self.lifetime).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = serde_json::json!({
            "v": 1,
            "id": format!("{}-{n}", self.run),
            "agent": s.agent,
            "domain": s.domain.as_str(),
            "action": action,
            "confidence": 0.9,
            "reversible": true,
            "rationale": "load generator",
            "created_at": created,
            "expires_at": expires,
        });
        (
            crate::bus::proposals_subject(s.domain, &s.agent),
            serde_json::to_vec(&body).expect("proposals serialise"),
        )
    }
}

/// An action of `kind` on `service` with plausible parameters, the free ones made distinct
/// by `n`.
fn action(kind: ActionKind, service: &str, n: u64, rng: &mut Rng) -> serde_json::Value {
    // A fraction below one, different for each of a million consecutive proposals.
    let distinct = (n % 1_000_000) as f64 / 1_000_000.0;
    use serde_json::json;
    let k = kind.as_str();
    match kind {
        ActionKind::Scale => {
            let delta = [-2, -1, 1, 2, 3][rng.below(5)];
            json!({"kind": k, "service": service, "replicas": delta})
        }
        ActionKind::Rollback => {
            json!({"kind": k, "service": service, "to_version": format!("v1.4.2-{n}")})
        }
        ActionKind::Restart => json!({"kind": k, "service": service, "rolling": rng.below(4) != 0}),
        ActionKind::RateLimit => {
            json!({"kind": k, "service": service, "max_rps": 500.0 + 100.0 * rng.below(20) as f64 + distinct})
        }
        ActionKind::WafRule => json!({
            "kind": k, "service": service, "rule": format!("bot-signatures-{n}"),
            "mode": if rng.below(2) == 0 { "block" } else { "monitor" },
            "added_latency_ms": 1.0 + rng.below(8) as f64
        }),
        ActionKind::Reroute => {
            json!({"kind": k, "service": service, "share": 0.1 + distinct / 100.0, "to": "eu-west"})
        }
        ActionKind::FeatureFlag => json!({
            "kind": k, "service": service, "flag": format!("flag-{n}"),
            "enabled": rng.below(2) == 0
        }),
        ActionKind::Config => json!({
            "kind": k, "service": service, "key": "cache_ttl_s",
            "value": format!("{}.{n}", 30 * (1 + rng.below(10)))
        }),
        ActionKind::Isolate => json!({"kind": k, "service": service}),
        ActionKind::RotateCredentials => {
            json!({"kind": k, "service": service, "secret": format!("db-password-{n}")})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Actions with a free parameter are new asks every time, so the engine decides them
    /// rather than the refusal memory answering them as resends.
    #[test]
    fn actions_with_a_free_parameter_are_never_repeated() {
        let roles = crate::intent::parse_roles(
            "agents.toml",
            &std::fs::read_to_string("intents/agents.toml").unwrap(),
        )
        .unwrap();
        let graph = ServiceGraph::from_files(
            std::path::Path::new("scenarios/online-boutique/graph.json"),
            Some(std::path::Path::new(
                "scenarios/online-boutique/overlay.toml",
            )),
        )
        .unwrap();
        let mut mix = Mix::new(&roles, &graph, "t", 7).unwrap();
        let now = chrono::Utc::now();
        let mut seen = std::collections::HashSet::new();
        let (mut free, mut repeatable) = (0, 0);
        for n in 0..20_000 {
            let (_, payload) = mix.proposal(n, now);
            let p = crate::contract::parse_proposal(&payload).expect("a valid proposal");
            let kind = p.action.kind();
            if matches!(
                kind,
                ActionKind::Scale | ActionKind::Restart | ActionKind::Isolate
            ) {
                repeatable += 1;
                continue;
            }
            free += 1;
            let action = serde_json::to_string(&p.action).unwrap();
            assert!(
                seen.insert((p.agent, action)),
                "proposal {n} repeats an action"
            );
        }
        assert!(
            free > 5_000 && repeatable > 1_000,
            "{free} free, {repeatable} repeatable"
        );
    }
}
