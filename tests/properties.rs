//! Properties of the whole engine on random windows over the retail shop: the approved set
//! never breaks a hard limit (re-derived here from the contract's semantics, not from the
//! engine's internals), the output is deterministic, and no input panics anything.

mod common;

use arbiter::contract::{parse_proposal, Action, Decision, Proposal, Telemetry, Verdict};
use arbiter::engine::{decide, Context, InFlight, Ledger, SolverConfig, Submission};
use arbiter::graph::ServiceGraph;
use arbiter::intent::{parse_intent, parse_roles, Intent, Roles};
use arbiter::world::World;
use common::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const SERVICES: [&str; 12] = [
    "frontend",
    "checkoutservice",
    "paymentservice",
    "cartservice",
    "redis-cart",
    "currencyservice",
    "productcatalogservice",
    "shippingservice",
    "emailservice",
    "recommendationservice",
    "adservice",
    "nosuchservice",
];
const AGENTS: [(&str, &str); 6] = [
    ("cost-optimizer-1", "cost"),
    ("security-guard-1", "security"),
    ("resilience-1", "resilience"),
    ("resilience-2", "resilience"),
    ("app-tuner-1", "application"),
    ("rogue-1", "cost"),
];
const ROLES: &str = r#"
[agents.cost-optimizer-1]
domains = ["cost"]
kinds = ["scale", "config"]
[agents.security-guard-1]
domains = ["security"]
kinds = ["waf_rule", "rate_limit", "rotate_credentials", "isolate"]
[agents.resilience-1]
domains = ["resilience"]
[agents.resilience-2]
domains = ["resilience"]
kinds = ["scale", "restart"]
[agents.app-tuner-1]
domains = ["application"]
kinds = ["feature_flag", "config"]
services = ["frontend", "adservice", "cartservice"]
"#;

fn arb_action() -> impl Strategy<Value = serde_json::Value> {
    let svc = proptest::sample::select(SERVICES.to_vec());
    (svc, 0u8..10, -6i32..7, 1.0f64..3000.0, 0.0f64..120.0, any::<bool>(), 0u8..3).prop_map(
        |(s, kind, n, rps, ms, b, pick)| match kind {
            0 | 1 => serde_json::json!({"kind": "scale", "service": s, "replicas": if n == 0 { 1 } else { n }}),
            2 => serde_json::json!({"kind": "restart", "service": s, "rolling": b}),
            3 => serde_json::json!({"kind": "rollback", "service": s, "to_version": format!("v{pick}")}),
            4 => serde_json::json!({"kind": "rate_limit", "service": s, "max_rps": rps}),
            5 => serde_json::json!({"kind": "waf_rule", "service": s, "rule": format!("r{pick}"), "mode": if b {"block"} else {"monitor"}, "added_latency_ms": ms}),
            6 => serde_json::json!({"kind": "feature_flag", "service": s, "flag": format!("f{pick}"), "enabled": b}),
            7 => serde_json::json!({"kind": "config", "service": s, "key": format!("k{pick}"), "value": n}),
            8 => serde_json::json!({"kind": "isolate", "service": s}),
            _ => serde_json::json!({"kind": "rotate_credentials", "service": s, "secret": format!("s{pick}")}),
        },
    )
}

fn arb_proposal() -> impl Strategy<Value = serde_json::Value> {
    (0usize..AGENTS.len(), 0u8..10, arb_action(), 0.0f64..1.0, any::<bool>(), 0u8..20, -2.0f64..2.0, 0u32..6)
        .prop_map(|(a, forge, action, conf, rev, late, claim, id)| {
            let (agent, domain) = AGENTS[a];
            let domain = if forge == 0 { "security" } else { domain };
            let (created, expires) = if late == 0 {
                ("2026-11-27T09:00:00Z", "2026-11-27T09:30:00Z")
            } else {
                (NOW, "2026-11-27T10:05:00Z")
            };
            serde_json::json!({
                "id": format!("p{id}"), "agent": agent, "domain": domain, "action": action,
                "confidence": conf, "reversible": rev, "created_at": created, "expires_at": expires,
                "expected": {"cost_per_hour": claim, "capacity_rps": claim * 50.0, "latency_ms": claim * 10.0},
            })
        })
}

#[derive(Debug, Clone)]
struct Window {
    intent: String,
    telemetry: serde_json::Value,
    in_flight: Vec<serde_json::Value>,
    proposals: Vec<serde_json::Value>,
}

