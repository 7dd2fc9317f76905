//! What the arbiter asks agents for. It never acts itself: where a service is short of what
//! the intent needs of it (`engine::shortfalls`) and no one proposes to add, it asks an agent
//! whose role may scale that service — a `request` on `arbiter.control.<agent>` — and decides
//! the agent's proposal, if one comes, like any other. Without this the arbiter refuses every
//! removal from a short service, says it is short, and leaves it so.

use crate::contract::{Action, ActionKind, Domain, Timestamp};
use crate::coordinator::Coordinator;
use crate::engine::Context;
use crate::world::World;
use std::collections::BTreeMap;

/// How long before the same service is asked for again: an agent that did not act may have
/// reasons; the ask is repeated while the shortfall lasts, not every window.
pub const ASK_AGAIN_MS: i64 = 15 * 60 * 1000;

/// When each service was last asked for.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Asked(BTreeMap<String, Timestamp>);

impl Asked {
    /// `service` was asked for at `at` (a restart reads it from the trail, so as not to ask
    /// again at once).
    pub fn noted(&mut self, service: &str, at: Timestamp) {
        self.0.insert(service.to_string(), at);
    }
}

/// One request to one agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub agent: String,
    pub action: Action,
    /// The payload sent on `arbiter.control.<agent>`.
    pub command: serde_json::Value,
}

impl Coordinator {
    /// The requests to send now: one per short service not asked for within
    /// [`ASK_AGAIN_MS`], to the first agent (by name) in the resilience domain whose role
    /// may scale it and who is not suspended. None without an intent in force, under the
    /// global freeze or a freeze of the intent over that service's scale-ups, or with the
    /// resilience domain suspended (whatever was asked would be refused or deferred).
    pub fn requests(&mut self, now: Timestamp, world: &World) -> Vec<Request> {
        let in_flight = self.in_flight_at(now);
        let budget_granted = self
            .grants
            .at(now, self.intents.in_force(now).map(|i| i.version.as_str()));
        let Some(intent) = self.intents.in_force(now) else {
            return Vec::new();
        };
        if self.controls.frozen
            || self
                .controls
                .suspended_domains
                .contains(Domain::Resilience.as_str())
        {
            return Vec::new();
        }
        let ctx = Context {
            graph: &self.graph,
            world,
            intent: Some(intent),
            roles: &self.roles,
            in_flight: &in_flight,
            budget_granted,
            now,
        };
        let short = crate::engine::shortfalls(&ctx, intent);
        let mut out = Vec::new();
        for sf in short {
            // A change freeze the intent declares over the service's scale-ups: the proposal
            // would only be deferred.
            let frozen = intent
                .freezes
                .iter()
                .any(|f| f.covers(now, ActionKind::Scale, &sf.service));
            let recent = self
                .asked
                .0
                .get(&sf.service)
                .is_some_and(|at| at.millis_until(&now) < ASK_AGAIN_MS);
            if frozen || recent {
                continue;
            }
            let Some(agent) = self.roles.agents.iter().find_map(|(name, role)| {
                (role.domains.contains(&Domain::Resilience)
                    && role
                        .kinds
                        .as_ref()
                        .is_none_or(|k| k.contains(&ActionKind::Scale))
                    && role.allows_service(&sf.service)
                    && !self.controls.suspended_agents.contains(name))
                .then(|| name.clone())
            }) else {
                continue;
            };
            let action = Action::Scale {
                service: sf.service.clone(),
                replicas: sf.replicas as i32,
            };
            let command = serde_json::json!({
                "v": 1,
                "command": "request",
                "agent": agent,
                "action": action,
                "reason": {
                    "code": crate::contract::ReasonCode::CapacityShort,
                    "service": sf.service,
                    "value": sf.have_rps,
                    "limit": sf.need_rps,
                    "intent_clause": "capacity.headroom",
                    "detail": format!(
                        "{} has {:.0} rps of capacity; the intent '{}' plans {:.0} rps for the forecast and its SLOs' paths",
                        sf.service, sf.have_rps, intent.name, sf.need_rps
                    ),
                },
                "issued_at": now,
            });
            self.asked.0.insert(sf.service.clone(), now);
            out.push(Request {
                agent,
                action,
                command,
            });
        }
        out
    }
}
