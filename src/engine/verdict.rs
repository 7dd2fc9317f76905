//! From a solved window to one decision per proposal, with reasons and counterfactuals.
//!
//! A selected proposal is approved where its domain may act alone on the service's tier and
//! its confidence suffices, else escalated with the arbiter's recommendation. A proposal left
//! out is explained by flipping it in: the constraints that selection would break are its
//! reasons (with numbers), a contradicting proposal that was kept outranked it (at the first
//! priority level where keeping it scores better), and the verdict follows from what broke —
//! a shared limit used by others now means deferred, a risk too large on its own or a budget
//! standing alone against a higher priority means a human decides (`harm.rs`), anything else
//! means rejected.

use super::blank_decision;
use super::effect::as_expected;
use super::explain::{action_phrase, paragraph};
use super::problem::{deciding_level, Constraint, Guard, Problem};
use super::solve::SolveStatus;
use super::window::{Cand, Window};
use crate::contract::{round3, BlastRadius, Decision, Estimate, Reason, ReasonCode, Verdict};
use crate::intent::{Objective, Zone};

pub(crate) fn decisions(w: &Window) -> Vec<(usize, Decision)> {
    let mut out = Vec::with_capacity(w.cands.len());
    for (members, problem, solved) in &w.solved {
        let solver_note = solver_reason(&solved.status);
        let score_x = problem.score(&solved.x);
        for (l, &g) in members.iter().enumerate() {
            // A sized alternative speaks only when it was chosen, and then for the original
            // proposal and those merged with it; the original is then silent.
            let alternative = w.alt_of[g];
            let chosen_alternative = w
                .alt_of
                .iter()
                .position(|o| *o == Some(g))
                .filter(|&a| w.x[a]);
            if (alternative.is_some() && !solved.x[l]) || chosen_alternative.is_some() {
                continue;
            }
            let group: &[usize] = match alternative {
                Some(orig) => &w.groups[orig],
                None => &w.groups[g],
            };
            let primary = &w.cands[w.groups[g][0]];
            let (verdict, mut reasons, because, counterfactual, recommendation) = if solved.x[l] {
                selected(w, problem, &solved.x, score_x.as_deref(), l, primary)
            } else {
                left_out(w, members, problem, &solved.x, score_x.as_deref(), l)
            };
            if group.len() > 1 {
                let others: Vec<String> = group[1..].iter().map(|&c| w.cands[c].p.key()).collect();
                reasons.push(
                    Reason::new(ReasonCode::MergedProposals)
                        .detail(format!("also answers {}", others.join(", "))),
                );
            }
            if let Some(r) = &solver_note {
                reasons.push(r.clone());
            }
            let amended =
                primary.amended && matches!(verdict, Verdict::Approved | Verdict::Escalated);
            if primary.amended {
                reasons.push(
                    Reason::new(ReasonCode::Amended)
                        .detail(amendment(primary))
                        .clause(match primary.action {
                            crate::contract::Action::Scale { .. } => "capacity.horizon_h",
                            _ => "blast_radius.max_entry_traffic_share",
                        }),
                );
            }
            let mut d = decision(
                w,
                primary,
                verdict,
                reasons,
                &because,
                counterfactual.as_deref(),
            );
            d.recommendation = recommendation;
            if amended {
                d.action = Some(primary.action.clone());
                d.explanation.push_str(&format!(
                    " Execute it as amended: {}.",
                    action_phrase(&primary.action)
                ));
            } else if primary.amended {
                d.explanation.push_str(&format!(
                    " It was judged as {}, since a full one would exceed the blast-radius limit; even so it does not fit.",
                    action_phrase(&primary.action)
                ));
            }
            out.push((primary.sub, d));
            for &c in &group[1..] {
                let cand = &w.cands[c];
                let (v, because) = if solved.x[l] {
                    (
                        Verdict::Merged,
                        format!(
                            "The same change is already answered by {}, which {}",
                            primary.p.key(),
                            if verdict == Verdict::Approved {
                                "was approved: do not execute this one"
                            } else {
                                "went to a human"
                            }
                        ),
                    )
                } else {
                    (
                        verdict,
                        format!(
                            "It is the same change as {} and shares its verdict: {because}",
                            primary.p.key()
                        ),
                    )
                };
                let mut reasons = vec![Reason::new(ReasonCode::Merged)
                    .by(&primary.p.key())
                    .detail(format!(
                        "same change as {}",
                        action_phrase(&primary.p.action)
                    ))];
                if let Some(r) = &solver_note {
                    reasons.push(r.clone());
                }
                let mut d = decision(w, cand, v, reasons, &because, None);
                if v == Verdict::Merged {
                    d.merged_into = Some(primary.p.key());
                }
                out.push((cand.sub, d));
            }
        }
    }
    out
}

