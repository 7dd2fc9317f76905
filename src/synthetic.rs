//! Seeded synthetic service graphs and decision windows, for benchmarks and load tests.
//!
//! Graphs are shaped like real ones: a few entry points, services calling services deeper
//! down with fan-in from several callers, call locality (a service mostly calls its
//! neighbours), a few call-backs that close cycles, and capacity provisioned for the traffic
//! the graph actually carries. Windows have realistic locality (most proposals alone on their
//! service, some in small conflicting groups) or one dense conflict.

use crate::contract::{parse_proposal, Proposal, Telemetry};
use crate::graph::{LinkRecord, Overlay, ServiceAttrs, ServiceGraph};
use crate::intent::{parse_intent, parse_roles, Intent, Roles};
use crate::world::World;

/// SplitMix64: small, fast, and the same sequence on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

fn name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// Links of an `n`-service graph.
pub fn links(n: usize, seed: u64) -> Vec<LinkRecord> {
    let mut rng = Rng::new(seed);
    let entries = entry_count(n);
    let mut out = Vec::new();
    for child in entries..n {
        // One to three callers among the nearby, earlier services: fan-in and locality.
        let window = 64.min(child);
        let callers = 1 + rng.below(3);
        for _ in 0..callers {
            let parent = child - 1 - rng.below(window);
            out.push(LinkRecord {
                parent: name(parent),
                child: name(child),
                call_count: rng.range(50.0, 1000.0).round(),
            });
        }
        // About one service in a hundred calls back up, closing a cycle.
        if rng.below(100) == 0 && child > entries + 1 {
            out.push(LinkRecord {
                parent: name(child),
                child: name(child - 1 - rng.below(window.min(child - entries))),
                call_count: rng.range(1.0, 20.0).round(),
            });
        }
    }
    out
}

fn entry_count(n: usize) -> usize {
    (n / 1000 + 2).min(n)
}

/// A graph of `n` services provisioned so each runs at 30–70% utilisation at baseline.
pub fn graph(n: usize, seed: u64) -> ServiceGraph {
    let links = links(n, seed);
    let mut rng = Rng::new(seed ^ 0xA5A5);
    let tiers = [
        "critical",
        "standard",
        "standard",
        "standard",
        "best_effort",
    ];
    let mut overlay = Overlay::default();
    for i in 0..n.max(1) {
        let entry = i < entry_count(n);
        overlay.services.insert(
            name(i),
            ServiceAttrs {
                tier: Some(tiers[rng.below(tiers.len())].to_string()),
                capacity_rps_per_replica: Some(rng.range(50.0, 500.0).round()),
                base_latency_ms: Some(rng.range(1.0, 30.0).round()),
                cost_per_replica_hour: Some((rng.range(0.05, 0.5) * 100.0).round() / 100.0),
                entry_rps: entry.then(|| rng.range(100.0, 1000.0).round()),
                entry: entry.then_some(true),
                ..ServiceAttrs::default()
            },
        );
    }
    let provisional = ServiceGraph::from_parts(&links, &overlay).expect("synthetic graph is valid");
    let world = World::baseline(&provisional);
    for (i, s) in provisional.services().iter().enumerate() {
        let util = rng.range(0.3, 0.7);
        let replicas = (world.services[i].load_rps / (s.capacity_rps_per_replica * util)).ceil();
        let attrs = overlay
            .services
            .get_mut(&s.name)
            .expect("every service has attributes");
        attrs.replicas = Some(replicas.clamp(1.0, 10_000.0) as u32);
    }
    ServiceGraph::from_parts(&links, &overlay).expect("synthetic graph is valid")
}

/// A synthetic fleet ready to decide on: graph, a surge world, an intent and roles.
pub struct Fleet {
    pub graph: ServiceGraph,
    pub world: World,
    pub intent: Intent,
    pub roles: Roles,
}

impl Fleet {
    /// `services` services (seeded), a 1.5x surge, a budget of `budget_factor` x current
    /// spend and a blast-radius limit of `blast`.
    pub fn new(services: usize, seed: u64, budget_factor: f64, blast: f64) -> Fleet {
        let graph = graph(services, seed);
        let world =
            World::observed(&graph, &surge(&graph, 1.5)).expect("synthetic telemetry is valid");
        let intent = intent(
            &graph,
            &world,
            world.spend_per_hour(&graph) * budget_factor,
            blast,
        );
        Fleet {
            graph,
            world,
            intent,
            roles: roles(),
        }
    }

    /// A decision context over this fleet at the synthetic windows' time.
    pub fn context(&self) -> crate::engine::Context<'_> {
        crate::engine::Context {
            graph: &self.graph,
            world: &self.world,
            intent: Some(&self.intent),
            roles: &self.roles,
            in_flight: &[],
            budget_granted: 0.0,
            now: crate::contract::Timestamp::parse(NOW).expect("valid time"),
        }
    }
}

/// When synthetic proposals are created.
pub const NOW: &str = "2026-11-27T10:00:00Z";

/// Roles for the synthetic agents: one per domain, every kind, every service.
pub fn roles() -> Roles {
    parse_roles(
        "synthetic-agents.toml",
        "[agents.cost-1]\ndomains = [\"cost\"]\n[agents.security-1]\ndomains = [\"security\"]\n\
         [agents.resilience-1]\ndomains = [\"resilience\"]\n[agents.application-1]\ndomains = [\"application\"]\n",
    )
    .expect("synthetic roles are valid")
}

