//! Checks that need no optimisation: validity, identity and role, expiry, intent in force,
//! observe-only zones and freezes. What fails here is answered at once.

use super::explain::paragraph;
use super::{blank_decision, Context};
use crate::contract::{Action, Decision, Invalid, Proposal, Reason, ReasonCode, Verdict};
use crate::intent::Zone;

/// Answers a payload refused at the boundary.
pub(crate) fn invalid(ctx: &Context, inv: &Invalid) -> Decision {
    let mut d = blank_decision(
        ctx,
        inv.id.clone().unwrap_or_default(),
        inv.agent.clone().unwrap_or_default(),
        Verdict::Invalid,
    );
    d.reasons = inv
        .problems
        .iter()
        .map(|p| {
            let r = Reason::new(p.code).detail(p.detail.clone());
            if p.field.is_empty() {
                r
            } else {
                r.field(&p.field)
            }
        })
        .collect();
    d.explanation = format!(
        "Invalid: the proposal was refused before any decision because it does not follow the contract: {inv}. Fix the payload and send it again under a new id."
    );
    d
}

/// Answers a proposal without deciding it (used for refusals found outside the engine, such
/// as a subject that does not match the payload).
pub fn answer(
    ctx: &Context,
    p: &Proposal,
    verdict: Verdict,
    reason: Reason,
    because: String,
) -> Box<Decision> {
    let mut d = blank_decision(ctx, p.id.clone(), p.agent.clone(), verdict);
    d.explanation = paragraph(verdict, p, &because, None, ctx.intent);
    d.reasons = vec![reason];
    Box::new(d)
}

/// Returns the index of the target service when the proposal goes on to optimisation.
pub(crate) fn check(ctx: &Context, p: &Proposal) -> Result<usize, Box<Decision>> {
    let service = p.action.service();
    let Some(s) = ctx.graph.index_of(service) else {
        return Err(answer(
            ctx,
            p,
            Verdict::Invalid,
            Reason::new(ReasonCode::UnknownService).field("action.service").service(service),
            format!("Service '{service}' is not in the service graph (version {}), so no effect can be estimated", ctx.graph.version()),
        ));
    };

    let unauthorized = |code: crate::contract::ReasonCode, because: String| {
        Err(answer(
            ctx,
            p,
            Verdict::Unauthorized,
            Reason::new(code).detail(because.clone()).by(&p.agent),
            because,
        ))
    };
    let Some(role) = ctx.roles.agents.get(&p.agent) else {
        return unauthorized(
            ReasonCode::UnknownAgent,
            format!("Agent '{}' has no role in agents.toml; every agent must be given one before it may propose", p.agent),
        );
    };
    if !role.domains.contains(&p.domain) {
        let allowed: Vec<&str> = role.domains.iter().map(|d| d.as_str()).collect();
        return unauthorized(
            ReasonCode::DomainNotAllowed,
            format!(
                "Agent '{}' may act for {} only, not for {}",
                p.agent,
                allowed.join(", "),
                p.domain.as_str()
            ),
        );
    }
    let kind = p.action.kind();
    if role.kinds.as_ref().is_some_and(|k| !k.contains(&kind)) {
        return unauthorized(
            ReasonCode::KindNotAllowed,
            format!(
                "Agent '{}' may not propose {} actions",
                p.agent,
                kind.as_str()
            ),
        );
    }
    if !role.allows_service(service) {
        return unauthorized(
            ReasonCode::ServiceNotAllowed,
            format!("Agent '{}' may not act on {service}", p.agent),
        );
    }

    if p.expires_at <= ctx.now {
        return Err(answer(
            ctx,
            p,
            Verdict::Expired,
            Reason::new(ReasonCode::Expired).detail(format!(
                "expired at {}, decided at {}",
                p.expires_at, ctx.now
            )),
            format!(
                "The proposal expired at {} before it could be decided (at {})",
                p.expires_at, ctx.now
            ),
        ));
    }

    let Some(intent) = ctx.intent else {
        let mut d = *answer(
            ctx,
            p,
            Verdict::Escalated,
            Reason::new(ReasonCode::NoIntentInForce).detail(format!("no intent file covers {}", ctx.now)),
            format!("No declared intent covers {}, so the arbiter cannot weigh this change; a human must decide", ctx.now),
        );
        d.recommendation = None;
        return Err(Box::new(d));
    };

    let tier = &ctx.graph.service(s).tier;
    let zone = intent.zone(p.domain, tier);
    if zone == Zone::Observe {
        return Err(answer(
            ctx,
            p,
            Verdict::Rejected,
            Reason::new(ReasonCode::AutonomyObserve).clause(format!("autonomy.{}.{tier}=observe", p.domain.as_str())),
            format!("The {} domain is in the observe zone for {tier} services: its proposals are recorded, never executed", p.domain.as_str()),
        ));
    }

    if let Some((i, f)) = intent
        .freezes
        .iter()
        .enumerate()
        .find(|(_, f)| f.covers(ctx.now, kind, service))
    {
        let mut d = answer(
            ctx,
            p,
            Verdict::Deferred,
            Reason::new(ReasonCode::ChangeFreeze)
                .service(service)
                .clause(format!("freeze[{i}]={}", f.name))
                .detail(format!(
                    "{} changes are frozen until {}",
                    kind.as_str(),
                    f.end
                )),
            format!(
                "Change freeze '{}' holds {} changes until {}; send it again after the freeze",
                f.name,
                kind.as_str(),
                f.end
            ),
        );
        d.retry_after = Some(f.end);
        return Err(d);
    }

    // Capacity taken away on a load nobody measured cannot be shown safe.
    let removes = matches!(p.action, Action::Scale { replicas, .. } if replicas < 0);
    if removes && !ctx.world.services[s].load_known {
        let unmeasured: Vec<&str> = ctx
            .graph
            .entries()
            .iter()
            .enumerate()
            .filter(|&(k, _)| !ctx.world.entry_rate_known[k] && ctx.graph.visits(k, s) > 0.0)
            .map(|(_, &e)| ctx.graph.service(e).name.as_str())
            .collect();
        let detail = format!(
            "no telemetry measures the load of {service} or of the entry points its requests come from ({}), and the overlay declares no entry_rps for them",
            unmeasured.join(", ")
        );
        return Err(answer(
            ctx,
            p,
            Verdict::Rejected,
            Reason::new(ReasonCode::LoadUnknown).service(service).detail(detail.clone()),
            format!("The load of {service} is unknown ({detail}), so removing capacity from it cannot be shown safe"),
        ));
    }
    Ok(s)
}