/// Why the action decided on differs from the one proposed.
fn amendment(c: &Cand) -> String {
    match &c.action {
        crate::contract::Action::Scale { replicas, .. } if *replicas < 0 => format!(
            "sized by the arbiter: {} instead of as proposed, still carrying the forecast peak over the intent's horizon at no more than {:.0}% utilisation, and a replica more",
            action_phrase(&c.action),
            super::sizing::SIZED_UTILISATION * 100.0
        ),
        crate::contract::Action::Scale { .. } => format!(
            "sized by the arbiter: {} instead of as proposed, to carry the forecast peak over the intent's horizon at {:.0}% utilisation",
            action_phrase(&c.action),
            super::sizing::SIZED_UTILISATION * 100.0
        ),
        _ => format!(
            "judged as {} instead of as proposed: done in one go it would take down a service carrying more entry traffic than the blast-radius limit",
            action_phrase(&c.action)
        ),
    }
}

/// How many hurt services a decision lists: the target and its nearest callers. The share of
/// entry traffic covers them all; a list of thousands would help nobody reading it.
const BLAST_LISTED: usize = 32;

type Parts = (
    Verdict,
    Vec<Reason>,
    String,
    Option<String>,
    Option<crate::contract::Recommendation>,
);

/// Whether a proposal, if selected, still needs a human: known before solving, so that no
/// approved change relies on capacity or budget that a human's answer may never free.
pub(crate) fn needs_human(intent: &crate::intent::Intent, c: &Cand, tier: &str) -> bool {
    intent.zone(c.p.domain, tier) != Zone::Autonomous
        || c.p.confidence < intent.autonomous_min_confidence
        || (!c.p.reversible && intent.escalation.irreversible)
}

