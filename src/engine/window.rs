//! One decision window: from gated proposals to the optimisation problem and its solution.

use super::decompose::solve_window;
use super::effect::{estimate, Basis, Capacity, Effect};
use super::merge::{contradicts, group};
use super::problem::{Body, Constraint, Guard, Problem};
use super::sizing::resize;
use super::solve::{Solved, SolverConfig};
use super::verdict::needs_human;
use super::Context;
use crate::contract::{Action, Proposal};
use crate::intent::{Intent, Objective};
use std::collections::{BTreeMap, BTreeSet};

/// A proposal that passed the gate.
pub(crate) struct Cand<'p> {
    /// Position in the submitted batch.
    pub sub: usize,
    pub p: &'p Proposal,
    pub service: usize,
    /// The action decided on: the proposal's, or an amended one (see [`amend`]).
    pub action: Action,
    pub amended: bool,
    pub effect: Effect,
}

/// A full restart of a service carrying more entry traffic than the blast-radius limit can
/// never be approved as sent; the same restart done one replica at a time can. The decision
/// then carries the amended action (spec: "approved — execute the action as amended").
fn amend(ctx: &Context, intent: &Intent, p: &Proposal, s: usize) -> Option<Action> {
    match &p.action {
        Action::Restart {
            service,
            rolling: false,
        } if ctx.world.traffic_share[s] > intent.blast.max_entry_traffic_share
            && ctx.world.services[s].replicas >= 2 =>
        {
            Some(Action::Restart {
                service: service.clone(),
                rolling: true,
            })
        }
        _ => None,
    }
}

/// An SLO resolved against the graph.
pub(crate) struct SloInfo {
    pub index: usize,
    pub target: usize,
    pub target_ms: f64,
    pub p99_now: f64,
}

/// Everything a window's verdicts and explanations need.
pub(crate) struct Window<'c, 'a, 'p> {
    pub ctx: &'c Context<'a>,
    pub intent: &'a Intent,
    pub cands: Vec<Cand<'p>>,
    /// Merge groups: candidate indices, primary first. A group is one variable.
    pub groups: Vec<Vec<usize>>,
    /// For a group that is the sized alternative of another (see [`resize`]): that group.
    pub alt_of: Vec<Option<usize>>,
    pub caps: BTreeMap<usize, Capacity>,
    pub slos: Vec<SloInfo>,
    pub spend: f64,
    pub blast_used: f64,
    pub in_flight_changes: BTreeMap<usize, u32>,
    /// Per component: global group indices, its problem and solution.
    pub solved: Vec<(Vec<usize>, Problem, Solved)>,
    /// The selection over all groups.
    pub x: Vec<bool>,
    /// Window-wide constraints that never bound, over global group indices.
    pub dormant: Vec<Constraint>,
    /// What the capacity plan still lacks, per service index, per hour of spend: found once a
    /// window, when a budget escalation first states the overspend it asks for.
    pub plan_lacks: std::cell::OnceCell<Vec<(usize, f64)>>,
}

impl Window<'_, '_, '_> {
    pub fn primary(&self, g: usize) -> &Cand<'_> {
        &self.cands[self.groups[g][0]]
    }
}

/// Each change still in flight, by its service, with the arbiter's estimate of it: what it
/// holds of capacity, budget, blast radius and its service's change slot.
pub(crate) fn in_flight_effects<'x>(
    ctx: &'x Context,
    headroom: &'x super::path::Headroom,
    spend: f64,
) -> impl Iterator<Item = (usize, super::effect::Effect)> + 'x {
    ctx.in_flight.iter().filter_map(move |f| {
        let s = ctx.graph.index_of(f.action.service())?;
        let basis = Basis {
            headroom: headroom.of(s),
            spend,
            ..Basis::default()
        };
        Some((
            s,
            estimate(ctx, &f.action, 1.0, &Default::default(), s, basis),
        ))
    })
}

