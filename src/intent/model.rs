//! The resolved, validated form of an intent file.

use crate::contract::{ActionKind, Domain, Timestamp};
use std::collections::BTreeMap;

/// An objective that priorities order. The engine optimises them lexicographically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Objective {
    /// Enough capacity for forecast demand; unhealthy services repaired.
    Availability,
    /// Entry points within their latency SLOs.
    Latency,
    /// Attacks mitigated, exposure reduced.
    Security,
    /// Spend per hour.
    Cost,
}

impl Objective {
    /// The order used for objectives an intent does not rank.
    pub const DEFAULT_ORDER: [Objective; 4] = [
        Objective::Availability,
        Objective::Latency,
        Objective::Security,
        Objective::Cost,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Objective::Availability => "availability",
            Objective::Latency => "latency",
            Objective::Security => "security",
            Objective::Cost => "cost",
        }
    }

    pub fn parse(text: &str) -> Option<Objective> {
        Objective::DEFAULT_ORDER
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// How far a domain may act on a tier without a human (spec section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Zone {
    /// Proposals are recorded and answered, never executed.
    Observe,
    /// The arbiter recommends; a human decides.
    Recommend,
    /// Executes only after a human approves.
    Approve,
    /// Executes when the arbiter approves, within the constraints.
    Autonomous,
}

impl Zone {
    pub fn as_str(&self) -> &'static str {
        match self {
            Zone::Observe => "observe",
            Zone::Recommend => "recommend",
            Zone::Approve => "approve",
            Zone::Autonomous => "autonomous",
        }
    }

    pub fn parse(text: &str) -> Option<Zone> {
        [
            Zone::Observe,
            Zone::Recommend,
            Zone::Approve,
            Zone::Autonomous,
        ]
        .into_iter()
        .find(|z| z.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    pub service: String,
    pub p99_latency_ms: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BlastLimits {
    /// The share of entry traffic that disruptive changes in flight may touch at once.
    pub max_entry_traffic_share: f64,
    /// Changes in flight on one service at once.
    pub max_changes_per_service: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Freeze {
    pub name: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Frozen kinds; `None` freezes every kind.
    pub kinds: Option<Vec<ActionKind>>,
    /// Frozen services; `None` freezes every service.
    pub services: Option<Vec<String>>,
}

impl Freeze {
    pub fn covers(&self, at: Timestamp, kind: ActionKind, service: &str) -> bool {
        self.start <= at
            && at < self.end
            && self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
            && self
                .services
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x == service))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Escalation {
    pub contacts: Vec<String>,
    /// How long a human has to answer an escalation before it times out.
    pub timeout_s: u64,
    /// Escalate irreversible actions even where the zone is autonomous.
    pub irreversible: bool,
}

pub const DEFAULT_HEADROOM: f64 = 1.2;

#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub name: String,
    pub owner: String,
    pub description: String,
    /// File the intent came from, as given.
    pub file: String,
    /// `sha256:` of the file's bytes; every decision records it.
    pub version: String,
    /// Active window `[start, end)`; `None`: always active (the fallback intent).
    pub window: Option<(Timestamp, Timestamp)>,
    /// Every objective, most important first: the declared order, then the rest in default order.
    pub priorities: Vec<Objective>,
    /// How many of `priorities` the file declared.
    pub declared_priorities: usize,
    /// Capacity after changes must cover forecast demand times this.
    pub headroom: f64,
    /// How far ahead capacity is planned, hours: telemetry's `forecast_rps` is expected to be
    /// the peak over this horizon (the simulator computes it so).
    pub horizon_h: f64,
    pub slos: Vec<Slo>,
    /// Spend per hour the fleet may reach through approved changes.
    pub max_cost_per_hour: Option<f64>,
    /// `[budget] soft = true`: a change that serves an objective ranked above cost may take
    /// spend beyond `max_cost_per_hour` without a person (it is approved, within the agent's
    /// autonomy, with the overspend stated); otherwise a person is asked.
    pub budget_soft: bool,
    pub blast: BlastLimits,
    /// Below this confidence an otherwise approvable proposal is escalated.
    pub autonomous_min_confidence: f64,
    pub autonomy_default: Zone,
    /// Per domain: tier (or `*`) to zone.
    pub autonomy: BTreeMap<Domain, BTreeMap<String, Zone>>,
    pub freezes: Vec<Freeze>,
    pub escalation: Escalation,
}

impl Intent {
    /// The zone for a domain acting on a tier: the exact tier, else the domain's `*`, else the
    /// intent's default.
    pub fn zone(&self, domain: Domain, tier: &str) -> Zone {
        self.autonomy
            .get(&domain)
            .and_then(|m| m.get(tier).or_else(|| m.get("*")))
            .copied()
            .unwrap_or(self.autonomy_default)
    }

    /// `priorities[k]=name`, the clause a reason cites.
    pub fn priority_clause(&self, objective: Objective) -> String {
        let k = self
            .priorities
            .iter()
            .position(|o| *o == objective)
            .unwrap_or(0);
        if k < self.declared_priorities {
            format!("priorities[{k}]={}", objective.as_str())
        } else {
            format!("default order: {}", objective.as_str())
        }
    }

    pub fn rank(&self, objective: Objective) -> usize {
        self.priorities
            .iter()
            .position(|o| *o == objective)
            .unwrap_or(usize::MAX)
    }
}
