//! The domain agents: each correct by its own rules, blind to the others, publishing real
//! proposals on the bus.
//!
//! - cost (`cost-optimizer-1`): removes a replica where utilisation now is low — it sees the
//!   present, not the surge to come;
//! - resilience (`resilience-1`): adds replicas where utilisation is high, rolls back a
//!   service whose errors are not explained by load, restarts an unhealthy one;
//! - security (`security-guard-1`): on an attack at an entry point, a WAF rule in block mode,
//!   a rate limit at today's traffic, and a rotation of the session secret;
//! - application (`app-tuner-1`): switches the shop's sheddable feature flag (the scenario's
//!   `[agents.flag]`, if any) off when pages get slow, and back on when they recover;
//!   lengthens the cache of a hot service its role lets it tune.
//!
//! No agent knows a service by name: what each may act on comes from the graph, its role
//! and the scenario, so they run on any shop.
//!
//! The cost agent also pursues a spend target when the scenario sets one.

use super::model::{ServiceSim, TickMeasure};
use super::scenario::Agents;
use crate::bus::{proposals_subject, Message};
use crate::contract::{Domain, Timestamp};
use crate::graph::ServiceGraph;
use std::collections::BTreeMap;

/// What the agents can see at one tick.
pub struct View<'a> {
    pub graph: &'a ServiceGraph,
    pub m: &'a TickMeasure,
    pub services: &'a [ServiceSim],
    /// Per entry (as `graph.entries()`): legitimate and bot rps arriving.
    pub legit: &'a [f64],
    pub bots: &'a [f64],
    pub tick: u64,
    pub now: Timestamp,
    pub ticks_per_min: f64,
    /// Per entry: the forecast peak over the horizon, for agents that plan ahead (the
    /// predictive baseline's resilience agent); `None` for agents that act on the present.
    pub forecast: Option<&'a [f64]>,
}

/// The four agents and their memory of what they already asked for.
pub struct AgentSet {
    cfg: Agents,
    /// (agent, service) -> tick before which the agent does not ask again.
    quiet_until: BTreeMap<(&'static str, String), u64>,
    seq: u64,
    /// Whether the shop's sheddable flag is off now.
    pub flag_off: bool,
    /// Services whose cache the application agent's change has lengthened.
    cached: Vec<String>,
    /// The services the application agent may tune (`None`: any).
    tunable: Option<Vec<String>>,
    /// (agent, service, action kind) -> tick before which that action is not sent again.
    held_until: BTreeMap<(&'static str, String, String), u64>,
    /// Scale-ups the arbiter asked the resilience agent for, not yet proposed: (service,
    /// replicas, why).
    requested: Vec<(String, i64, String)>,
}

pub const COST: &str = "cost-optimizer-1";
pub const RESILIENCE: &str = "resilience-1";
pub const SECURITY: &str = "security-guard-1";
pub const APPLICATION: &str = "app-tuner-1";
/// The setting the application agent lengthens on a hot service.
const CACHE_KEY: &str = "cache_ttl_s";
/// The agent's name as one of the four, if it is one.
fn one_of_ours(agent: &str) -> Option<&'static str> {
    [COST, RESILIENCE, SECURITY, APPLICATION]
        .into_iter()
        .find(|&a| a == agent)
}

impl AgentSet {
    /// The agents, the application agent tuning what its role in `roles` allows.
    pub fn new(cfg: Agents, roles: &crate::intent::Roles) -> Self {
        AgentSet {
            cfg,
            quiet_until: BTreeMap::new(),
            seq: 0,
            flag_off: false,
            cached: Vec::new(),
            tunable: roles
                .agents
                .get(APPLICATION)
                .and_then(|r| r.services.clone()),
            held_until: BTreeMap::new(),
            requested: Vec::new(),
        }
    }

    /// A command on `arbiter.control.<agent>`. The resilience agent honours a `request` for a
    /// scale-up at its next turn, as a proposal of its own (which the arbiter then decides);
    /// anything else is ignored here.
    pub fn control(&mut self, subject: &str, payload: &[u8]) {
        if subject != crate::bus::control_subject(RESILIENCE) {
            return;
        }
        let Ok(c) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return;
        };
        if c["command"] != "request" || c["action"]["kind"] != "scale" {
            return;
        }
        if let (Some(service), Some(replicas)) = (
            c["action"]["service"].as_str(),
            c["action"]["replicas"].as_i64(),
        ) {
            let why = c["reason"]["detail"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.requested.push((service.to_string(), replicas, why));
        }
    }