pub(crate) fn build<'c, 'a, 'p>(
    ctx: &'c Context<'a>,
    intent: &'a Intent,
    gated: Vec<(usize, &'p Proposal, usize)>,
    cfg: &SolverConfig,
) -> Window<'c, 'a, 'p> {
    let headroom = super::path::Headroom::new(ctx, intent);
    let spend_now = ctx.world.spend_per_hour(ctx.graph);

    // Changes already approved and still in flight hold capacity, budget, blast radius and
    // their service's change slot.
    let mut in_flight_cap: BTreeMap<usize, f64> = BTreeMap::new();
    let mut in_flight_changes: BTreeMap<usize, u32> = BTreeMap::new();
    let mut disrupted: BTreeSet<usize> = BTreeSet::new();
    let mut in_flight_cost = 0.0;
    for (s, e) in in_flight_effects(ctx, &headroom, spend_now) {
        for (t, c) in &e.cap {
            *in_flight_cap.entry(*t).or_default() += c;
        }
        in_flight_cost += e.cost_per_hour;
        *in_flight_changes.entry(s).or_default() += 1;
        if e.disruptive {
            disrupted.insert(s);
        }
    }
    let spend = spend_now + in_flight_cost;
    let blast_used: f64 = disrupted.iter().map(|&s| ctx.world.traffic_share[s]).sum();

    // How far each service is behind a breached SLO of a caller: latency gains there count.
    // And how much of the tightest such SLO's target its callers use now (p99 / target).
    let mut slo_excess = vec![0.0f64; ctx.graph.len()];
    let mut slo_use = vec![0.0f64; ctx.graph.len()];
    for slo in &intent.slos {
        let Some(t) = ctx.graph.index_of(&slo.service) else {
            continue;
        };
        let p99 = ctx.world.services[t].p99_ms;
        let excess = p99 - slo.p99_latency_ms;
        let used = p99 / slo.p99_latency_ms.max(f64::MIN_POSITIVE);
        for s in ctx.graph.downstream(t) {
            slo_excess[s] = slo_excess[s].max(excess.max(0.0));
            slo_use[s] = slo_use[s].max(used);
        }
    }
    let cands: Vec<Cand> = gated
        .into_iter()
        .map(|(sub, p, service)| {
            let cap_extra = in_flight_cap.get(&service).copied().unwrap_or(0.0);
            let basis = Basis {
                headroom: headroom.of(service),
                in_flight_cap: cap_extra,
                spend,
                slo_excess_ms: slo_excess[service],
            };
            let amended = amend(ctx, intent, p, service);
            let action = amended.clone().unwrap_or_else(|| p.action.clone());
            let effect = estimate(ctx, &action, p.confidence, &p.expected, service, basis);
            Cand {
                sub,
                p,
                service,
                action,
                amended: amended.is_some(),
                effect,
            }
        })
        .collect();
    let items: Vec<(usize, &crate::contract::Action)> =
        cands.iter().map(|c| (c.service, &c.action)).collect();
    let mut groups = group(&items);
    let mut cands = cands;
    let mut alt_of: Vec<Option<usize>> = vec![None; groups.len()];
    for g in 0..groups.len() {
        let c = &cands[groups[g][0]];
        let cap_extra = in_flight_cap.get(&c.service).copied().unwrap_or(0.0);
        let cap = ctx.capacity(c.service, headroom.of(c.service), cap_extra);
        let own: f64 = c
            .effect
            .cap
            .iter()
            .filter(|(s, _)| *s == c.service)
            .map(|(_, d)| d)
            .sum();
        if let Some(bigger) = resize(ctx, c, &cap, own, slo_excess[c.service], slo_use[c.service]) {
            let basis = Basis {
                headroom: headroom.of(c.service),
                in_flight_cap: cap_extra,
                spend,
                slo_excess_ms: slo_excess[c.service],
            };
            let effect = estimate(
                ctx,
                &bigger,
                c.p.confidence,
                &c.p.expected,
                c.service,
                basis,
            );
            let alt = Cand {
                sub: c.sub,
                p: c.p,
                service: c.service,
                action: bigger,
                amended: true,
                effect,
            };
            cands.push(alt);
            groups.push(vec![cands.len() - 1]);
            alt_of.push(Some(g));
        }
    }
    let cands = cands;
    let groups = groups;
    let effect = |g: usize| &cands[groups[g][0]].effect;
    // A change waiting for a human may consume capacity, budget or headroom but never free
    // any: approved changes must not depend on an answer that may be "deny".
    let pending: Vec<bool> = groups
        .iter()
        .map(|m| {
            let c = &cands[m[0]];
            needs_human(intent, c, &ctx.graph.service(c.service).tier)
        })
        .collect();
    let coef = |g: usize, a: f64| if pending[g] { a.max(0.0) } else { a };

    let rank = |o: Objective| intent.rank(o);
    let levels = intent.priorities.len() + 1;
    let values: Vec<Vec<f64>> = (0..groups.len())
        .map(|g| {
            let e = effect(g);
            let mut v: Vec<f64> = intent.priorities.iter().map(|o| e.value_of(*o)).collect();
            // The last level keeps what breaks nothing (the agent may know more than the
            // graph) — but not a change that disrupts or takes capacity for no gain at any
            // objective: that is a risk with nothing to show for it.
            let disrupts = e.disruptive || e.dip > 0.0;
            v.push(if disrupts && e.value.iter().all(|x| *x <= 0.0) {
                -1.0
            } else {
                1.0
            });
            v
        })
        .collect();

    let mut constraints = Vec::new();
    let mut by_service: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut cap_terms: BTreeMap<usize, Vec<(usize, f64)>> = BTreeMap::new();
    for g in 0..groups.len() {
        by_service.entry(effect(g).service).or_default().push(g);
        for &(s, c) in &effect(g).cap {
            cap_terms.entry(s).or_default().push((g, coef(g, -c)));
        }
    }

    let mut caps = BTreeMap::new();
    for (s, terms) in cap_terms {
        if terms.iter().all(|(_, a)| *a <= 0.0) {
            continue;
        }
        let cap = ctx.capacity(
            s,
            headroom.of(s),
            in_flight_cap.get(&s).copied().unwrap_or(0.0),
        );
        caps.insert(s, cap);
        constraints.push(Constraint {
            guard: Guard::Capacity { service: s },
            body: Body::Linear(terms),
            rhs: (cap.now - cap.required).max(0.0),
            soft_level: Some(rank(Objective::Availability)),
        });
    }

    // While a change rolls out, the replicas left must carry the load now. A repair's dip
    // lasts a roll-out; the failure it ends lasts until someone acts: it is not held to this
    // (nor to the latency its roll-out adds, below).
    let mut dips: BTreeMap<usize, Vec<(usize, f64)>> = BTreeMap::new();
    for g in 0..groups.len() {
        if effect(g).dip > 0.0 && effect(g).repairs == 0.0 {
            dips.entry(effect(g).service)
                .or_default()
                .push((g, effect(g).dip));
        }
    }
    for (s, terms) in dips {
        let attrs = ctx.graph.service(s);
        let state = &ctx.world.services[s];
        let now = state.capacity_rps(attrs.capacity_rps_per_replica)
            + in_flight_cap.get(&s).copied().unwrap_or(0.0);
        constraints.push(Constraint {
            guard: Guard::Dip { service: s },
            body: Body::Linear(terms),
            rhs: (now - state.load_rps).max(0.0),
            soft_level: Some(rank(Objective::Availability)),
        });
    }

    let mut slos = Vec::new();
    for (index, slo) in intent.slos.iter().enumerate() {
        let Some(target) = ctx.graph.index_of(&slo.service) else {
            continue;
        };
        let info = SloInfo {
            index,
            target,
            target_ms: slo.p99_latency_ms,
            p99_now: ctx.world.services[target].p99_ms,
        };
        let below = super::path::Below::target(ctx.graph, target);
        let terms: Vec<(usize, f64)> = (0..groups.len())
            .filter(|&g| {
                below.contains(ctx.graph, effect(g).service)
                    && effect(g).added_latency_ms != 0.0
                    && effect(g).repairs == 0.0
            })
            .map(|g| (g, coef(g, effect(g).added_latency_ms)))
            .collect();
        if !terms.is_empty() {
            constraints.push(Constraint {
                guard: Guard::Slo { slo: slos.len() },
                body: Body::Linear(terms),
                rhs: (info.target_ms - info.p99_now).max(0.0),
                soft_level: Some(rank(Objective::Latency)),
            });
        }
        slos.push(info);
    }

    if let Some(budget) = intent.max_cost_per_hour {
        // A soft budget does not hold back what serves an objective ranked above cost.
        let held = |g: usize| {
            !intent.budget_soft || super::harm::served_above_cost(intent, effect(g)).is_none()
        };
        let terms: Vec<(usize, f64)> = (0..groups.len())
            .filter(|&g| effect(g).cost_per_hour != 0.0 && held(g))
            .map(|g| (g, coef(g, effect(g).cost_per_hour)))
            .collect();
        if !terms.is_empty() {
            constraints.push(Constraint {
                guard: Guard::Budget,
                body: Body::Linear(terms),
                rhs: (budget + ctx.budget_granted - spend).max(0.0),
                soft_level: None,
            });
        }
    }

    // A repair (see `Effect::repairs`) disrupts a service whose requests are failing anyway:
    // the limit on disruption is there to protect working traffic, not to keep it failing.
    let mut hurt: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for g in 0..groups.len() {
        if effect(g).disruptive && effect(g).repairs == 0.0 {
            hurt.entry(effect(g).service).or_default().push(g);
        }
    }
    if !hurt.is_empty() {
        let sets = hurt
            .into_iter()
            .map(|(s, gs)| {
                let w = if disrupted.contains(&s) {
                    0.0
                } else {
                    ctx.world.traffic_share[s]
                };
                (w, gs)
            })
            .collect();
        constraints.push(Constraint {
            guard: Guard::Blast,
            body: Body::Union(sets),
            rhs: (intent.blast.max_entry_traffic_share - blast_used).max(0.0),
            soft_level: None,
        });
    }

    for (a, orig) in alt_of.iter().enumerate() {
        if let Some(g) = orig {
            constraints.push(Constraint {
                guard: Guard::Conflict,
                body: Body::Linear(vec![(*g, 1.0), (a, 1.0)]),
                rhs: 1.0,
                soft_level: None,
            });
        }
    }

    let limit = intent.blast.max_changes_per_service as f64;
    for (&s, gs) in &by_service {
        let busy = in_flight_changes.get(&s).copied().unwrap_or(0) as f64;
        constraints.push(Constraint {
            guard: Guard::Concurrency { service: s },
            body: Body::Linear(
                gs.iter()
                    .filter(|&&g| !effect(g).urgent)
                    .map(|&g| (g, 1.0))
                    .collect(),
            ),
            rhs: (limit - busy).max(0.0),
            soft_level: None,
        });
        for (i, &a) in gs.iter().enumerate() {
            for &b in &gs[i + 1..] {
                let clash = groups[a].iter().any(|&x| {
                    groups[b]
                        .iter()
                        .any(|&y| contradicts(&cands[x].action, &cands[y].action))
                });
                if clash {
                    constraints.push(Constraint {
                        guard: Guard::Conflict,
                        body: Body::Linear(vec![(a, 1.0), (b, 1.0)]),
                        rhs: 1.0,
                        soft_level: None,
                    });
                }
            }
        }
    }

    let solution = solve_window(&values, constraints, levels, cfg);

    Window {
        ctx,
        intent,
        cands,
        groups,
        alt_of,
        caps,
        slos,
        spend,
        blast_used,
        in_flight_changes,
        solved: solution.components,
        x: solution.x,
        dormant: solution.dormant,
        plan_lacks: std::cell::OnceCell::new(),
    }
}
