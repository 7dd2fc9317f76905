//! The simulator: reproducible, honest baselines, and coordination that pays on every shipped
//! scenario — measured by the world model.

mod common;

use arbiter::contract::parse_proposal;
use arbiter::sim::run::static_gate;
use arbiter::sim::scenario::Scenario;
use arbiter::sim::simulate;
use common::repo;
use std::collections::BTreeMap;

const SCENARIOS: [&str; 3] = [
    "scenarios/sales-surge.toml",
    "scenarios/surge-attack.toml",
    "scenarios/surge-bad-deploy.toml",
];

fn report(path: &str) -> arbiter::sim::report::Report {
    let sc = Scenario::load(&repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    simulate(&sc, |_, _, _| {})
}

#[test]
fn the_same_seed_gives_the_same_report_bytes() {
    let a = serde_json::to_string(&report(SCENARIOS[0])).unwrap();
    let b = serde_json::to_string(&report(SCENARIOS[0])).unwrap();
    assert_eq!(a, b);
}

/// A person's load is the questions on their desk: an agent resending a refused or waiting
/// action asks nothing new, while the same relative change asked again after the first was
/// carried out (one more replica off) is a new question.
#[test]
fn escalations_are_a_share_of_distinct_asks_and_a_resend_is_not_a_new_ask() {
    let r = report(SCENARIOS[0]);
    let a = r.strategy("arbiter").unwrap();
    let escalated = a.verdicts.get("escalated").copied().unwrap_or(0);
    assert!(
        a.distinct_proposals < a.proposals,
        "the agents resend what the arbiter refused: {} asks in {} proposals",
        a.distinct_proposals,
        a.proposals
    );
    assert!(escalated > 0 && a.distinct_escalated > 0 && a.distinct_escalated <= escalated);
    let share = 100.0 * a.distinct_escalated as f64 / a.distinct_proposals as f64;
    assert_eq!(a.escalated_pct(), share);
    assert!(share > 100.0 * escalated as f64 / a.proposals as f64);
    // Every proposal a baseline receives is carried out: each one after it is a new ask.
    let u = r.strategy("uncoordinated").unwrap();
    assert_eq!(u.distinct_proposals, u.proposals);
    assert_eq!(u.escalated_pct(), 0.0);
}

#[test]
fn the_arbiter_beats_the_uncoordinated_and_static_baselines_on_every_shipped_scenario() {
    let mut failures = Vec::new();
    for path in SCENARIOS {
        let r = report(path);
        let by: BTreeMap<&str, &arbiter::sim::report::StrategyReport> = r
            .strategies
            .iter()
            .map(|s| (s.strategy.as_str(), s))
            .collect();
        let arbiter = by["arbiter"];
        for baseline in ["uncoordinated", "static-priority"] {
            let b = by[baseline];
            if arbiter.slo_minutes_total() >= b.slo_minutes_total() {
                failures.push(format!(
                    "{path}: SLO minutes arbiter {} vs {baseline} {}",
                    arbiter.slo_minutes_total(),
                    b.slo_minutes_total()
                ));
            }
            if arbiter.revenue_lost >= b.revenue_lost {
                failures.push(format!(
                    "{path}: revenue lost arbiter {} vs {baseline} {}",
                    arbiter.revenue_lost, b.revenue_lost
                ));
            }
        }
        // Against predictive autoscaling with the same forecast, revenue is what the shop
        // loses: the arbiter must lose less, and be late on its SLOs no longer.
        let predictive = by["predictive"];
        if arbiter.revenue_lost >= predictive.revenue_lost {
            failures.push(format!(
                "{path}: revenue lost arbiter {} vs predictive {}",
                arbiter.revenue_lost, predictive.revenue_lost
            ));
        }
        if arbiter.slo_minutes_total() > predictive.slo_minutes_total() {
            failures.push(format!(
                "{path}: SLO minutes arbiter {} vs predictive {}",
                arbiter.slo_minutes_total(),
                predictive.slo_minutes_total()
            ));
        }
        if arbiter.exposure_min > predictive.exposure_min {
            failures.push(format!(
                "{path}: attack exposure arbiter {} min vs predictive {}",
                arbiter.exposure_min, predictive.exposure_min
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_oracle_is_the_limit_and_the_report_says_what_share_of_it_the_arbiter_captured() {
    let mut failures = Vec::new();
    for path in SCENARIOS {
        let r = report(path);
        let oracle = r
            .strategies
            .iter()
            .find(|s| s.strategy == "oracle")
            .unwrap();
        assert_eq!(oracle.proposals, 0, "{path}: the oracle runs no agents");
        for s in r.strategies.iter().filter(|s| s.strategy != "oracle") {
            if oracle.slo_minutes_total() > s.slo_minutes_total() {
                failures.push(format!(
                    "{path}: SLO minutes oracle {} vs {} {}",
                    oracle.slo_minutes_total(),
                    s.strategy,
                    s.slo_minutes_total()
                ));
            }
            if oracle.revenue_lost > s.revenue_lost {
                failures.push(format!(
                    "{path}: revenue lost oracle {} vs {} {}",
                    oracle.revenue_lost, s.strategy, s.revenue_lost
                ));
            }
        }
        let c = r.captured.as_ref().expect("every strategy ran");
        let by = |n: &str| r.strategies.iter().find(|s| s.strategy == n).unwrap();
        let (best, arbiter) = (by(&c.revenue_best_baseline), by("arbiter"));
        let expected =
            (best.revenue_lost - arbiter.revenue_lost) / (best.revenue_lost - oracle.revenue_lost);
        let got = c
            .revenue_lost
            .expect("the oracle loses less than any baseline");
        assert!((got - expected).abs() < 1e-3, "{path}: {got} vs {expected}");
        assert!(r.table().contains("share of the achievable improvement"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_strategy_says_which_agents_it_ran_and_only_planners_get_the_forecast() {
    let r = report(SCENARIOS[0]);
    let agents: BTreeMap<&str, &str> = r
        .strategies
        .iter()
        .map(|s| (s.strategy.as_str(), s.agents.as_str()))
        .collect();
    assert!(agents["uncoordinated"].contains("what they observe now"));
    assert!(agents["static-priority"].contains("what they observe now"));
    assert!(agents["predictive"].contains("forecast"));
    assert!(agents["arbiter"].contains("forecast"));
    // Scaling ahead on the forecast shows: predictive agents ask for more than reactive ones
    // before the surge arrives.
    let by: BTreeMap<&str, &arbiter::sim::report::StrategyReport> = r
        .strategies
        .iter()
        .map(|s| (s.strategy.as_str(), s))
        .collect();
    let early = |s: &arbiter::sim::report::StrategyReport| s.series.cost_per_hour[12];
    assert!(early(by["predictive"]) > early(by["uncoordinated"]));
}

#[test]
fn uncoordinated_executes_every_proposal() {
    let r = report(SCENARIOS[0]);
    let u = &r.strategies[0];
    assert_eq!(u.strategy, "uncoordinated");
    assert!(u.proposals > 0);
    assert_eq!(u.verdicts.get("approved").copied(), Some(u.proposals));
    assert_eq!(u.verdicts.len(), 1);
}

#[test]
fn the_static_gate_orders_by_domain_and_allows_one_change_per_service_without_a_graph() {
    let p = |id: &str, agent: &str, domain: &str, service: &str, replicas: i32| {
        parse_proposal(
            serde_json::json!({"v": 1, "id": id, "agent": agent, "domain": domain,
                "action": {"kind": "scale", "service": service, "replicas": replicas},
                "confidence": 0.9, "reversible": true,
                "created_at": "2026-11-27T10:00:00Z", "expires_at": "2026-11-27T10:05:00Z"})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    // Services no graph knows: the gate never looks them up.
    let proposals = vec![
        p("a", "cost-1", "cost", "not-in-any-graph", -1),
        p("b", "res-1", "resilience", "not-in-any-graph", 2),
        p("c", "cost-1", "cost", "elsewhere", -1),
    ];
    let mut memory = BTreeMap::new();
    let out = static_gate(proposals, &mut memory, 100, 5);
    let passed: Vec<(&str, bool)> = out.iter().map(|(p, ok)| (p.id.as_str(), *ok)).collect();
    assert_eq!(passed, vec![("b", true), ("a", false), ("c", true)]);
    // Within the settle time the service stays taken; after it, it is free again.
    let again = static_gate(
        vec![p("d", "cost-1", "cost", "elsewhere", -1)],
        &mut memory,
        104,
        5,
    );
    assert!(!again[0].1);
    let later = static_gate(
        vec![p("e", "cost-1", "cost", "elsewhere", -1)],
        &mut memory,
        105,
        5,
    );
    assert!(later[0].1);
}

/// How the shipped scenarios declare their forecast's error.
const SHIPPED_FORECAST: &str = "[forecast]\nbias = 0.0\nnoise = 0.2";

/// A shipped scenario's text with its paths made absolute, to be written anywhere.
fn local_copy(path: &str) -> String {
    std::fs::read_to_string(repo(path))
        .unwrap()
        .replace(
            "intents = \"../intents\"",
            &format!("intents = \"{}\"", repo("intents").display()),
        )
        .replace(
            "links = \"online-boutique/graph.json\"",
            &format!(
                "links = \"{}\"",
                repo("scenarios/online-boutique/graph.json").display()
            ),
        )
        .replace(
            "overlay = \"online-boutique/overlay.toml\"",
            &format!(
                "overlay = \"{}\"",
                repo("scenarios/online-boutique/overlay.toml").display()
            ),
        )
}

#[test]
fn the_forecast_error_reaches_only_the_strategies_that_plan_and_never_the_traffic() {
    let dir = std::env::temp_dir().join(format!("arbiter-fc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |forecast: &str| {
        let p = dir.join("f.toml");
        let text = local_copy(SCENARIOS[0]).replace(SHIPPED_FORECAST, forecast);
        assert!(
            text.contains(forecast),
            "the copy has a forecast to replace"
        );
        std::fs::write(&p, text).unwrap();
        let sc = Scenario::load(&p).unwrap();
        simulate(&sc, |_, _, _| {})
    };
    let exact = run("[forecast]\nbias = 0.0\nnoise = 0.0");
    let low = run("[forecast]\nbias = -0.4\nnoise = 0.0");
    let by = |r: &arbiter::sim::report::Report, name: &str| {
        serde_json::to_string(r.strategies.iter().find(|s| s.strategy == name).unwrap()).unwrap()
    };
    // The same traffic and the same reactive agents: not a byte differs.
    for blind in ["uncoordinated", "static-priority"] {
        assert_eq!(by(&exact, blind), by(&low, blind), "{blind}");
    }
    // A forecast 40% low is what the planners were given, and it shows.
    for planner in ["predictive", "arbiter"] {
        assert_ne!(by(&exact, planner), by(&low, planner), "{planner}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn scenario_errors_name_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("arbiter-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = local_copy(SCENARIOS[0]);
    let write = |t: &str| {
        let p = dir.join("s.toml");
        std::fs::write(&p, t).unwrap();
        Scenario::load(&p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(write(&text).is_empty(), "the copy loads: {}", write(&text));
    let e = write(&text.replace("peak = 3.5", "peak = 0.5"));
    assert!(
        e.contains("s.toml:") && e.contains("traffic.frontend.peak: must be within [1, 100]"),
        "{e}"
    );
    let e = write(&text.replace(SHIPPED_FORECAST, "[forecast]\nnoise = 1.5"));
    assert!(
        e.contains("s.toml:") && e.contains("forecast.noise: must be within [0, 1)"),
        "{e}"
    );
    let e = write(&text.replace("tick_s = 60", "tick_s = 60\ntick_z = 1"));
    assert!(
        e.contains("s.toml:") && e.contains("unknown field `tick_z`"),
        "{e}"
    );
    let e = write(&text.replace("policy = \"follow\"", "policy = \"maybe\""));
    assert!(e.contains("approver.policy"), "{e}");
    let e = write(&text.replace(
        "stops_calling = \"recommendationservice\"",
        "stops_calling = \"recommendations\"",
    ));
    assert!(
        e.contains("s.toml:")
            && e.contains("agents.flag.stops_calling: `recommendations` is not in the graph"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The numbers a report compares strategies on, without the names of services in it.
fn figures(r: &arbiter::sim::report::Report) -> Vec<String> {
    r.strategies
        .iter()
        .map(|s| {
            format!(
                "{} slo {:.1} lost {:.0} cost {:.2} exposure {:.1} proposals {} {:?}",
                s.strategy,
                s.slo_minutes_total(),
                s.revenue_lost,
                s.cost,
                s.exposure_min,
                s.proposals,
                s.verdicts
            )
        })
        .collect()
}

#[test]
fn the_agents_know_no_shop_by_name_a_renamed_shop_plays_the_same_day() {
    let dir = std::env::temp_dir().join(format!("arbiter-renamed-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("intents")).unwrap();
    let shop = Scenario::load(&repo(SCENARIOS[0])).unwrap();
    // New names in the same sort order, longest old names replaced first.
    let mut names: Vec<String> = shop
        .graph
        .services()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    names.sort();
    let renamed: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), format!("s{i:02}-renamed")))
        .collect();
    let mut longest_first = renamed.clone();
    longest_first.sort_by_key(|(old, _)| std::cmp::Reverse(old.len()));
    let rename = |text: String| {
        longest_first
            .iter()
            .fold(text, |t, (old, new)| t.replace(old.as_str(), new))
    };
    for f in [
        "agents.toml",
        "approvers.toml",
        "baseline.toml",
        "black-friday-2026.toml",
    ] {
        let text = std::fs::read_to_string(repo(&format!("intents/{f}"))).unwrap();
        std::fs::write(dir.join("intents").join(f), rename(text)).unwrap();
    }
    for f in ["graph.json", "overlay.toml"] {
        let text =
            std::fs::read_to_string(repo(&format!("scenarios/online-boutique/{f}"))).unwrap();
        std::fs::write(dir.join(f), rename(text)).unwrap();
    }
    let scenario = rename(std::fs::read_to_string(repo(SCENARIOS[0])).unwrap())
        .replace("intents = \"../intents\"", "intents = \"intents\"")
        .replace("online-boutique/", "");
    assert!(
        !names.iter().any(|n| scenario.contains(n.as_str())),
        "{scenario}"
    );
    std::fs::write(dir.join("s.toml"), scenario).unwrap();
    let other = Scenario::load(&dir.join("s.toml")).unwrap();
    let (a, b) = (
        simulate(&shop, |_, _, _| {}),
        simulate(&other, |_, _, _| {}),
    );
    assert_eq!(figures(&a), figures(&b));
    assert!(
        b.strategies[0]
            .slo_violation_min
            .keys()
            .all(|k| k.ends_with("-renamed")),
        "{:?}",
        b.strategies[0].slo_violation_min
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bare_jaeger_export_without_overlay_simulates() {
    let dir = std::env::temp_dir().join(format!("arbiter-bare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("links.json"),
        r#"{"data": [{"parent": "web", "child": "orders", "callCount": 50},
                     {"parent": "web", "child": "search", "callCount": 400},
                     {"parent": "orders", "child": "db", "callCount": 100},
                     {"parent": "search", "child": "db", "callCount": 400}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("s.toml"),
        format!(
            "name = \"bare\"\nseed = 1\nduration_h = 6\nstart = \"2026-11-27T06:00:00Z\"\nintents = \"{}\"\n\
             [graph]\nlinks = \"links.json\"\n[traffic.web]\nbaseline_rps = 80.0\nramp_start_h = 1.0\npeak = 3.0\nhold_h = 2.0\n\
             [economics]\norder_service = \"orders\"\n",
            repo("intents").display()
        ),
    )
    .unwrap();
    let sc = Scenario::load(&dir.join("s.toml")).unwrap();
    let r = simulate(&sc, |_, _, _| {});
    assert_eq!(r.strategies.len(), arbiter::sim::run::Strategy::ALL.len());
    assert!(r.strategies.iter().all(|s| s.revenue > 0.0 && s.cost > 0.0));

    // A zone outage from 2h to 3h takes a third of every service's capacity, then returns it.
    let text = std::fs::read_to_string(dir.join("s.toml")).unwrap()
        + "[[event]]\nkind = \"zone_loss\"\nat_h = 2.0\nduration_h = 1.0\nshare = 0.33\n";
    std::fs::write(dir.join("z.toml"), text).unwrap();
    let zone = simulate(&Scenario::load(&dir.join("z.toml")).unwrap(), |_, _, _| {});
    let (calm, hit) = (&r.strategies[0].series, &zone.strategies[0].series);
    let at = |m: f64| calm.minute.iter().position(|x| *x == m).unwrap();
    let (before, during, after) = (at(110.0), at(150.0), at(200.0));
    assert_eq!(
        hit.order_capacity_rps[before],
        calm.order_capacity_rps[before]
    );
    assert!(hit.order_capacity_rps[during] < calm.order_capacity_rps[during] * 0.7);
    assert!(zone.strategies[0].revenue_lost > r.strategies[0].revenue_lost);
    assert!(
        hit.order_capacity_rps[after] >= calm.order_capacity_rps[after] * 0.99
            || hit.order_capacity_rps[after] > hit.order_capacity_rps[during]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
