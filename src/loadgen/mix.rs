//! The proposals the load generator sends: each from an agent of the roles file, of a kind
//! and for a service that agent may propose, so the arbiter does its full work on every one
//! (admission, the engine, the audit trail) rather than refusing them early.

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
        let action = action(kind, service, &mut self.rng);
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

/// An action of `kind` on `service` with plausible parameters.
fn action(kind: ActionKind, service: &str, rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    let k = kind.as_str();
    match kind {
        ActionKind::Scale => {
            let delta = [-2, -1, 1, 2, 3][rng.below(5)];
            json!({"kind": k, "service": service, "replicas": delta})
        }
        ActionKind::Rollback => json!({"kind": k, "service": service, "to_version": "v1.4.2"}),
        ActionKind::Restart => json!({"kind": k, "service": service, "rolling": rng.below(4) != 0}),
        ActionKind::RateLimit => {
            json!({"kind": k, "service": service, "max_rps": 500.0 + 100.0 * rng.below(20) as f64})
        }
        ActionKind::WafRule => json!({
            "kind": k, "service": service, "rule": "bot-signatures",
            "mode": if rng.below(2) == 0 { "block" } else { "monitor" },
            "added_latency_ms": 1.0 + rng.below(8) as f64
        }),
        ActionKind::Reroute => {
            json!({"kind": k, "service": service, "share": 0.1, "to": "eu-west"})
        }
        ActionKind::FeatureFlag => json!({
            "kind": k, "service": service, "flag": format!("flag-{}", rng.below(4)),
            "enabled": rng.below(2) == 0
        }),
        ActionKind::Config => json!({
            "kind": k, "service": service, "key": "cache_ttl_s",
            "value": (30 * (1 + rng.below(10))).to_string()
        }),
        ActionKind::Isolate => json!({"kind": k, "service": service}),
        ActionKind::RotateCredentials => {
            json!({"kind": k, "service": service, "secret": "db-password"})
        }
    }
}