fn arb_window() -> impl Strategy<Value = Window> {
    let order = Just(vec!["availability", "latency", "security", "cost"]).prop_shuffle();
    let zone = proptest::sample::select(vec![
        "observe",
        "recommend",
        "approve",
        "autonomous",
        "autonomous",
    ]);
    (
        (order, 3.0f64..30.0, 0.02f64..1.0, 1u32..4, 1.0f64..1.6, 150.0f64..700.0),
        (zone.clone(), zone.clone(), zone, any::<bool>(), proptest::sample::select(SERVICES[..11].to_vec())),
        (100.0f64..2500.0, 100.0f64..1200.0, any::<bool>(), 0.0f64..0.5),
        proptest::collection::vec(arb_action(), 0..3),
        proptest::collection::vec(arb_proposal(), 1..24),
    )
        .prop_map(|(i, z, t, in_flight, proposals)| {
            let (order, budget, blast, changes, headroom, slo) = i;
            let (zc, zs, zr, freeze, frozen) = z;
            let mut intent = format!(
                "name = \"prop\"\npriorities = {order:?}\ncapacity = {{ headroom = {headroom} }}\n\
                 slo = [{{ service = \"frontend\", p99_latency_ms = {slo} }}]\n\
                 budget = {{ max_cost_per_hour = {budget} }}\n\
                 blast_radius = {{ max_entry_traffic_share = {blast}, max_changes_per_service = {changes} }}\n\
                 [autonomy]\ndefault = \"autonomous\"\ncost = {{ \"*\" = \"{zc}\" }}\nsecurity = {{ \"*\" = \"{zs}\" }}\nresilience = {{ \"*\" = \"{zr}\" }}\n"
            );
            if freeze {
                intent.push_str(&format!(
                    "[[freeze]]\nname = \"f\"\nstart = 2026-11-27T00:00:00Z\nend = 2026-11-28T00:00:00Z\nservices = [\"{frozen}\"]\n"
                ));
            }
            let (forecast, load, attack, errors) = t;
            let telemetry = serde_json::json!({"services": {
                "frontend": {"forecast_rps": forecast, "load_rps": load, "under_attack": attack},
                "paymentservice": {"error_rate": errors},
            }});
            let in_flight = in_flight
                .into_iter()
                .filter(|a| a["service"] != "nosuchservice")
                .map(|a| serde_json::json!({"domain": "resilience", "action": a}))
                .collect();
            Window { intent, telemetry, in_flight, proposals }
        })
}

struct Fixture {
    graph: ServiceGraph,
    world: World,
    intent: Intent,
    roles: Roles,
    in_flight: Vec<InFlight>,
    subs: Vec<Submission>,
}

fn fixture(w: &Window) -> Fixture {
    let graph = boutique();
    let t: Telemetry = serde_json::from_value(w.telemetry.clone()).unwrap();
    let world = World::observed(&graph, &t).unwrap();
    let intent = parse_intent("prop.toml", &w.intent).unwrap();
    let roles = parse_roles("agents.toml", ROLES).unwrap();
    let in_flight = w
        .in_flight
        .iter()
        .map(|f| InFlight {
            key: "in-flight".into(),
            domain: serde_json::from_value(f["domain"].clone()).unwrap(),
            action: serde_json::from_value(f["action"].clone()).unwrap(),
        })
        .collect();
    let subs = w.proposals.iter().map(proposal).collect();
    Fixture {
        graph,
        world,
        intent,
        roles,
        in_flight,
        subs,
    }
}

fn run(f: &Fixture) -> Vec<Decision> {
    let ctx = Context {
        graph: &f.graph,
        world: &f.world,
        intent: Some(&f.intent),
        roles: &f.roles,
        in_flight: &f.in_flight,
        budget_granted: 0.0,
        now: now(),
    };
    decide(&ctx, &f.subs, &Ledger::default(), &SolverConfig::default())
}

/// Changes that can fail requests through the service: a rolling restart of several replicas
/// cannot (its temporary dip is a capacity matter).
fn disruptive(a: &Action, replicas: u32) -> bool {
    match a {
        Action::Restart { rolling, .. } => !rolling || replicas < 2,
        _ => matches!(
            a,
            Action::Rollback { .. } | Action::Isolate { .. } | Action::RotateCredentials { .. }
        ),
    }
}

