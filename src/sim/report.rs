//! What a run measured, per strategy, and how it is shown.

use serde::Serialize;
use std::collections::BTreeMap;

/// Everything measured for one strategy. All figures come from the world model.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StrategyReport {
    pub strategy: String,
    /// Which agents ran, and what they were given.
    pub agents: String,
    /// Minutes each SLO target spent above its SLO.
    pub slo_violation_min: BTreeMap<String, f64>,
    /// Highest latency seen at each entry point, ms.
    pub peak_p99_ms: BTreeMap<String, f64>,
    pub revenue: f64,
    /// Revenue a perfectly fast, error-free shop would have made, less `revenue`.
    pub revenue_lost: f64,
    pub cost: f64,
    /// Minutes an attack went unmitigated.
    pub exposure_min: f64,
    pub proposals: u64,
    /// Distinct actions proposed, (agent, action): an agent's resends of one action count
    /// once.
    pub distinct_proposals: u64,
    /// Distinct actions a person was asked about: asking again about the same action (after
    /// the situation changed) counts once, as it is one question on a person's desk.
    pub distinct_escalated: u64,
    /// Proposals by verdict.
    pub verdicts: BTreeMap<String, u64>,
    pub human_approvals: u64,
    /// Minute of the day an agent first proposed a rollback, and the minute one was carried
    /// out (none: never): how long a bad release ran once its fix was asked for.
    pub rollback_proposed_min: Option<f64>,
    pub rollback_done_min: Option<f64>,
    pub series: Series,
    /// The arbiter's decisions, for the timeline (empty for the baselines).
    pub timeline: Vec<TimelineEntry>,
}

/// Time series sampled every few minutes, for plots.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Series {
    pub minute: Vec<f64>,
    /// Latency at each entry point, ms.
    pub p99_ms: BTreeMap<String, Vec<f64>>,
    /// Demand and capacity of the order service, rps.
    pub order_demand_rps: Vec<f64>,
    pub order_capacity_rps: Vec<f64>,
    /// Spend rate, per hour.
    pub cost_per_hour: Vec<f64>,
    /// Revenue lost so far.
    pub revenue_lost: Vec<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimelineEntry {
    pub minute: f64,
    pub agent: String,
    pub proposal_id: String,
    pub verdict: String,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub duration_h: f64,
    pub strategies: Vec<StrategyReport>,
    /// What the arbiter captured of what could be gained over the best baseline.
    pub captured: Option<Captured>,
}

/// The share of the achievable improvement the arbiter captured, per measure:
/// `(best baseline − arbiter) / (best baseline − oracle)`. 1 is the oracle's result, 0 the best
/// baseline's, below 0 worse than it. `None` where the oracle does no better than the best
/// baseline (nothing was there to gain).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Captured {
    pub slo_min: Option<f64>,
    /// The baseline with the fewest SLO-violation minutes.
    pub slo_best_baseline: String,
    pub revenue_lost: Option<f64>,
    /// The baseline that lost the least revenue.
    pub revenue_best_baseline: String,
}

impl Report {
    /// The figures of the strategy named `name`.
    pub fn strategy(&self, name: &str) -> Option<&StrategyReport> {
        self.strategies.iter().find(|s| s.strategy == name)
    }
}