    /// An agent told to ask again at `tick` (a deferral's `retry_after`) does so then,
    /// rather than after its usual quiet period.
    pub fn retry_at(&mut self, agent: &str, service: &str, tick: u64) {
        if let Some(a) = one_of_ours(agent) {
            self.quiet_until.insert((a, service.to_string()), tick);
        }
    }

    /// An agent told the same answer stands until `tick` (a refusal's or an escalation's
    /// `retry_after`) does not send that action again before then; its other actions on the
    /// service keep their own timing.
    pub fn not_before(&mut self, agent: &str, action: &crate::contract::Action, tick: u64) {
        if let Some(a) = one_of_ours(agent) {
            let key = (
                a,
                action.service().to_string(),
                action.kind().as_str().to_string(),
            );
            let held = self.held_until.entry(key).or_insert(tick);
            *held = (*held).max(tick);
        }
    }

    /// An action carried out. The application agent's longer cache is done once it is; until
    /// then — deferred, refused for now, waiting for a person — it is asked again when its
    /// quiet period ends, as any of its other actions.
    pub fn carried_out(&mut self, action: &crate::contract::Action) {
        if let crate::contract::Action::Config { service, key, .. } = action {
            if key == CACHE_KEY && !self.cached.contains(service) {
                self.cached.push(service.clone());
            }
        }
    }

    fn quiet(&self, agent: &'static str, service: &str, tick: u64) -> bool {
        self.quiet_until
            .get(&(agent, service.to_string()))
            .is_some_and(|&t| tick < t)
    }

    #[allow(clippy::too_many_arguments)]
    fn propose(
        &mut self,
        out: &mut Vec<Message>,
        v: &View,
        agent: &'static str,
        domain: Domain,
        action: serde_json::Value,
        expected: serde_json::Value,
        confidence: f64,
        rationale: String,
    ) {
        let service = action["service"].as_str().unwrap_or_default().to_string();
        let kind = action["kind"].as_str().unwrap_or_default();
        let key = (agent, service.clone(), kind.to_string());
        if self.held_until.get(&key).is_some_and(|&t| v.tick < t) {
            return;
        }
        self.seq += 1;
        let quiet = (15.0 * v.ticks_per_min).ceil() as u64;
        self.quiet_until.insert((agent, service), v.tick + quiet);
        let payload = serde_json::json!({
            "v": 1,
            "id": format!("{agent}-{}-{}", v.tick, self.seq),
            "agent": agent,
            "domain": domain.as_str(),
            "action": action,
            "expected": expected,
            "confidence": confidence,
            "reversible": true,
            "rationale": rationale,
            "created_at": v.now.to_string(),
            "expires_at": v.now.plus_millis(10 * 60 * 1000).to_string(),
        });
        out.push(Message {
            subject: proposals_subject(domain, agent),
            payload: payload.to_string().into_bytes(),
        });
    }