fn selected(
    w: &Window,
    problem: &Problem,
    x: &[bool],
    score_x: Option<&[f64]>,
    l: usize,
    c: &Cand,
) -> Parts {
    let intent = w.intent;
    let mut reasons = Vec::new();
    let mut without = x.to_vec();
    without[l] = false;
    let gained = match (score_x, problem.score(&without)) {
        (Some(a), Some(b)) => deciding_level(a, &b),
        _ => None,
    };
    let clause_of = |level: Option<usize>| {
        level
            .and_then(|k| intent.priorities.get(k))
            .map(|o| intent.priority_clause(*o))
            .unwrap_or_else(|| "no objection at any priority".to_string())
    };
    for con in &problem.constraints {
        if con.soft_level.is_some() && con.mentions(l) && con.violated(x) {
            let (mut r, _) = guard_reason(w, &con.guard, con.lhs(x));
            r.code = r.code.accepted_risk().unwrap_or(r.code);
            reasons.push(r.clause(clause_of(gained)));
        }
    }
    let checked: Vec<String> = problem
        .constraints
        .iter()
        .filter(|con| con.mentions(l) && !con.violated(x) && con.guard != Guard::Conflict)
        .map(|con| guard_reason(w, &con.guard, con.lhs(x)).1)
        .collect();
    reasons.insert(
        0,
        Reason::new(ReasonCode::WithinIntent)
            .clause(clause_of(gained))
            .detail(if checked.is_empty() {
                "breaks no constraint of the intent".to_string()
            } else {
                checked.join("; ")
            }),
    );
    reasons.extend(super::harm::repair_reason(w, c));
    reasons.extend(super::harm::soft_budget_reason(w, c));
    if !w.intent.budget_soft {
        reasons.extend(super::harm::granted_budget_reason(w, c));
    }
    let busy = w.in_flight_changes.get(&c.service).is_some_and(|&n| n > 0);
    reasons.extend(super::harm::urgent_reason(w, c, busy));
    let tier = &w.ctx.graph.service(c.service).tier;
    let domain = c.p.domain.as_str();
    let zone = intent.zone(c.p.domain, tier);
    let escalate = |code: crate::contract::ReasonCode, clause: String, why: String| -> Parts {
        let mut rs = vec![Reason::new(code).clause(clause)];
        rs.extend(reasons.clone());
        (
            Verdict::Escalated,
            rs,
            why,
            None,
            Some(crate::contract::Recommendation::Approve),
        )
    };
    match zone {
        Zone::Recommend | Zone::Approve | Zone::Observe => {
            let z = zone.as_str();
            let code = match zone {
                Zone::Recommend => ReasonCode::AutonomyRecommend,
                Zone::Approve => ReasonCode::AutonomyApprove,
                _ => ReasonCode::AutonomyObserve,
            };
            escalate(
                code,
                format!("autonomy.{domain}.{tier}={z}"),
                format!("The arbiter would approve it, but the {domain} domain is in the {z} zone for {tier} services, so a human must decide before it happens"),
            )
        }
        Zone::Autonomous if c.p.confidence < intent.autonomous_min_confidence => {
            let mut parts = escalate(
                ReasonCode::LowConfidence,
                "confidence.autonomous_min".into(),
                format!("The arbiter would approve it, but the agent's confidence {} is below the {} required to act alone", c.p.confidence, intent.autonomous_min_confidence),
            );
            parts.1[0] = parts.1[0].clone().numbers(c.p.confidence, intent.autonomous_min_confidence);
            parts
        }
        Zone::Autonomous if !c.p.reversible && intent.escalation.irreversible => escalate(
            ReasonCode::Irreversible,
            "escalation.irreversible=true".into(),
            "The arbiter would approve it, but the action cannot be reversed, and the intent sends irreversible actions to a human".into(),
        ),
        Zone::Autonomous => {
            let because = match gained {
                Some(k) => format!("It serves {} within every hard limit of the intent", intent.priorities.get(k).map_or("the intent", |o| o.as_str())),
                None => "Nothing in the intent argues against it and it stays within every hard limit".to_string(),
            };
            (Verdict::Approved, reasons, because, None, None)
        }
    }
}

