//! The quality suite: the same comparison on several topologies, each under several kinds of
//! day, with a budget that does not bind, one that binds, and one that binds but is soft — so
//! that what holds on the shipped
//! scenarios is checked on shops the engine was not tuned on.
//!
//! Every case is written out as an ordinary scenario (graph, overlay, intents, traffic,
//! events) and run by [`super::simulate`]: what the suite measures is what `arbiter simulate`
//! would. Topologies are the retail shop, the call graphs of open-source microservice
//! applications (`scenarios/topologies/`, sources in its README), and synthetic graphs
//! (`crate::synthetic`). An application's graph comes with no overlay: every service gets the
//! defaults a graph without one gets, except its replicas, sized as its operators would for
//! its normal load (half of capacity). The intents are the shipped ones with an SLO on every
//! entry point (its base path latency × 2.5) and a budget of 3× the shop's normal spend
//! (binding: 1.5×, below what a 3× surge needs; and the same declared soft).

use super::report::{Report, StrategyReport};
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

/// How the budget of a case stands to the spend a surge needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// 3× the normal spend: more than a 3× surge needs.
    Loose,
    /// 1.5×: less than a 3× surge needs; what only it blocks goes to a person.
    Binding,
    /// 1.5×, declared soft: what serves a priority above cost goes ahead beyond it.
    BindingSoft,
}

impl Budget {
    pub const ALL: [Budget; 3] = [Budget::Loose, Budget::Binding, Budget::BindingSoft];

    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Loose => "loose",
            Budget::Binding => "binding",
            Budget::BindingSoft => "soft",
        }
    }
}

/// One case: a topology, a kind of day, and its budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub topology: String,
    pub day: &'static str,
    pub budget: Budget,
}

/// Open-source applications whose call graphs are in `scenarios/topologies/<name>.json`, with
/// the service whose success is an order (what revenue is counted on).
pub const APPLICATIONS: [(&str, &str); 8] = [
    ("otel-demo", "checkout"),
    ("social-network", "compose-post-service"),
    ("hotel-reservation", "reservation"),
    ("sock-shop", "orders"),
    ("bank-of-anthos", "ledgerwriter"),
    ("teastore", "persistence"),
    ("piggymetrics", "account-service"),
    ("spring-petclinic", "visits-service"),
];

/// Where a topology's graph comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// The retail shop of `scenarios/online-boutique`, with its overlay.
    Shop,
    /// An application's call graph, and its order service.
    Application(&'static str),
    /// A synthetic graph of (services, seed).
    Synthetic(usize, u64),
}

/// The topologies (`quick`: the retail shop only).
pub fn topologies(quick: bool) -> Vec<(String, Source)> {
    let mut t = vec![("online-boutique".to_string(), Source::Shop)];
    if !quick {
        for (name, order) in APPLICATIONS {
            t.push((name.to_string(), Source::Application(order)));
        }
        t.push(("synthetic-40".to_string(), Source::Synthetic(40, 7)));
        t.push(("synthetic-150".to_string(), Source::Synthetic(150, 11)));
    }
    t
}

/// Every case of the suite (`quick`: the retail shop only).
pub fn cases(quick: bool) -> Vec<Case> {
    let mut out = Vec::new();
    for (topology, _) in topologies(quick) {
        for day in DAYS {
            for budget in Budget::ALL {
                out.push(Case {
                    topology: topology.clone(),
                    day,
                    budget,
                });
            }
        }
    }
    out
}

/// Writes the case's scenario under `dir` and runs it.
pub fn run(case: &Case, repo: &Path, dir: &Path) -> Result<Report, ScenarioError> {
    let source = topologies(false)
        .into_iter()
        .find(|(t, _)| *t == case.topology)
        .map_or(Source::Shop, |(_, s)| s);
    let dir = dir.join(format!(
        "{}-{}-{}",
        case.topology,
        case.day,
        case.budget.as_str()
    ));
    let io = |path: &Path| {
        let p = path.display().to_string();
        move |source| ScenarioError::Write { path: p, source }
    };
    std::fs::create_dir_all(dir.join("intents")).map_err(io(&dir))?;
    let (links, overlay) = match source {
        Source::Shop => (
            repo.join("scenarios/online-boutique/graph.json"),
            repo.join("scenarios/online-boutique/overlay.toml"),
        ),
        Source::Application(_) => {
            let links = repo.join(format!("scenarios/topologies/{}.json", case.topology));
            let overlay = write_sized(&dir, &links)?;
            (links, overlay)
        }
        Source::Synthetic(n, seed) => write_synthetic(&dir, n, seed).map_err(io(&dir))?,
    };
    let graph = crate::graph::ServiceGraph::from_files(&links, Some(&overlay))?;
    write_intents(repo, &dir.join("intents"), &graph, case.budget).map_err(io(&dir))?;
    let order = match source {
        Source::Shop => "checkoutservice",
        Source::Application(order) => order,
        Source::Synthetic(..) => &graph.service(graph.len() - 1).name,
    };
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario_text(case, &graph, &links, &overlay, order))
        .map_err(io(&file))?;
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

/// Writes under `dir` an overlay for the call graph `links` that gives each service the
/// replicas its normal load needs at half of capacity (at least two), and nothing else: the
/// rest is what a graph without an overlay gets. Returns its path.
fn write_sized(dir: &Path, links: &Path) -> Result<PathBuf, ScenarioError> {
    let graph = crate::graph::ServiceGraph::from_files(links, None)?;
    let world = crate::world::World::baseline(&graph);
    let mut text = String::new();
    for (s, st) in graph.services().iter().zip(&world.services) {
        let replicas = (st.load_rps / (s.capacity_rps_per_replica * 0.5))
            .ceil()
            .max(2.0);
        text.push_str(&format!("[services.{}]\nreplicas = {replicas}\n", s.name));
    }
    let overlay = dir.join("overlay.toml");
    std::fs::write(&overlay, text).map_err(|source| ScenarioError::Write {
        path: overlay.display().to_string(),
        source,
    })?;
    Ok(overlay)
}

