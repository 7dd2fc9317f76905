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
    /// Proposals by verdict.
    pub verdicts: BTreeMap<String, u64>,
    pub human_approvals: u64,
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
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl StrategyReport {
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
        out
    }
}