fn left_out(
    w: &Window,
    members: &[usize],
    problem: &Problem,
    x: &[bool],
    score_x: Option<&[f64]>,
    l: usize,
) -> Parts {
    let intent = w.intent;
    let mut with = x.to_vec();
    with[l] = true;
    let mut reasons = Vec::new();
    let mut effects = Vec::new();
    let mut guards = Vec::new();
    let mut dormant_blast_alone = false;
    // Kept proposals it contradicts; the counterfactual is "approved instead of them".
    let mut rivals = Vec::new();
    for con in &problem.constraints {
        if con.guard == Guard::Conflict && con.mentions(l) && con.violated(&with) {
            rivals.extend(con.vars().into_iter().filter(|&v| v != l && x[v]));
        }
    }
    for &v in &rivals {
        with[v] = false;
    }
    // Each limit flipping it in would break: its guard, what would happen, its reason; and
    // where the budget is one, the spend it would reach.
    let mut budget_reached = None;
    let mut broke = |con: &Constraint, lhs: f64| {
        let (mut r, text) = guard_reason(w, &con.guard, lhs);
        if let Some(k) = con.soft_level {
            r = r.clause(intent.priority_clause(intent.priorities[k]));
        }
        if con.guard == Guard::Budget {
            budget_reached = Some(w.spend + lhs);
        }
        guards.push(con.guard.clone());
        effects.push(text);
        reasons.push(r);
    };
    for con in &problem.constraints {
        if con.guard == Guard::Conflict
            || !con.mentions(l)
            || !con.violated(&with)
            || con.violated(x)
        {
            continue;
        }
        broke(con, con.lhs(&with));
    }
    // Window-wide limits that bound nothing in the chosen selection may still be what this
    // proposal would have broken.
    let g = members[l];
    let mut with_all = w.x.clone();
    with_all[g] = true;
    for &v in &rivals {
        with_all[members[v]] = false;
    }
    let mut only = vec![false; w.x.len()];
    only[g] = true;
    for con in w
        .dormant
        .iter()
        .filter(|c| c.mentions(g) && c.violated(&with_all))
    {
        if con.guard == Guard::Blast && con.lhs(&only) > intent.blast.max_entry_traffic_share + 1e-9
        {
            dormant_blast_alone = true;
        }
        broke(con, con.lhs(&with_all));
    }
    for &v in &rivals {
        let level = match (&score_x, problem.score(&with)) {
            (Some(a), Some(b)) => deciding_level(a, &b),
            _ => None,
        };
        let clause = level
            .and_then(|k| intent.priorities.get(k))
            .map(|o| intent.priority_clause(*o))
            .unwrap_or_else(|| "equal value: the earlier proposal was kept".to_string());
        let rival = w.primary(members[v]);
        reasons.insert(
            0,
            Reason::new(ReasonCode::Outranked)
                .by(&rival.p.key())
                .clause(clause),
        );
        effects.push(format!(
            "it contradicts {} ({}), which was kept",
            rival.p.key(),
            action_phrase(&rival.p.action)
        ));
    }
    let cf = (!effects.is_empty()).then(|| effects.join("; "));
    let alone_too_big = dormant_blast_alone
        || guards.contains(&Guard::Blast) && {
            let mut only = vec![false; x.len()];
            only[l] = true;
            // Against the whole limit: what others hold now will be released.
            let limit = intent.blast.max_entry_traffic_share;
            problem
                .constraints
                .iter()
                .any(|c| c.guard == Guard::Blast && c.lhs(&only) > limit + 1e-9)
        };
    let only_shared_limits = !guards.is_empty()
        && rivals.is_empty()
        && guards
            .iter()
            .all(|g| matches!(g, Guard::Blast | Guard::Concurrency { .. }));
    let only_budget =
        rivals.is_empty() && !guards.is_empty() && guards.iter().all(|g| *g == Guard::Budget);
    if only_budget {
        let e = &w.primary(g).effect;
        if let Some(serves) = super::harm::served_above_cost(intent, e) {
            // As the budget reason states it (both figures rounded the same way).
            let limit = intent.max_cost_per_hour.unwrap_or(f64::INFINITY) + w.ctx.budget_granted;
            let overspend = budget_reached
                .map_or(e.cost_per_hour, |spend| round3(spend) - round3(limit))
                .max(0.0);
            let because = super::harm::over_budget(intent, serves, overspend);
            reasons.extend(super::harm::overspend_asked(
                w,
                w.primary(g),
                budget_reached,
            ));
            return (
                Verdict::Escalated,
                reasons,
                because,
                cf,
                Some(crate::contract::Recommendation::Approve),
            );
        }
    }
    if alone_too_big {
        let because = "Its blast radius alone exceeds the intent's limit: only a human may accept that risk, and the arbiter recommends denying it".to_string();
        return (
            Verdict::Escalated,
            reasons,
            because,
            cf,
            Some(crate::contract::Recommendation::Deny),
        );
    }
    if only_shared_limits {
        let because = "A shared limit is used up by changes in flight or kept in this window; send it again once they complete".to_string();
        return (Verdict::Deferred, reasons, because, cf, None);
    }
    if reasons.is_empty() {
        let with_score = problem.score(&with);
        let level = match (&score_x, &with_score) {
            (Some(a), Some(b)) => deciding_level(a, b),
            _ => None,
        };
        let objective = level.and_then(|k| intent.priorities.get(k)).copied();
        let clause = objective.map_or("the intent".to_string(), |o| intent.priority_clause(o));
        reasons.push(
            Reason::new(ReasonCode::NotBeneficial)
                .clause(clause.clone())
                .detail(match objective {
                    Some(o) => format!("it would cost more {} than it gains", o.as_str()),
                    None => "it gains nothing the intent values".to_string(),
                }),
        );
        let because = match objective {
            Some(o) => format!(
                "It would cost {} without serving anything ranked higher ({clause})",
                if o == Objective::Cost { "money" } else { o.as_str() }
            ),
            None => "It would disrupt the service or take capacity from it, and serves none of the intent's objectives by the arbiter's estimate".to_string(),
        };
        return (
            Verdict::Rejected,
            reasons,
            because,
            Some(match objective {
                Some(Objective::Cost) => {
                    "spend would rise for no gain the intent ranks higher".to_string()
                }
                Some(Objective::Latency) => {
                    "latency would rise for no gain the intent ranks higher".to_string()
                }
                _ => "the intent's objectives would be served worse".to_string(),
            }),
            None,
        );
    }
    let because = match reasons.first() {
        Some(r) if r.code == ReasonCode::Outranked => format!(
            "A contradicting proposal served the intent better ({})",
            r.intent_clause.clone().unwrap_or_default()
        ),
        Some(r) => format!(
            "It would break the intent's {} limit",
            r.code.as_str().replace('_', " ")
        ),
        None => unreachable!("reasons checked non-empty"),
    };
    (Verdict::Rejected, reasons, because, cf, None)
}