/// An all-autonomous intent with SLOs on every entry at three times today's latency, the
/// given budget (per hour) and blast-radius limit.
pub fn intent(graph: &ServiceGraph, world: &World, budget: f64, blast: f64) -> Intent {
    let mut text = format!(
        "name = \"synthetic\"\npriorities = [\"availability\", \"latency\", \"security\", \"cost\"]\n\
         budget = {{ max_cost_per_hour = {budget:.2} }}\n\
         blast_radius = {{ max_entry_traffic_share = {blast}, max_changes_per_service = 2 }}\n\
         [autonomy]\ndefault = \"autonomous\"\n"
    );
    for &e in graph.entries() {
        text.push_str(&format!(
            "[[slo]]\nservice = \"{}\"\np99_latency_ms = {:.1}\n",
            graph.service(e).name,
            world.services[e].p99_ms * 3.0
        ));
    }
    parse_intent("synthetic.toml", &text).expect("synthetic intent is valid")
}

/// A surge: every entry forecast at `factor` times its traffic now.
pub fn surge(graph: &ServiceGraph, factor: f64) -> Telemetry {
    let mut t = Telemetry::default();
    for &e in graph.entries() {
        let s = graph.service(e);
        t.services.insert(
            s.name.clone(),
            crate::contract::Observation {
                forecast_rps: Some(s.entry_rps * factor),
                ..Default::default()
            },
        );
    }
    t
}

fn proposal(
    id: usize,
    agent: &str,
    domain: &str,
    action: serde_json::Value,
    conf: f64,
) -> Proposal {
    let json = serde_json::json!({
        "v": 1, "id": format!("p{id}"), "agent": agent, "domain": domain, "action": action,
        "confidence": conf, "reversible": true, "rationale": "synthetic",
        "created_at": NOW, "expires_at": "2026-11-27T10:05:00Z",
    });
    parse_proposal(json.to_string().as_bytes()).expect("synthetic proposal is valid")
}

fn one(rng: &mut Rng, id: usize, service: &str) -> Proposal {
    let conf = rng.range(0.8, 1.0);
    match rng.below(20) {
        0..=5 => proposal(
            id,
            "cost-1",
            "cost",
            serde_json::json!({"kind": "scale", "service": service, "replicas": -1 - rng.below(2) as i32}),
            conf,
        ),
        6..=11 => proposal(
            id,
            "resilience-1",
            "resilience",
            serde_json::json!({"kind": "scale", "service": service, "replicas": 1 + rng.below(3) as i32}),
            conf,
        ),
        12 => proposal(
            id,
            "resilience-1",
            "resilience",
            serde_json::json!({"kind": "restart", "service": service, "rolling": true}),
            conf,
        ),
        13..=15 => proposal(
            id,
            "security-1",
            "security",
            serde_json::json!({"kind": "waf_rule", "service": service, "rule": "bots", "mode": if rng.below(2) == 0 { "block" } else { "monitor" }, "added_latency_ms": rng.range(1.0, 10.0).round()}),
            conf,
        ),
        _ => proposal(
            id,
            "application-1",
            "application",
            serde_json::json!({"kind": "feature_flag", "service": service, "flag": format!("f{}", rng.below(3)), "enabled": rng.below(2) == 0}),
            conf,
        ),
    }
}

/// `n` proposals with realistic locality: half alone on their service, the rest in groups of
/// two, three or five on one service (where they merge, contradict or queue).
pub fn realistic_window(graph: &ServiceGraph, n: usize, seed: u64) -> Vec<Proposal> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    let mut used = std::collections::HashSet::new();
    while out.len() < n {
        let size = [1, 1, 1, 1, 2, 2, 3, 5][rng.below(8)].min(n - out.len());
        let mut target = rng.below(graph.len());
        while !used.insert(target) && used.len() < graph.len() {
            target = rng.below(graph.len());
        }
        let service = graph.service(target).name.clone();
        for _ in 0..size {
            let id = out.len();
            out.push(one(&mut rng, id, &service));
        }
    }
    out
}

/// `n` proposals that form one conflict group: on each of `n / 3` services a scale-up, a
/// contradicting scale-down and a rotation of credentials (more changes than one service may
/// take at once), with every scale-up sharing the budget and every rotation the blast radius
/// (a rotation restarts the service for a security gain; a rollback of a healthy service
/// gains nothing and is never chosen, so it would tie nothing together). Meant for
/// an intent whose budget and blast radius bind (see the dense bench).
pub fn dense_window(graph: &ServiceGraph, n: usize, seed: u64) -> Vec<Proposal> {
    let mut rng = Rng::new(seed);
    let mut targets: Vec<usize> = Vec::new();
    while targets.len() < n.div_ceil(3).min(graph.len()) {
        let t = rng.below(graph.len());
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    (0..n)
        .map(|id| {
            let service = graph.service(targets[(id / 3) % targets.len()]).name.clone();
            let conf = rng.range(0.8, 1.0);
            match id % 3 {
                0 => proposal(id, "resilience-1", "resilience", serde_json::json!({"kind": "scale", "service": service, "replicas": 1 + rng.below(3) as i32}), conf),
                1 => proposal(id, "cost-1", "cost", serde_json::json!({"kind": "scale", "service": service, "replicas": -1}), conf),
                _ => proposal(id, "security-1", "security", serde_json::json!({"kind": "rotate_credentials", "service": service, "secret": "db-password"}), conf),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphs_are_reproducible_and_provisioned() {
        let a = graph(300, 7);
        let b = graph(300, 7);
        assert_eq!(a.version(), b.version());
        assert_ne!(a.version(), graph(300, 8).version());
        let w = World::baseline(&a);
        for (i, s) in a.services().iter().enumerate() {
            let cap = s.replicas as f64 * s.capacity_rps_per_replica;
            assert!(
                w.services[i].load_rps <= cap,
                "{} is overloaded at baseline",
                s.name
            );
        }
    }
}