/// The shipped intents, with an SLO on every entry point and the case's budget.
fn write_intents(
    repo: &Path,
    to: &Path,
    graph: &crate::graph::ServiceGraph,
    budget: Budget,
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
            let factor = if budget == Budget::Loose { 3.0 } else { 1.5 };
            let mut table = toml::Table::new();
            table.insert(
                "max_cost_per_hour".into(),
                ((spend * factor * 100.0).round() / 100.0).into(),
            );
            if budget == Budget::BindingSoft {
                table.insert("soft".into(), true.into());
            }
            t.insert("budget".into(), toml::Value::Table(table));
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
    order: &str,
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
    text.push_str(&format!("[economics]\norder_service = \"{order}\"\n"));
    text
}

/// One line per case: SLO-violation minutes / revenue lost (thousands) / cost per strategy,
/// the arbiter's escalations as a share of the distinct actions proposed, and its share of
/// the achievable improvement on both measures.
pub fn table(rows: &[(Case, Report)]) -> String {
    let mut out = String::from(
        "topology           day           budget   | SLO min: unco static pred arb oracle | revenue lost k: unco static pred arb oracle | cost: pred arb oracle | esc% | rollback wait | captured slo/rev\n",
    );
    for (c, r) in rows {
        let by = |n: &str| r.strategy(n);
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
        let esc = by("arbiter").map_or(0.0, |a| a.escalated_pct());
        let cost = ["predictive", "arbiter", "oracle"]
            .iter()
            .map(|n| by(n).map_or("-".into(), |s| format!("{:.0}", s.cost)))
            .collect::<Vec<_>>()
            .join(" ");
        let rollback = match by("arbiter").and_then(|a| a.rollback_wait_min()) {
            None => "-".to_string(),
            Some(w) if w.is_infinite() => "never".to_string(),
            Some(w) => format!("{w:.0} min"),
        };
        out.push_str(&format!(
            "{:18} {:13} {:8} | {} | {} | {} | {:.1} | {rollback} | {}/{}\n",
            c.topology,
            c.day,
            c.budget.as_str(),
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

/// The acceptance figures over all the rows: cases where the arbiter did worse than the best
/// baseline, the median share captured, escalations, cost against the cheaper of the oracle
/// and the best baseline, and the longest wait for a rollback.
pub fn summary(rows: &[(Case, Report)]) -> String {
    let median = |mut v: Vec<f64>| -> Option<f64> {
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let (mut worse, mut slo, mut rev, mut esc, mut cost, mut waits) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    // Against each baseline alone: the first is no arbiter at all.
    let alone = ["uncoordinated", "static-priority"];
    let mut worse_than_alone = [0usize; 2];
    for (c, r) in rows {
        // The report names the best baseline on each measure.
        let (Some(arb), Some(oracle), Some(k)) =
            (r.strategy("arbiter"), r.strategy("oracle"), &r.captured)
        else {
            continue;
        };
        let (Some(best_slo), Some(best)) = (
            r.strategy(&k.slo_best_baseline),
            r.strategy(&k.revenue_best_baseline),
        ) else {
            continue;
        };
        // More revenue lost, or more minutes over an SLO, than `rev` and `slo` did.
        let worse_than = |rev: &StrategyReport, slo: &StrategyReport| {
            arb.revenue_lost > rev.revenue_lost || arb.slo_minutes_total() > slo.slo_minutes_total()
        };
        if worse_than(best, best_slo) {
            worse.push(format!("{}/{}/{}", c.topology, c.day, c.budget.as_str()));
        }
        for (n, name) in worse_than_alone.iter_mut().zip(alone) {
            if r.strategy(name).is_some_and(|b| worse_than(b, b)) {
                *n += 1;
            }
        }
        slo.extend(k.slo_min);
        rev.extend(k.revenue_lost);
        esc.push(arb.escalated_pct());
        cost.push(arb.cost / oracle.cost.min(best.cost).max(1e-9));
        waits.extend(arb.rollback_wait_min());
    }
    let pct = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{:.1}%", x * 100.0));
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "cases: {}; arbiter worse than the best baseline in {}{}\n\
         arbiter worse than no arbiter (uncoordinated agents) in {}, than the static rule in {}\n\
         median share captured: SLO minutes {}, revenue lost {}\n\
         escalations, % of distinct actions proposed: median {:.1}, max {:.1}\n\
         cost / cheaper of oracle and best baseline: median {:.2}, max {:.2}\n\
         rollback wait, minutes: {} of {} cases with a rollback proposed; longest {}\n",
        rows.len(),
        worse.len(),
        if worse.is_empty() {
            String::new()
        } else {
            format!(" ({})", worse.join(", "))
        },
        worse_than_alone[0],
        worse_than_alone[1],
        pct(median(slo)),
        pct(median(rev)),
        median(esc.clone()).unwrap_or(0.0),
        max(&esc).max(0.0),
        median(cost.clone()).unwrap_or(0.0),
        max(&cost).max(0.0),
        waits.iter().filter(|w| **w <= 15.0).count(),
        waits.len(),
        if waits.is_empty() {
            "-".to_string()
        } else if max(&waits).is_infinite() {
            "never carried out in some".to_string()
        } else {
            format!("{:.0}", max(&waits))
        },
    )
}