/// A reason for a guard at left-hand value `lhs`, and a sentence of what happens there.
fn guard_reason(w: &Window, guard: &Guard, lhs: f64) -> (Reason, String) {
    let g = w.ctx.graph;
    let intent = w.intent;
    match guard {
        Guard::Capacity { service } => {
            let cap = w.caps[service];
            let after = cap.now - lhs;
            let name = &g.service(*service).name;
            let text =
                format!(
                "capacity of {name} {after:.0} rps {} forecast {:.0} rps x {} headroom = {:.0} rps",
                if after + 1e-9 < cap.required { "<" } else { ">=" },
                cap.forecast,
                (cap.headroom * 100.0).round() / 100.0,
                cap.required
            );
            (
                Reason::new(ReasonCode::CapacityFloor)
                    .service(name)
                    .numbers(after, cap.required)
                    .detail(text.clone()),
                text,
            )
        }
        Guard::Dip { service } => {
            let attrs = g.service(*service);
            let state = &w.ctx.world.services[*service];
            let now = state.capacity_rps(attrs.capacity_rps_per_replica);
            let during = now - lhs;
            let text =
                format!(
                "while it rolls out {} would serve {during:.0} rps {} the {:.0} rps arriving now",
                attrs.name,
                if during + 1e-9 < state.load_rps { "<" } else { ">=" },
                state.load_rps
            );
            (
                Reason::new(ReasonCode::CapacityDip)
                    .service(&attrs.name)
                    .numbers(during, state.load_rps)
                    .detail(text.clone()),
                text,
            )
        }
        Guard::Slo { slo } => {
            let info = &w.slos[*slo];
            let name = &g.service(info.target).name;
            let value = info.p99_now + lhs;
            let text = format!(
                "p99 latency of {name} {value:.0} ms {} SLO {} ms (now {:.0} ms, changes add {lhs:.0} ms)",
                if value > info.target_ms + 1e-9 { ">" } else { "<=" },
                info.target_ms,
                info.p99_now
            );
            (
                Reason::new(ReasonCode::SloHeadroom)
                    .service(name)
                    .numbers(value, info.target_ms)
                    .detail(text.clone())
                    .field(&format!("slo[{}]", info.index)),
                text,
            )
        }
        Guard::Budget => {
            let budget = intent.max_cost_per_hour.unwrap_or(f64::INFINITY);
            let granted = w.ctx.budget_granted;
            let limit = budget + granted;
            let value = w.spend + lhs;
            let text = if granted > 0.0 {
                format!("spend {value:.2}/h against a budget of {budget:.2}/h and {granted:.2}/h beyond it that a person granted")
            } else {
                format!("spend {value:.2}/h against a budget of {limit:.2}/h")
            };
            (
                Reason::new(ReasonCode::Budget)
                    .numbers(value, limit)
                    .clause("budget.max_cost_per_hour")
                    .detail(text.clone()),
                text,
            )
        }
        Guard::Blast => {
            let limit = intent.blast.max_entry_traffic_share;
            let value = w.blast_used + lhs;
            let text = format!(
                "disruptive changes would touch {:.0}% of entry traffic, limit {:.0}%",
                value * 100.0,
                limit * 100.0
            );
            (
                Reason::new(ReasonCode::BlastRadius)
                    .numbers(value, limit)
                    .clause("blast_radius.max_entry_traffic_share")
                    .detail(text.clone()),
                text,
            )
        }
        Guard::Concurrency { service } => {
            let busy = w.in_flight_changes.get(service).copied().unwrap_or(0);
            let limit = intent.blast.max_changes_per_service as f64;
            let value = busy as f64 + lhs;
            let name = &g.service(*service).name;
            let code = if busy > 0 {
                ReasonCode::ChangeInFlight
            } else {
                ReasonCode::ConcurrencyLimit
            };
            let text = format!("{name} would have {value:.0} changes at once, limit {limit:.0} ({busy} already in flight)");
            (
                Reason::new(code)
                    .service(name)
                    .numbers(value, limit)
                    .clause("blast_radius.max_changes_per_service")
                    .detail(text.clone()),
                text,
            )
        }
        Guard::Conflict => (
            Reason::new(ReasonCode::Conflict),
            "contradicting changes".to_string(),
        ),
    }
}

