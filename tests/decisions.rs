//! The decision table: hand-checked cases drawn from the field's seed stories, each asserting
//! verdicts and reason codes. Cases live in `tests/cases.toml`; adding one is one entry.

mod common;

use arbiter::contract::{Telemetry, Timestamp};
use arbiter::engine::{decide_window, Context, InFlight, Ledger, SolverConfig};
use arbiter::intent::{parse_intent, parse_roles};
use arbiter::world::World;
use common::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    base: Base,
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Base {
    intent: toml::Table,
    roles: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    story: String,
    /// Overrides merged into the base intent.
    #[serde(default)]
    intent: toml::Table,
    #[serde(default)]
    no_intent: bool,
    /// A custom graph instead of the retail shop.
    #[serde(default)]
    links: Vec<(String, String, f64)>,
    #[serde(default)]
    overlay: String,
    #[serde(default)]
    telemetry: Option<toml::Value>,
    #[serde(default)]
    in_flight: Vec<toml::Value>,
    /// Overspend people granted beyond the budget, per hour.
    #[serde(default)]
    budget_granted: f64,
    now: Option<String>,
    proposals: Vec<toml::Value>,
    expect: Vec<Expect>,
    /// How many independent components the window must split into.
    components: Option<usize>,
    /// Windows decided after the first, as the service decides them (by its coordinator,
    /// which remembers answers): their proposals are numbered after those before them.
    #[serde(default)]
    later: Vec<Later>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Later {
    /// Seconds after the first window.
    at_s: i64,
    proposals: Vec<toml::Value>,
    #[serde(default)]
    telemetry: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// Position of the proposal in `proposals`.
    at: usize,
    verdict: String,
    #[serde(default)]
    codes: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    merged_into: Option<String>,
    recommendation: Option<arbiter::contract::Recommendation>,
    /// This decision must equal the one at that position, byte for byte.
    same_as: Option<usize>,
    /// The decision amends a scale action to this many replicas.
    replicas: Option<i32>,
}

fn run(case: &Case, base: &Base) -> Result<(), String> {
    let graph = if case.links.is_empty() {
        boutique()
    } else {
        graph_from(&case.links, &case.overlay)
    };
    let telemetry: Telemetry = case
        .telemetry
        .as_ref()
        .map(|t| serde_json::from_value(to_json(t)).expect("case telemetry"))
        .unwrap_or_default();
    let world = World::observed(&graph, &telemetry).map_err(|e| e.to_string())?;
    let mut intent_table = base.intent.clone();
    merge(&mut intent_table, &case.intent);
    let intent_text = toml::to_string(&intent_table).unwrap();
    let intent = parse_intent("case.toml", &intent_text).map_err(|e| format!("{e:?}"))?;
    let roles = parse_roles("agents.toml", &base.roles).map_err(|e| format!("{e:?}"))?;
    let in_flight: Vec<InFlight> = case
        .in_flight
        .iter()
        .map(|f| {
            let j = to_json(f);
            InFlight {
                key: j["key"].as_str().unwrap_or("in-flight").to_string(),
                domain: serde_json::from_value(j["domain"].clone()).unwrap(),
                action: serde_json::from_value(j["action"].clone()).unwrap(),
            }
        })
        .collect();
    let now = case
        .now
        .as_deref()
        .map(|t| Timestamp::parse(t).unwrap())
        .unwrap_or_else(now);
    let ctx = Context {
        graph: &graph,
        world: &world,
        intent: (!case.no_intent).then_some(&intent),
        roles: &roles,
        in_flight: &in_flight,
        budget_granted: case.budget_granted,
        now,
    };
    let subs: Vec<_> = case
        .proposals
        .iter()
        .map(|p| proposal(&to_json(p)))
        .collect();
    let outcome = decide_window(&ctx, &subs, &Ledger::default(), &SolverConfig::default());
    let decisions = match case.later.is_empty() {
        true => outcome.decisions.clone(),
        false => {
            let intents = arbiter::intent::IntentSet::new(intent_or_none(&intent, case));
            let mut c =
                arbiter::coordinator::Coordinator::new(graph.clone(), intents, roles.clone());
            c.in_flight = in_flight
                .iter()
                .map(|change| arbiter::coordinator::Tracked {
                    change: change.clone(),
                    until: now.plus_millis(c.settle_ms),
                })
                .collect();
            let mut all = window(&mut c, now, &world, &case.proposals);
            for l in &case.later {
                let world = match &l.telemetry {
                    Some(t) => World::observed(
                        &graph,
                        &serde_json::from_value(to_json(t)).expect("case telemetry"),
                    )
                    .map_err(|e| e.to_string())?,
                    None => world.clone(),
                };
                all.extend(window(
                    &mut c,
                    now.plus_millis(l.at_s * 1000),
                    &world,
                    &l.proposals,
                ));
            }
            all
        }
    };
    let mut problems = Vec::new();
    for e in &case.expect {
        let Some(d) = decisions.get(e.at) else {
            problems.push(format!("no proposal at {}", e.at));
            continue;
        };
        let codes: Vec<&str> = d.reasons.iter().map(|r| r.code.as_str()).collect();
        let show = || {
            format!(
                "proposal {} ({}): got {} {:?}\n    {}",
                e.at,
                d.proposal_id,
                d.verdict.as_str(),
                codes,
                d.explanation
            )
        };
        if d.verdict.as_str() != e.verdict {
            problems.push(format!("expected verdict {}; {}", e.verdict, show()));
        }
        for c in &e.codes {
            if !codes.contains(&c.as_str()) {
                problems.push(format!("expected reason {c}; {}", show()));
            }
        }
        for c in &e.absent {
            if codes.contains(&c.as_str()) {
                problems.push(format!("unexpected reason {c}; {}", show()));
            }
        }
        if e.merged_into.is_some() && d.merged_into != e.merged_into {
            problems.push(format!(
                "expected merged_into {:?}, got {:?}; {}",
                e.merged_into,
                d.merged_into,
                show()
            ));
        }
        if e.recommendation.is_some() && d.recommendation != e.recommendation {
            problems.push(format!(
                "expected recommendation {:?}, got {:?}; {}",
                e.recommendation,
                d.recommendation,
                show()
            ));
        }
        if let Some(n) = e.replicas {
            let got = match &d.action {
                Some(arbiter::contract::Action::Scale { replicas, .. }) => Some(*replicas),
                _ => None,
            };
            if got != Some(n) {
                problems.push(format!(
                    "expected the action amended to {n} replicas, got {:?}; {}",
                    d.action,
                    show()
                ));
            }
        }
        if let Some(j) = e.same_as {
            if serde_json::to_string(d).unwrap() != serde_json::to_string(&decisions[j]).unwrap() {
                problems.push(format!(
                    "expected the same decision as proposal {j}; {}",
                    show()
                ));
            }
        }
        if d.explanation.is_empty() || d.reasons.is_empty() {
            problems.push(format!("every decision explains itself; {}", show()));
        }
    }
    if let Some(n) = case.components {
        if outcome.components.len() != n {
            problems.push(format!(
                "expected {n} components, got {:?}",
                outcome
                    .components
                    .iter()
                    .map(|c| &c.proposals)
                    .collect::<Vec<_>>()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

fn intent_or_none(intent: &arbiter::intent::Intent, case: &Case) -> Vec<arbiter::intent::Intent> {
    match case.no_intent {
        true => Vec::new(),
        false => vec![intent.clone()],
    }
}

/// One window of proposals through the coordinator, each on its sender's subject.
fn window(
    c: &mut arbiter::coordinator::Coordinator,
    at: arbiter::contract::Timestamp,
    world: &World,
    proposals: &[toml::Value],
) -> Vec<arbiter::contract::Decision> {
    let inbox: Vec<arbiter::bus::Message> = proposals
        .iter()
        .map(|spec| {
            let p = payload(&to_json(spec));
            arbiter::bus::Message {
                subject: arbiter::bus::proposals_subject_of(
                    p["domain"].as_str().unwrap_or("unknown"),
                    p["agent"].as_str().unwrap_or("unknown"),
                ),
                payload: p.to_string().into_bytes(),
            }
        })
        .collect();
    c.decide(at, world, &inbox)
        .into_iter()
        .map(|a| a.decision)
        .collect()
}

#[test]
fn decision_table() {
    let text = std::fs::read_to_string(repo("tests/cases.toml")).unwrap();
    let file: File = toml::from_str(&text).unwrap();
    assert!(file.case.len() >= 20, "the table holds at least 20 cases");
    let mut failures = Vec::new();
    for case in &file.case {
        if let Err(e) = run(case, &file.base) {
            failures.push(format!("case '{}' ({}):\n  {e}", case.name, case.story));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        file.case.len(),
        failures.join("\n")
    );
}