    /// Every agent looks at the view and proposes what its own rules call for.
    pub fn act(&mut self, v: &View) -> Vec<Message> {
        let mut out = Vec::new();
        let g = v.graph;
        let c = self.cfg.clone();
        // Cost, to meet its spend target: the least used service gives up a replica.
        if let Some(target) = c.cost_budget_per_hour {
            let spend: f64 = g
                .services()
                .iter()
                .zip(v.services)
                .map(|(a, s)| a.cost_per_replica_hour * s.billed() as f64)
                .sum();
            let util = |s: usize| {
                if v.m.capacity[s] > 0.0 {
                    v.m.demand[s] / v.m.capacity[s]
                } else {
                    1.0
                }
            };
            let candidate = (0..g.len())
                .filter(|&s| v.services[s].ready > c.cost_min_replicas && util(s) < 0.6)
                .filter(|&s| !self.quiet(COST, &g.service(s).name, v.tick))
                .min_by(|&a, &b| util(a).total_cmp(&util(b)));
            if let (true, Some(s)) = (spend > target, candidate) {
                let attrs = g.service(s);
                self.propose(&mut out, v, COST, Domain::Cost,
                    serde_json::json!({"kind": "scale", "service": attrs.name, "replicas": -1}),
                    serde_json::json!({"cost_per_hour": -attrs.cost_per_replica_hour, "capacity_rps": -attrs.capacity_rps_per_replica}),
                    0.9, format!("spend {spend:.2}/h is over the {target:.2}/h target"));
            }
        }
        for (service, add, why) in std::mem::take(&mut self.requested) {
            let Some(s) = g.index_of(&service) else {
                continue;
            };
            let attrs = g.service(s);
            if add > 0 {
                self.propose(&mut out, v, RESILIENCE, Domain::Resilience,
                    serde_json::json!({"kind": "scale", "service": service, "replicas": add}),
                    serde_json::json!({"cost_per_hour": add as f64 * attrs.cost_per_replica_hour, "capacity_rps": add as f64 * attrs.capacity_rps_per_replica}),
                    0.85, format!("asked by the arbiter: {why}"));
            }
        }
        for s in 0..g.len() {
            let attrs = g.service(s);
            let name = attrs.name.clone();
            let sim = &v.services[s];
            let cap = v.m.capacity[s];
            let util = if cap > 0.0 { v.m.demand[s] / cap } else { 1.0 };
            // Cost: utilisation now is low, so a replica is waste.
            if util < c.cost_low_utilisation
                && sim.ready > c.cost_min_replicas
                && sim.starting.is_empty()
                && !self.quiet(COST, &name, v.tick)
            {
                let saving = attrs.cost_per_replica_hour;
                self.propose(&mut out, v, COST, Domain::Cost,
                    serde_json::json!({"kind": "scale", "service": name, "replicas": -1}),
                    serde_json::json!({"cost_per_hour": -saving, "capacity_rps": -attrs.capacity_rps_per_replica}),
                    0.9, format!("utilisation {:.0}% is below {:.0}%", util * 100.0, c.cost_low_utilisation * 100.0));
            }
            // Application: a hot service it tunes gets a longer cache.
            if util > c.application_cache_utilisation
                && self
                    .tunable
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|n| **n == *name))
                && !self.cached.contains(&name)
                && !self.quiet(APPLICATION, &name, v.tick)
            {
                self.propose(&mut out, v, APPLICATION, Domain::Application,
                    serde_json::json!({"kind": "config", "service": name, "key": CACHE_KEY, "value": 300}),
                    serde_json::json!({"capacity_rps": 0.2 * v.m.demand[s]}), 0.8,
                    format!("utilisation {:.0}%: cache longer", util * 100.0));
            }
            // Resilience: utilisation high (now, or at the forecast peak for a predictive
            // agent), add replicas to bring it to 60%.
            let ahead = v.forecast.map_or(0.0, |f| {
                f.iter()
                    .enumerate()
                    .map(|(k, rps)| rps * g.visits(k, s))
                    .sum()
            });
            let need = v.m.demand[s].max(ahead);
            let util_ahead = if cap > 0.0 { need / cap } else { 1.0 };
            if util_ahead > c.resilience_high_utilisation && !self.quiet(RESILIENCE, &name, v.tick)
            {
                let want = (need / (attrs.capacity_rps_per_replica * 0.6)).ceil() as i64;
                let add = (want - sim.billed() as i64).clamp(0, 20) as i32;
                if add > 0 {
                    self.propose(&mut out, v, RESILIENCE, Domain::Resilience,
                        serde_json::json!({"kind": "scale", "service": name, "replicas": add}),
                        serde_json::json!({"cost_per_hour": add as f64 * attrs.cost_per_replica_hour, "capacity_rps": add as f64 * attrs.capacity_rps_per_replica}),
                        0.85, format!("utilisation {:.0}% is above {:.0}%", util_ahead * 100.0, c.resilience_high_utilisation * 100.0));
                }
            }
            // Resilience: errors that load does not explain mean a bad release.
            let overload = super::model::overload_errors(v.m.demand[s], cap);
            if v.m.errors[s] - overload > c.resilience_error_rate
                && sim.bad_release > 0.0
                && !self.quiet(RESILIENCE, &name, v.tick)
            {
                self.propose(&mut out, v, RESILIENCE, Domain::Resilience,
                    serde_json::json!({"kind": "rollback", "service": name, "to_version": "previous"}),
                    serde_json::json!({"risk": 0.2}), 0.9,
                    format!("error rate {:.1}% since the last release", v.m.errors[s] * 100.0));
            } else if sim.unhealthy && !self.quiet(RESILIENCE, &name, v.tick) {
                self.propose(&mut out, v, RESILIENCE, Domain::Resilience,
                    serde_json::json!({"kind": "restart", "service": name, "rolling": !c.resilience_full_restart}),
                    serde_json::json!({"risk": 0.3}), 0.9, "health checks failing".into());
            }
        }
        for (k, &e) in g.entries().iter().enumerate() {
            let name = g.service(e).name.clone();
            let sim = &v.services[e];
            let bots = v.bots[k] * (1.0 - sim.bot_block);
            let share = bots / (bots + v.legit[k]).max(1e-9);
            // Security: an attack at the door.
            if share > c.security_bot_share && !self.quiet(SECURITY, &name, v.tick) {
                if sim.bot_block < 0.5 {
                    self.propose(&mut out, v, SECURITY, Domain::Security,
                        serde_json::json!({"kind": "waf_rule", "service": name, "rule": "credential-stuffing", "mode": "block", "added_latency_ms": c.security_waf_ms}),
                        serde_json::json!({"latency_ms": c.security_waf_ms, "risk": 0.1}), 0.95,
                        format!("{:.0}% of login traffic is from bots", share * 100.0));
                }
                if sim.rate_limit.is_none() {
                    self.propose(&mut out, v, SECURITY, Domain::Security,
                        serde_json::json!({"kind": "rate_limit", "service": name, "max_rps": (v.legit[k] * 1.1).round().max(1.0)}),
                        serde_json::json!({"risk": 0.2}), 0.9, "cap requests at today's legitimate level".into());
                }
                if c.security_rotate {
                    self.propose(&mut out, v, SECURITY, Domain::Security,
                        serde_json::json!({"kind": "rotate_credentials", "service": name, "secret": "session-signing-key"}),
                        serde_json::json!({"risk": 0.3}), 0.9, "credentials may be stuffed: rotate session keys".into());
                }
            }
            // Application: slow pages; switch the sheddable flag off (on again once fast).
            let Some(flag) = &c.flag else { continue };
            let Some(shed) = g.index_of(&flag.stops_calling) else {
                continue;
            };
            let slow = v.m.path_ms[e] > c.application_latency_ms;
            let recovered = v.m.path_ms[e] < c.application_latency_ms / 2.0;
            if ((slow && !self.flag_off) || (recovered && self.flag_off))
                && !self.quiet(APPLICATION, &name, v.tick)
            {
                let enable = self.flag_off;
                let freed = if enable { -1.0 } else { 1.0 } * v.m.demand[shed];
                self.propose(&mut out, v, APPLICATION, Domain::Application,
                    serde_json::json!({"kind": "feature_flag", "service": name, "flag": flag.name, "enabled": enable}),
                    serde_json::json!({"capacity_rps": freed, "latency_ms": if enable { 20.0 } else { -50.0 }}), 0.85,
                    format!("page latency {:.0} ms", v.m.path_ms[e]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::model::measure;

    fn shop() -> ServiceGraph {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        ServiceGraph::from_files(
            &root.join("scenarios/online-boutique/graph.json"),
            Some(&root.join("scenarios/online-boutique/overlay.toml")),
        )
        .unwrap()
    }

    /// The frontend's cache changes the application agent asks for at `tick`, the shop kept
    /// hot.
    fn cache_asks(agents: &mut AgentSet, g: &ServiceGraph, tick: u64) -> Vec<String> {
        let sims: Vec<ServiceSim> = g
            .services()
            .iter()
            .map(|s| ServiceSim::new(s.replicas))
            .collect();
        let fe = g.index_of("frontend").unwrap();
        // Nine tenths of the frontend's capacity arrives: above the agent's 85%.
        let rps = 0.9 * g.service(fe).replicas as f64 * g.service(fe).capacity_rps_per_replica;
        let m = measure(g, &sims, &[rps], &[0.0], tick);
        let v = View {
            forecast: None,
            graph: g,
            m: &m,
            services: &sims,
            legit: &[rps],
            bots: &[0.0],
            tick,
            now: Timestamp::parse("2026-11-27T10:00:00Z").unwrap(),
            ticks_per_min: 1.0,
        };
        agents
            .act(&v)
            .into_iter()
            .filter(|m| m.subject.ends_with(APPLICATION))
            .map(|m| String::from_utf8(m.payload).unwrap())
            .filter(|p| p.contains(CACHE_KEY) && p.contains("\"service\":\"frontend\""))
            .collect()
    }

    #[test]
    fn a_cache_change_not_carried_out_is_asked_again_and_one_carried_out_is_not() {
        let g = shop();
        let mut agents = AgentSet::new(Agents::default(), &crate::intent::Roles::default());
        assert_eq!(cache_asks(&mut agents, &g, 0).len(), 1, "asked while hot");
        assert!(
            cache_asks(&mut agents, &g, 1).is_empty(),
            "quiet for a while"
        );
        // Deferred, say: after its quiet period it is asked again.
        let again = cache_asks(&mut agents, &g, 16);
        assert_eq!(again.len(), 1, "asked again once quiet is over");
        let p: serde_json::Value = serde_json::from_str(&again[0]).unwrap();
        let action: crate::contract::Action = serde_json::from_value(p["action"].clone()).unwrap();
        agents.carried_out(&action);
        assert!(
            cache_asks(&mut agents, &g, 40).is_empty(),
            "done once carried out"
        );
    }
}