fn solver_reason(status: &SolveStatus) -> Option<Reason> {
    match status {
        SolveStatus::Enumerated | SolveStatus::Optimal => None,
        SolveStatus::Incomplete { budget, level, gap } => {
            let mut r = Reason::new(if *budget == "deadline" { ReasonCode::SolverDeadline } else { ReasonCode::SolverIncomplete })
                .detail(format!("the {budget} was reached at priority level {level}; the best selection found was used, optimality not proven"));
            r.value = gap.map(crate::contract::round3);
            Some(r)
        }
        SolveStatus::Fallback { error } => Some(Reason::new(ReasonCode::SolverFallback).detail(
            format!("solver failed ({error}); a greedy selection was used"),
        )),
    }
}

fn decision(
    w: &Window,
    c: &Cand,
    verdict: Verdict,
    reasons: Vec<Reason>,
    because: &str,
    cf: Option<&str>,
) -> Decision {
    let g = w.ctx.graph;
    let mut d = blank_decision(w.ctx, c.p.id.clone(), c.p.agent.clone(), verdict);
    d.reasons = reasons;
    d.explanation = paragraph(verdict, c.p, because, cf, Some(w.intent));
    let contacts = &w.intent.escalation.contacts;
    if verdict == Verdict::Escalated && !contacts.is_empty() {
        d.explanation.push_str(&format!(
            " Asked: {} (answer within {} s).",
            contacts.join(", "),
            w.intent.escalation.timeout_s
        ));
    }
    d.blast_radius = Some(BlastRadius {
        services: g
            .upstream_nearest(c.service, BLAST_LISTED)
            .into_iter()
            .map(|s| g.name(s))
            .collect(),
        entry_traffic_share: crate::contract::round3(w.ctx.world.traffic_share[c.service]),
    });
    let risk = if c.effect.disruptive {
        w.ctx.world.traffic_share[c.service]
    } else {
        0.0
    };
    d.estimate = Some(Estimate {
        arbiter: as_expected(&c.effect, risk),
        agent: c.p.expected.clone(),
    });
    d
}