fn contradict(a: &Action, b: &Action) -> bool {
    use Action::*;
    match (a, b) {
        // An isolated service is given no capacity to serve more; anything else may go on.
        (Isolate { .. }, Scale { replicas, .. }) | (Scale { replicas, .. }, Isolate { .. }) => {
            *replicas > 0
        }
        (Isolate { .. }, _) | (_, Isolate { .. }) => false,
        (Scale { replicas: x, .. }, Scale { replicas: y, .. }) => x.signum() != y.signum(),
        (
            FeatureFlag {
                flag: f,
                enabled: x,
                ..
            },
            FeatureFlag {
                flag: g,
                enabled: y,
                ..
            },
        ) => f == g && x != y,
        (Rollback { to_version: x, .. }, Rollback { to_version: y, .. }) => x != y,
        _ => false,
    }
}

fn cost(g: &ServiceGraph, p: &Proposal) -> f64 {
    match &p.action {
        Action::Scale { service, replicas } => {
            *replicas as f64
                * g.service(g.index_of(service).unwrap())
                    .cost_per_replica_hour
        }
        _ => p.expected.cost_per_hour.unwrap_or(0.0).max(0.0),
    }
}

/// The hard limits, checked on what was approved, from the contract's point of view.
fn check_hard_limits(f: &Fixture, decisions: &[Decision]) -> Result<(), String> {
    let g = &f.graph;
    let i = &f.intent;
    // A replayed (agent, id) carries the first payload's decision: judge first occurrences.
    // What executes is the decision's action when it amends the proposal.
    let mut seen = BTreeSet::new();
    let executed: Vec<Proposal> = f
        .subs
        .iter()
        .zip(decisions)
        .filter_map(|(s, d)| s.as_ref().ok().map(|p| (p, d)))
        .filter(|(p, _)| seen.insert((p.agent.clone(), p.id.clone())))
        .filter(|(_, d)| d.verdict == Verdict::Approved)
        .map(|(p, d)| {
            let mut p = p.clone();
            if let Some(a) = &d.action {
                p.action = a.clone();
            }
            p
        })
        .collect();
    let approved: Vec<&Proposal> = executed.iter().collect();
    for p in &approved {
        let role = f
            .roles
            .agents
            .get(&p.agent)
            .ok_or(format!("{} approved without a role", p.key()))?;
        if !role.domains.contains(&p.domain)
            || role
                .kinds
                .as_ref()
                .is_some_and(|k| !k.contains(&p.action.kind()))
            || !role.allows_service(p.action.service())
        {
            return Err(format!("{} approved outside its role", p.key()));
        }
        if p.expires_at <= now() {
            return Err(format!("{} approved after it expired", p.key()));
        }
        if i.freezes
            .iter()
            .any(|fr| fr.covers(now(), p.action.kind(), p.action.service()))
        {
            return Err(format!("{} approved during a freeze", p.key()));
        }
    }
    // Budget: approved spend within what the budget leaves after spend now and in flight.
    let spend: f64 = g
        .services()
        .iter()
        .zip(&f.world.services)
        .map(|(a, s)| a.cost_per_replica_hour * s.replicas as f64)
        .sum();
    let in_flight_cost: f64 = f
        .in_flight
        .iter()
        .map(|x| match &x.action {
            Action::Scale { service, replicas } => {
                *replicas as f64
                    * g.service(g.index_of(service).unwrap())
                        .cost_per_replica_hour
            }
            _ => 0.0,
        })
        .sum();
    let budget = i.max_cost_per_hour.unwrap();
    let approved_cost: f64 = approved.iter().map(|p| cost(g, p)).sum();
    if approved_cost > 1e-9 && approved_cost > (budget - spend - in_flight_cost).max(0.0) + 1e-6 {
        return Err(format!(
            "approved spend {approved_cost} exceeds the budget left {}",
            budget - spend - in_flight_cost
        ));
    }
    // Blast radius: entry traffic through newly disrupted services.
    let replicas = |s: &str| f.world.services[g.index_of(s).unwrap()].replicas;
    let busy: BTreeSet<&str> = f
        .in_flight
        .iter()
        .filter(|x| disruptive(&x.action, replicas(x.action.service())))
        .map(|x| x.action.service())
        .collect();
    let used: f64 = busy
        .iter()
        .map(|s| g.traffic_share(g.index_of(s).unwrap()))
        .sum();
    // A repair of a failing service is not held to the limit (PROTOCOL.md, section 2).
    let failing = |s: &str| {
        let st = &f.world.services[g.index_of(s).unwrap()];
        !st.healthy || st.error_rate >= 0.01
    };
    let repair = |a: &Action| match a {
        Action::Rollback { service, .. } => failing(service),
        Action::Restart { service, .. } => !f.world.services[g.index_of(service).unwrap()].healthy,
        _ => false,
    };
    let fresh: BTreeSet<&str> = approved
        .iter()
        .filter(|p| disruptive(&p.action, replicas(p.action.service())) && !repair(&p.action))
        .map(|p| p.action.service())
        .filter(|s| !busy.contains(s))
        .collect();
    let added: f64 = fresh
        .iter()
        .map(|s| g.traffic_share(g.index_of(s).unwrap()))
        .sum();
    if added > 0.0 && used + added > i.blast.max_entry_traffic_share + 1e-9 {
        return Err(format!(
            "disruptive changes touch {} of entry traffic, limit {}",
            used + added,
            i.blast.max_entry_traffic_share
        ));
    }
    // Changes per service, and no contradictions.
    let mut per: BTreeMap<&str, Vec<&Proposal>> = BTreeMap::new();
    for p in &approved {
        per.entry(p.action.service()).or_default().push(p);
    }
    for (s, ps) in &per {
        let in_flight = f
            .in_flight
            .iter()
            .filter(|x| x.action.service() == *s)
            .count();
        if ps.len() + in_flight > i.blast.max_changes_per_service as usize {
            return Err(format!("{} changes on {s} at once", ps.len() + in_flight));
        }
        for (k, a) in ps.iter().enumerate() {
            for b in &ps[k + 1..] {
                if contradict(&a.action, &b.action) {
                    return Err(format!(
                        "contradictory {} and {} both approved",
                        a.key(),
                        b.key()
                    ));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn approved_set_never_breaks_a_hard_limit(w in arb_window()) {
        let f = fixture(&w);
        let decisions = run(&f);
        prop_assert_eq!(decisions.len(), f.subs.len());
        if let Err(e) = check_hard_limits(&f, &decisions) {
            return Err(TestCaseError::fail(format!("{e}\nintent:\n{}\ndecisions:\n{}", w.intent,
                decisions.iter().map(|d| serde_json::to_string(d).unwrap()).collect::<Vec<_>>().join("\n"))));
        }
        for d in &decisions {
            prop_assert!(!d.reasons.is_empty() && !d.explanation.is_empty());
        }
    }

    #[test]
    fn the_same_window_gives_the_same_bytes(w in arb_window()) {
        let f = fixture(&w);
        let a: Vec<String> = run(&f).iter().map(|d| serde_json::to_string(d).unwrap()).collect();
        let b: Vec<String> = run(&f).iter().map(|d| serde_json::to_string(d).unwrap()).collect();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_proposal(&bytes);
    }

    #[test]
    fn mangled_proposals_are_refused_or_valid(p in arb_proposal(), key in proptest::sample::select(vec!["v", "id", "agent", "domain", "action", "confidence", "reversible", "created_at", "expires_at", "expected", "evidence", "rationale"]), junk in prop_oneof![
        Just(serde_json::Value::Null), Just(serde_json::json!(-1)), Just(serde_json::json!(1e308)), Just(serde_json::json!("")),
        Just(serde_json::json!([])), Just(serde_json::json!({"kind": "scale"})), Just(serde_json::json!("2026-13-45T99:00:00Z")),
        ".{0,40}".prop_map(serde_json::Value::String),
    ]) {
        let mut full = serde_json::json!({"v": 1, "confidence": 0.5, "reversible": true, "created_at": NOW, "expires_at": "2026-11-27T10:05:00Z"});
        for (k, v) in p.as_object().unwrap() { full[k] = v.clone(); }
        full[key] = junk;
        match parse_proposal(full.to_string().as_bytes()) {
            Ok(ok) => {
                prop_assert!((0.0..=1.0).contains(&ok.confidence));
                prop_assert!(ok.created_at < ok.expires_at);
            }
            Err(e) => prop_assert!(!e.problems.is_empty()),
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_file_loaders(text in "\\PC{0,400}") {
        let _ = parse_intent("x.toml", &text);
        let _ = parse_roles("agents.toml", &text);
        let _ = arbiter::graph::parse_links_pub("g.json", &text);
        let _ = arbiter::graph::parse_overlay_pub("o.toml", &text);
    }
}

#[test]
fn hostile_payloads_get_specific_codes() {
    let deep = "[".repeat(60_000);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (deep.into_bytes(), "malformed_json"),
        (vec![b' '; 70 * 1024], "too_large"),
        (vec![0xff, 0xfe, b'{'], "malformed_json"),
        (b"[1,2,3]".to_vec(), "malformed_json"),
        (br#"{"v":1,"id":"x","agent":"a","domain":"cost","action":{"kind":"scale","service":"s","replicas":1},"confidence":1e999,"reversible":true,"created_at":"2026-11-27T10:00:00Z","expires_at":"2026-11-27T10:05:00Z"}"#.to_vec(), "malformed_json"),
        (br#"{"v":2,"id":"x","agent":"a","domain":"cost","action":{"kind":"scale","service":"s","replicas":1},"confidence":0.5,"reversible":true,"created_at":"2026-11-27T10:00:00Z","expires_at":"2026-11-27T10:05:00Z"}"#.to_vec(), "unsupported_version"),
        (br#"{"v":1,"id":"x","agent":"a b","domain":"cost","action":{"kind":"scale","service":"s","replicas":1},"confidence":0.5,"reversible":true,"created_at":"2026-11-27T10:00:00Z","expires_at":"2026-11-27T10:05:00Z"}"#.to_vec(), "bad_identifier"),
        (br#"{"v":1,"id":"x","agent":"a","domain":"cost","action":{"kind":"scale","service":"s","replicas":1},"confidence":0.5,"reversible":true,"created_at":"yesterday","expires_at":"2026-11-27T10:05:00Z"}"#.to_vec(), "bad_timestamp"),
        (br#"{"v":1,"id":"x","agent":"a","domain":"cost","action":{"kind":"scale","service":"s","replicas":1},"confidence":0.5,"reversible":true,"created_at":"2026-11-27T10:00:00Z","expires_at":"2026-11-27T10:00:00Z"}"#.to_vec(), "out_of_range"),
        (br#"{"v":1,"id":"x","agent":"a","domain":"cost","action":{"kind":"scale","service":"s","replicas":1,"extra":true},"confidence":0.5,"reversible":true,"created_at":"2026-11-27T10:00:00Z","expires_at":"2026-11-27T10:05:00Z"}"#.to_vec(), "unknown_field"),
        (br#"{"v":1,"id":"x","agent":"a","domain":"cost","action":{"kind":"reroute","service":"s","share":1.5,"to":"s"},"confidence":0.5,"reversible":true,"created_at":"2026-11-27T10:00:00Z","expires_at":"2026-11-27T10:05:00Z"}"#.to_vec(), "out_of_range"),
    ];
    for (bytes, code) in cases {
        let err = parse_proposal(&bytes).expect_err("hostile payload refused");
        let codes: Vec<&str> = err.problems.iter().map(|p| p.code.as_str()).collect();
        assert!(
            codes.contains(&code),
            "expected {code}, got {codes:?} ({err})"
        );
    }
}

#[test]
fn a_replayed_id_gets_the_recorded_decision_even_in_a_later_window() {
    let graph = boutique();
    let world = World::baseline(&graph);
    let intent = parse_intent(
        "i.toml",
        "name = \"i\"\n[autonomy]\ndefault = \"autonomous\"",
    )
    .unwrap();
    let roles = parse_roles("agents.toml", ROLES).unwrap();
    let ctx = Context {
        graph: &graph,
        world: &world,
        intent: Some(&intent),
        roles: &roles,
        in_flight: &[],
        budget_granted: 0.0,
        now: now(),
    };
    let first = vec![proposal(
        &serde_json::json!({"id": "x", "agent": "cost-optimizer-1", "domain": "cost", "action": {"kind": "scale", "service": "emailservice", "replicas": -1}}),
    )];
    let mut ledger = Ledger::default();
    let d1 = decide(&ctx, &first, &ledger, &SolverConfig::default());
    ledger.record(&d1[0]);
    // Same (agent, id), different payload, later: the recorded answer, not a new decision.
    let later = Context {
        now: now().plus_millis(60_000),
        ..ctx
    };
    let second = vec![proposal(
        &serde_json::json!({"id": "x", "agent": "cost-optimizer-1", "domain": "cost", "action": {"kind": "scale", "service": "emailservice", "replicas": 3}, "expires_at": "2026-11-27T10:09:00Z"}),
    )];
    let d2 = decide(&later, &second, &ledger, &SolverConfig::default());
    assert_eq!(
        serde_json::to_string(&d1[0]).unwrap(),
        serde_json::to_string(&d2[0]).unwrap()
    );
}