impl Captured {
    /// From the strategies named `baselines`, `arbiter` and `oracle` among `all`.
    pub fn of(all: &[StrategyReport], baselines: &[&str]) -> Option<Captured> {
        let named = |n: &str| all.iter().find(|s| s.strategy == n);
        let (arbiter, oracle) = (named("arbiter")?, named("oracle")?);
        let base: Vec<&StrategyReport> = baselines.iter().filter_map(|n| named(n)).collect();
        let best = |f: fn(&StrategyReport) -> f64| {
            base.iter().min_by(|a, b| f(a).total_cmp(&f(b))).copied()
        };
        let share = |f: fn(&StrategyReport) -> f64, best: &StrategyReport| {
            let room = f(best) - f(oracle);
            (room > 1e-9).then(|| round((f(best) - f(arbiter)) / room, 3))
        };
        let slo = best(StrategyReport::slo_minutes_total)?;
        let revenue = best(|s| s.revenue_lost)?;
        Some(Captured {
            slo_min: share(StrategyReport::slo_minutes_total, slo),
            slo_best_baseline: slo.strategy.clone(),
            revenue_lost: share(|s| s.revenue_lost, revenue),
            revenue_best_baseline: revenue.strategy.clone(),
        })
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl StrategyReport {
    /// Actions a person was asked about, as a share of the distinct actions proposed, in
    /// percent: what a person's attention is measured by, whatever the agents' resend habits.
    pub fn escalated_pct(&self) -> f64 {
        100.0 * self.distinct_escalated as f64 / self.distinct_proposals.max(1) as f64
    }

    pub fn note_proposed(&mut self, p: &crate::contract::Proposal, minute: f64) {
        if p.action.kind() == crate::contract::ActionKind::Rollback {
            self.rollback_proposed_min.get_or_insert(minute);
        }
    }

    pub fn note_done(&mut self, p: &crate::contract::Proposal, minute: f64) {
        if p.action.kind() == crate::contract::ActionKind::Rollback {
            self.rollback_done_min.get_or_insert(minute);
        }
    }

    /// Minutes from the first rollback proposed to the first carried out; `None` if none
    /// was proposed, infinite if none was carried out.
    pub fn rollback_wait_min(&self) -> Option<f64> {
        let asked = self.rollback_proposed_min?;
        Some(
            self.rollback_done_min
                .map_or(f64::INFINITY, |done| done - asked),
        )
    }

    /// Rounds figures for output, so reports read well and stay byte-stable.
    pub fn rounded(mut self) -> Self {
        for v in self
            .slo_violation_min
            .values_mut()
            .chain(self.peak_p99_ms.values_mut())
        {
            *v = round(*v, 1);
        }
        self.revenue = round(self.revenue, 2);
        self.revenue_lost = round(self.revenue_lost, 2);
        self.cost = round(self.cost, 2);
        self.exposure_min = round(self.exposure_min, 1);
        let s = &mut self.series;
        for v in s
            .p99_ms
            .values_mut()
            .flat_map(|v| v.iter_mut())
            .chain(s.order_demand_rps.iter_mut())
            .chain(s.order_capacity_rps.iter_mut())
            .chain(s.cost_per_hour.iter_mut())
            .chain(s.revenue_lost.iter_mut())
        {
            *v = round(*v, 2);
        }
        self
    }

    pub fn slo_minutes_total(&self) -> f64 {
        self.slo_violation_min.values().sum()
    }
}

impl Report {
    /// The comparison as a terminal table: one column per strategy.
    pub fn table(&self) -> String {
        let names: Vec<&str> = self
            .strategies
            .iter()
            .map(|s| s.strategy.as_str())
            .collect();
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let first = &self.strategies[0];
        for target in first.slo_violation_min.keys() {
            rows.push((
                format!("SLO violation min, {target}"),
                self.strategies
                    .iter()
                    .map(|s| format!("{:.0}", s.slo_violation_min[target]))
                    .collect(),
            ));
        }
        for entry in first.peak_p99_ms.keys() {
            rows.push((
                format!("peak p99 ms, {entry}"),
                self.strategies
                    .iter()
                    .map(|s| format!("{:.0}", s.peak_p99_ms[entry]))
                    .collect(),
            ));
        }
        let figure = |label: &str, f: &dyn Fn(&StrategyReport) -> String| {
            (
                label.to_string(),
                self.strategies.iter().map(f).collect::<Vec<_>>(),
            )
        };
        rows.push(figure("revenue lost", &|s| {
            format!("{:.0}", s.revenue_lost)
        }));
        rows.push(figure("cost", &|s| format!("{:.2}", s.cost)));
        rows.push(figure("security exposure min", &|s| {
            format!("{:.0}", s.exposure_min)
        }));
        rows.push(figure("proposals", &|s| s.proposals.to_string()));
        for v in ["approved", "merged", "rejected", "escalated", "deferred"] {
            rows.push(figure(&format!("  {v}"), &|s| {
                s.verdicts.get(v).copied().unwrap_or(0).to_string()
            }));
        }
        rows.push(figure("human approvals needed", &|s| {
            s.human_approvals.to_string()
        }));
        let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(10);
        let col_w = names.iter().map(|n| n.len()).max().unwrap_or(8).max(10);
        let mut out = format!("{:label_w$}", "");
        for n in &names {
            out.push_str(&format!("  {n:>col_w$}"));
        }
        out.push('\n');
        for (label, cells) in rows {
            out.push_str(&format!("{label:label_w$}"));
            for c in cells {
                out.push_str(&format!("  {c:>col_w$}"));
            }
            out.push('\n');
        }
        if let Some(c) = &self.captured {
            let pct = |x: Option<f64>| {
                x.map_or("nothing to gain".into(), |x| format!("{:.0}%", x * 100.0))
            };
            out.push_str(&format!(
                "\narbiter's share of the achievable improvement (best baseline -> oracle):\n  SLO-violation minutes: {} (best baseline {})\n  revenue lost: {} (best baseline {})\n",
                pct(c.slo_min),
                c.slo_best_baseline,
                pct(c.revenue_lost),
                c.revenue_best_baseline
            ));
        }
        out
    }
}
