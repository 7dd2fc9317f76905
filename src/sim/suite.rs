//! The quality suite: the same comparison on several topologies, each under several kinds of
//! day, with a budget that binds and one that does not — so that what holds on the shipped
//! scenarios is checked on shops the engine was not tuned on.
//!
//! Every case is written out as an ordinary scenario (graph, overlay, intents, traffic,
//! events) and run by [`super::simulate`]: what the suite measures is what `arbiter simulate`
//! would. Topologies are the retail shop and synthetic graphs (`crate::synthetic`); the
//! intents are the shipped ones with an SLO on every entry point (its base path latency × 2.5)
//! and a budget of 3× the shop's normal spend (binding: 1.5×, below what a 3× surge needs).

use super::report::Report;
use super::scenario::{Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// The kinds of day every topology is run under.
pub const DAYS: [&str; 5] = [
    "plain-surge",
    "sharp-surge",
    "bot-attack",
    "bad-release",
    "zone-loss",
];

/// One case: a topology, a kind of day, and whether the budget binds.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub topology: String,
    pub day: &'static str,
    pub budget_binds: bool,
}

/// The topologies: the retail shop, and synthetic graphs of (services, seed).
pub fn topologies(quick: bool) -> Vec<(String, Option<(usize, u64)>)> {
    let mut t = vec![("online-boutique".to_string(), None)];
    if !quick {
        t.push(("synthetic-40".to_string(), Some((40, 7))));
        t.push(("synthetic-150".to_string(), Some((150, 11))));
    }
    t
}

/// Every case of the suite (`quick`: the retail shop only).
pub fn cases(quick: bool) -> Vec<Case> {
    let mut out = Vec::new();
    for (topology, _) in topologies(quick) {
        for day in DAYS {
            for budget_binds in [false, true] {
                out.push(Case {
                    topology: topology.clone(),
                    day,
                    budget_binds,
                });
            }
        }
    }
    out
}

/// Writes the case's scenario under `dir` and runs it.
pub fn run(case: &Case, repo: &Path, dir: &Path) -> Result<Report, ScenarioError> {
    let synthetic = topologies(false)
        .into_iter()
        .find(|(t, _)| *t == case.topology)
        .and_then(|(_, s)| s);
    let dir = dir.join(format!(
        "{}-{}-{}",
        case.topology,
        case.day,
        if case.budget_binds {
            "binding"
        } else {
            "loose"
        }
    ));
    let io = |path: &Path| {
        let p = path.display().to_string();
        move |source| ScenarioError::Io { path: p, source }
    };
    std::fs::create_dir_all(dir.join("intents")).map_err(io(&dir))?;
    let (links, overlay) = match synthetic {
        None => (
            repo.join("scenarios/online-boutique/graph.json"),
            repo.join("scenarios/online-boutique/overlay.toml"),
        ),
        Some((n, seed)) => write_synthetic(&dir, n, seed).map_err(io(&dir))?,
    };
    let graph = crate::graph::ServiceGraph::from_files(&links, Some(&overlay))?;
    write_intents(repo, &dir.join("intents"), &graph, case.budget_binds).map_err(io(&dir))?;
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario_text(case, &graph, &links, &overlay)).map_err(io(&file))?;
    let sc = Scenario::load(&file)?;
    Ok(super::simulate(&sc, |_, _, _| {}))
}

/// Writes the synthetic graph of `n` services from `seed` under `dir` as a Jaeger links file
/// and an overlay (replicas, capacity, latency, cost as the generator made them; entry points
/// with their rate): what a scenario names. Returns (links, overlay).
pub fn write_synthetic(dir: &Path, n: usize, seed: u64) -> std::io::Result<(PathBuf, PathBuf)> {
    let g = crate::synthetic::graph(n, seed);
    let links = dir.join("links.json");
    std::fs::write(
        &links,
        serde_json::to_string(&crate::synthetic::links(n, seed)).expect("links serialise"),
    )?;
    let mut text = String::new();
    for s in g.services() {
        text.push_str(&format!(
            "[services.{}]\ntier = \"{}\"\nreplicas = {}\ncapacity_rps_per_replica = {}\nbase_latency_ms = {}\ncost_per_replica_hour = {}\n",
            s.name, s.tier, s.replicas, s.capacity_rps_per_replica, s.base_latency_ms, s.cost_per_replica_hour
        ));
        if s.is_entry {
            text.push_str(&format!("entry = true\nentry_rps = {}\n", s.entry_rps));
        }
    }
    let overlay = dir.join("overlay.toml");
    std::fs::write(&overlay, text)?;
    Ok((links, overlay))
}

