//! What not acting costs. Limits on disruption and spend protect the business from its
//! agents; applied blindly they also protect a failure from its fix. Two rules weigh the harm
//! already happening against the limit:
//!
//! - a **repair** (a rollback of a failing release, a restart of an unhealthy service) is not
//!   held back by the blast-radius limit, nor by the capacity dip of its own roll-out or the
//!   latency that adds (`Effect::repairs`, applied where the window's constraints are built):
//!   the dip lasts a roll-out, the failure until someone acts;
//!   neither it nor the blocking of an attack under way waits behind another change on the
//!   same service (`Effect::urgent`);
//! - a change **only the budget blocks** while it serves an objective the intent ranks above
//!   cost goes to a person with the overspend it needs, instead of being refused: the budget
//!   is the executives' to break, not the arbiter's to enforce against their own priorities;
//!   where the intent declares the budget soft (`[budget] soft = true`), they have broken it
//!   in advance, and the change goes ahead with the overspend stated.

use super::effect::{Effect, FAILING_ERROR_RATE};
use super::window::{Cand, Window};
use crate::contract::{Reason, ReasonCode};
use crate::intent::{Intent, Objective};

/// Why a repair was not held back by the blast-radius limit; `None` for any other change.
pub(crate) fn repair_reason(w: &Window, c: &Cand) -> Option<Reason> {
    if c.effect.repairs <= 0.0 || !c.effect.disruptive {
        return None;
    }
    let name = &w.ctx.graph.service(c.service).name;
    let share = w.ctx.world.traffic_share[c.service];
    Some(
        Reason::new(ReasonCode::RepairsHarm)
            .service(name)
            .numbers(c.effect.repairs, FAILING_ERROR_RATE)
            .clause("blast_radius.max_entry_traffic_share")
            .detail(format!(
                "{:.0}% of {name}'s requests fail now; a change that stops that is not held back by the blast-radius limit ({:.0}% of entry traffic passes through {name})",
                c.effect.repairs * 100.0,
                share * 100.0
            )),
    )
}

/// Why a change that stops harm now was not held back by a change already on its service;
/// `None` if none was.
pub(crate) fn urgent_reason(w: &Window, c: &Cand, others_on_service: bool) -> Option<Reason> {
    if !c.effect.urgent || !others_on_service {
        return None;
    }
    let name = &w.ctx.graph.service(c.service).name;
    Some(
        Reason::new(ReasonCode::RepairsHarm)
            .service(name)
            .clause("blast_radius.max_changes_per_service")
            .detail(format!(
                "it stops harm happening now on {name}, so another change on {name} does not make it wait"
            )),
    )
}

/// The highest-ranked objective above cost that a change serves, if any.
pub(crate) fn served_above_cost(intent: &Intent, e: &Effect) -> Option<Objective> {
    let cost = intent.rank(Objective::Cost);
    intent
        .priorities
        .iter()
        .take(cost)
        .find(|o| e.value_of(**o) > 0.0)
        .copied()
}

/// The sentence of an escalation the budget alone forces.
pub(crate) fn over_budget(intent: &Intent, serves: Objective, overspend: f64) -> String {
    format!(
        "Only the budget stands in its way, and it serves {} ({}), ranked above cost: a person must decide whether to spend {overspend:.2}/h beyond the budget, and the arbiter recommends approving it",
        serves.as_str(),
        intent.priority_clause(serves)
    )
}

/// What a budget escalation asks a person to grant: spend beyond the intent's budget for this
/// change (taking spend to `reached`) and for every replica the capacity plan still lacks on
/// other services (`shortfall.rs`), so that one answer covers the surge the forecast shows
/// rather than one scale-up of it (`grants.rs`). Stated as the total beyond the budget.
pub(crate) fn overspend_asked(w: &Window, c: &Cand, reached: Option<f64>) -> Option<Reason> {
    let budget = w.intent.max_cost_per_hour?;
    let reached = reached.unwrap_or(w.spend + c.effect.cost_per_hour);
    let graph = &w.ctx.graph;
    let lacks = w.plan_lacks.get_or_init(|| {
        super::shortfall::shortfalls(w.ctx, w.intent)
            .iter()
            .filter_map(|sf| {
                let s = graph.index_of(&sf.service)?;
                Some((
                    s,
                    sf.replicas as f64 * graph.service(s).cost_per_replica_hour,
                ))
            })
            .collect()
    });
    let elsewhere: f64 = lacks
        .iter()
        .filter(|(s, _)| *s != c.service)
        .map(|(_, cost)| cost)
        .sum();
    let asked = crate::contract::round3(reached + elsewhere - budget);
    (asked > 0.0).then(|| {
        Reason::new(crate::grants::OVERSPEND_ASKED)
            .numbers(asked, budget)
            .clause("budget.max_cost_per_hour")
            .detail(format!(
                "approving it grants spend up to {asked:.2}/h beyond the budget of {budget:.2}/h over the intent's horizon: this change, and {elsewhere:.2}/h for the capacity the plan still lacks elsewhere; changes within that go ahead without asking again"
            ))
    })
}

/// Spend beyond the intent's budget that a person's grant covers, on a change that takes
/// spend there; `None` for any other change.
pub(crate) fn granted_budget_reason(w: &Window, c: &Cand) -> Option<Reason> {
    let budget = w.intent.max_cost_per_hour?;
    let granted = w.ctx.budget_granted;
    let after = w.spend + c.effect.cost_per_hour;
    if granted <= 0.0 || c.effect.cost_per_hour <= 0.0 || after <= budget {
        return None;
    }
    Some(
        Reason::new(ReasonCode::BudgetGranted)
            .numbers(after, budget + granted)
            .clause("budget.max_cost_per_hour")
            .detail(format!(
                "spend reaches {after:.2}/h, beyond the budget of {budget:.2}/h but within the {granted:.2}/h beyond it that a person granted"
            )),
    )
}

/// The overspend a soft budget let through, on a change that serves an objective ranked
/// above cost and takes spend beyond the budget; `None` for any other change.
pub(crate) fn soft_budget_reason(w: &Window, c: &Cand) -> Option<Reason> {
    let intent = w.intent;
    let limit = intent.max_cost_per_hour?;
    let serves = served_above_cost(intent, &c.effect)?;
    let after = w.spend + c.effect.cost_per_hour;
    if !intent.budget_soft || c.effect.cost_per_hour <= 0.0 || after <= limit {
        return None;
    }
    Some(
        Reason::new(ReasonCode::BudgetSoft)
            .numbers(after, limit)
            .clause("budget.soft")
            .detail(format!(
                "spend reaches {after:.2}/h, {:.2}/h beyond the budget of {limit:.2}/h: the intent's budget is soft for what serves {} ({}), ranked above cost",
                after - limit,
                serves.as_str(),
                intent.priority_clause(serves)
            )),
    )
}
