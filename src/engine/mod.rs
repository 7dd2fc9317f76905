//! The engine: decides a window of concurrent proposals against the intent in force.
//!
//! A pure function of its inputs — graph, world state, intent, roles, changes in flight, the
//! time, the proposals and the decisions already given. It does no I/O, reads no clock and
//! draws no randomness (the solver's wall-clock deadline is a safety net whose use is written
//! into the decision), so the service, the simulator, `arbiter decide`, the tests and the
//! benchmarks all get the same answers for the same inputs.
//!
//! Flow: [`gate`] answers what needs no optimisation; [`effect`] estimates each remaining
//! action; [`merge`] folds identical changes together; [`window`] builds constraints and
//! splits them into independent components; [`solve`] picks the best selection per component
//! (enumeration or the [`milp`]); [`verdict`] maps selections to verdicts and reasons.

mod decompose;
mod effect;
mod explain;
mod gate;
mod harm;
pub use effect::FAILING_ERROR_RATE;
pub use gate::answer;
mod ledger;
mod merge;
mod milp;
mod path;
mod problem;
mod shortfall;
mod sizing;
mod solve;
mod verdict;
mod window;

pub use ledger::{Ledger, Recall, Recorded, GRACE_MS};
pub use shortfall::{shortfalls, Shortfall};
pub use solve::{SolveStatus, SolverConfig};

use crate::contract::{Action, Decision, Domain, IntentRef, Invalid, Proposal, Timestamp, Verdict};
use crate::graph::ServiceGraph;
use crate::intent::{Intent, Roles};
use crate::world::World;
use std::collections::HashMap;

/// An approved change that has not completed yet: it holds capacity, budget, blast radius and
/// its service's change slot.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InFlight {
    pub key: String,
    pub domain: Domain,
    pub action: Action,
}

impl InFlight {
    /// The change a proposal makes, once approved.
    pub fn of(p: &crate::contract::Proposal) -> InFlight {
        InFlight {
            key: p.key(),
            domain: p.domain,
            action: p.action.clone(),
        }
    }
}

/// What the engine knows when it decides.
pub struct Context<'a> {
    pub graph: &'a ServiceGraph,
    pub world: &'a World,
    /// The intent in force; `None` escalates every proposal.
    pub intent: Option<&'a Intent>,
    pub roles: &'a Roles,
    pub in_flight: &'a [InFlight],
    /// How far beyond the intent's budget people have let spend go, per hour (`grants.rs`).
    pub budget_granted: f64,
    pub now: Timestamp,
}

/// A proposal as it arrived: parsed, or refused at the boundary.
pub type Submission = Result<Proposal, Invalid>;

/// How one component of a window was solved: which proposals interacted, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentReport {
    /// `agent/id` of every proposal in the component, primaries and merged alike.
    pub proposals: Vec<String>,
    pub status: SolveStatus,
}

/// A decided window: the decisions, in submission order, and how the problem decomposed.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowOutcome {
    pub decisions: Vec<Decision>,
    pub components: Vec<ComponentReport>,
}

/// Decides a window: one decision per submission, in order.
pub fn decide(
    ctx: &Context,
    subs: &[Submission],
    ledger: &Ledger,
    cfg: &SolverConfig,
) -> Vec<Decision> {
    decide_window(ctx, subs, ledger, cfg).decisions
}

/// [`decide`], also reporting the components the window split into.
pub fn decide_window(
    ctx: &Context,
    subs: &[Submission],
    ledger: &Ledger,
    cfg: &SolverConfig,
) -> WindowOutcome {
    let mut out: Vec<Option<Decision>> = vec![None; subs.len()];
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    let mut copies = Vec::new();
    let mut gated = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        let p = match sub {
            Err(inv) => {
                out[i] = Some(gate::invalid(ctx, inv));
                continue;
            }
            Ok(p) => p,
        };
        if let Some(d) = ledger.recall(&p.agent, &p.id) {
            out[i] = Some(d);
            continue;
        }
        if let Some(&j) = first.get(&(p.agent.as_str(), p.id.as_str())) {
            copies.push((i, j));
            continue;
        }
        first.insert((p.agent.as_str(), p.id.as_str()), i);
        match gate::check(ctx, p) {
            Err(d) => out[i] = Some(*d),
            Ok(s) => gated.push((i, p, s)),
        }
    }
    let mut components = Vec::new();
    if !gated.is_empty() {
        let intent = ctx
            .intent
            .expect("gate lets nothing through without an intent");
        let w = window::build(ctx, intent, gated, cfg);
        for (i, d) in verdict::decisions(&w) {
            out[i] = Some(d);
        }
        components = w
            .solved
            .iter()
            .map(|(members, _, solved)| ComponentReport {
                proposals: {
                    // A sized alternative names the same proposal as its original.
                    let mut keys: Vec<String> = Vec::new();
                    for key in members
                        .iter()
                        .flat_map(|&g| w.groups[g].iter().map(|&c| w.cands[c].p.key()))
                    {
                        if !keys.contains(&key) {
                            keys.push(key);
                        }
                    }
                    keys
                },
                status: solved.status.clone(),
            })
            .collect();
    }
    for (i, j) in copies {
        out[i] = out[j].clone();
    }
    WindowOutcome {
        decisions: out
            .into_iter()
            .map(|d| d.expect("every submission is answered"))
            .collect(),
        components,
    }
}

/// A decision with the fields every verdict shares filled in.
pub(crate) fn blank_decision(
    ctx: &Context,
    proposal_id: String,
    agent: String,
    verdict: Verdict,
) -> Decision {
    Decision {
        intent: ctx.intent.map(|i| IntentRef {
            name: i.name.clone(),
            version: i.version.clone(),
        }),
        graph_version: Some(ctx.graph.version().to_string()),
        ..Decision::blank(proposal_id, agent, verdict, ctx.now)
    }
}