/// The shipped intents, with an SLO on every entry point and the case's budget.
fn write_intents(
    repo: &Path,
    to: &Path,
    graph: &crate::graph::ServiceGraph,
    binds: bool,
) -> std::io::Result<()> {
    let from = repo.join("intents");
    let base: Vec<f64> = graph.services().iter().map(|s| s.base_latency_ms).collect();
    let path = graph.path_latency(&base);
    let spend: f64 = graph
        .services()
        .iter()
        .map(|s| s.cost_per_replica_hour * s.replicas as f64)
        .sum();
    for entry in std::fs::read_dir(&from)? {
        let entry = entry?;
        let name = entry.file_name();
        let mut text = std::fs::read_to_string(entry.path())?;
        if name == "black-friday-2026.toml" || name == "baseline.toml" {
            let mut t: toml::Table = toml::from_str(&text).map_err(std::io::Error::other)?;
            let slos: Vec<toml::Value> = graph
                .entries()
                .iter()
                .map(|&e| {
                    let mut slo = toml::Table::new();
                    slo.insert("service".into(), graph.service(e).name.clone().into());
                    slo.insert(
                        "p99_latency_ms".into(),
                        ((path[e] * 2.5).max(50.0).round()).into(),
                    );
                    toml::Value::Table(slo)
                })
                .collect();
            t.insert("slo".into(), toml::Value::Array(slos));
            let factor = if binds { 1.5 } else { 3.0 };
            let mut budget = toml::Table::new();
            budget.insert(
                "max_cost_per_hour".into(),
                ((spend * factor * 100.0).round() / 100.0).into(),
            );
            t.insert("budget".into(), toml::Value::Table(budget));
            // Freezes and the like name the retail shop's services: not for other shops.
            if graph.index_of("checkoutservice").is_none() {
                t.remove("freeze");
            }
            text = toml::to_string(&t).map_err(std::io::Error::other)?;
        }
        std::fs::write(to.join(&name), text)?;
    }
    Ok(())
}

fn scenario_text(
    case: &Case,
    graph: &crate::graph::ServiceGraph,
    links: &Path,
    overlay: &Path,
) -> String {
    let (peak, ramp_h) = if case.day == "sharp-surge" {
        (6.0, 0.5)
    } else {
        (3.0, 1.5)
    };
    let mut text = format!(
        "name = \"{}-{}\"\nseed = 5\nduration_h = 24\nstart = \"2026-11-27T00:00:00Z\"\nintents = \"intents\"\n\
         [graph]\nlinks = \"{}\"\noverlay = \"{}\"\n",
        case.topology,
        case.day,
        links.display(),
        overlay.display()
    );
    for &e in graph.entries() {
        let s = graph.service(e);
        text.push_str(&format!(
            "[traffic.{}]\nbaseline_rps = {}\ndiurnal = 0.3\nramp_start_h = 9.0\nramp_h = {ramp_h}\npeak = {peak}\nhold_h = 5.0\ndecay_h = 3.0\nnoise = 0.05\n",
            s.name, s.entry_rps
        ));
    }
    let first_entry = &graph.service(graph.entries()[0]).name;
    // The deepest service: the longest route from an entry point through it.
    let deep = (0..graph.len())
        .filter(|&s| !graph.service(s).is_entry)
        .max_by(|&a, &b| graph.base_route_ms(a).total_cmp(&graph.base_route_ms(b)))
        .unwrap_or(graph.entries()[0]);
    match case.day {
        "bot-attack" => text.push_str(&format!(
            "[[event]]\nkind = \"bot_attack\"\nat_h = 12.0\nduration_h = 1.0\nentry = \"{first_entry}\"\nrps = {}\n",
            (graph.service(graph.entries()[0]).entry_rps * 2.0).round()
        )),
        "bad-release" => text.push_str(&format!(
            "[[event]]\nkind = \"bad_deploy\"\nat_h = 10.0\nservice = \"{}\"\nerror_rate = 0.15\n",
            graph.service(deep).name
        )),
        "zone-loss" => text.push_str(
            "[[event]]\nkind = \"zone_loss\"\nat_h = 11.0\nduration_h = 1.0\nshare = 0.33\n",
        ),
        _ => {}
    }
    if graph.index_of("recommendationservice").is_some() {
        text.push_str(
            "[agents.flag]\nname = \"recommendations\"\nstops_calling = \"recommendationservice\"\n",
        );
    }
    let order = graph.index_of("checkoutservice").unwrap_or(graph.len() - 1);
    text.push_str(&format!(
        "[economics]\norder_service = \"{}\"\n",
        graph.service(order).name
    ));
    text
}

/// One line per case: SLO-violation minutes / revenue lost (thousands) / cost per strategy,
/// the arbiter's escalations as a share of its proposals, and its share of the achievable
/// improvement on both measures.
pub fn table(rows: &[(Case, Report)]) -> String {
    let mut out = String::from(
        "topology         day           budget   | SLO min: unco static pred arb oracle | revenue lost k: unco static pred arb oracle | cost: pred arb oracle | esc% | captured slo/rev\n",
    );
    for (c, r) in rows {
        let by = |n: &str| r.strategies.iter().find(|s| s.strategy == n);
        let col = |f: &dyn Fn(&super::report::StrategyReport) -> String| {
            [
                "uncoordinated",
                "static-priority",
                "predictive",
                "arbiter",
                "oracle",
            ]
            .iter()
            .map(|n| by(n).map_or("-".into(), f))
            .collect::<Vec<_>>()
            .join(" ")
        };
        let pct = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0));
        let esc = by("arbiter").map_or(0.0, |a| {
            let e = a.verdicts.get("escalated").copied().unwrap_or(0) as f64;
            100.0 * e / (a.proposals.max(1) as f64)
        });
        let cost = ["predictive", "arbiter", "oracle"]
            .iter()
            .map(|n| by(n).map_or("-".into(), |s| format!("{:.0}", s.cost)))
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "{:16} {:13} {:8} | {} | {} | {} | {:.1} | {}/{}\n",
            c.topology,
            c.day,
            if c.budget_binds { "binding" } else { "loose" },
            col(&|s| format!("{:.0}", s.slo_minutes_total())),
            col(&|s| format!("{:.0}", s.revenue_lost / 1000.0)),
            cost,
            esc,
            pct(r.captured.as_ref().and_then(|c| c.slo_min)),
            pct(r.captured.as_ref().and_then(|c| c.revenue_lost)),
        ));
    }
    out
}
