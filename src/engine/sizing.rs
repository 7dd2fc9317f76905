//! A scale the agent sized by what it sees, sized again by what the arbiter knows.
//!
//! An agent sizes a scale by its own threshold on the load it sees now; the arbiter also knows
//! the forecast over the intent's horizon, the SLOs above the service and the capacity it plans
//! for (`path.rs`). Where those say the ask is too small either way, the same scale sized by
//! them is offered as an alternative the optimiser weighs against the original under the same
//! budget and limits, and the decision carries it as an amendment.

use super::effect::Capacity;
use super::window::Cand;
use super::Context;
use crate::contract::Action;

/// Utilisation at the forecast peak that a scale-up sized by the arbiter aims for: where the
/// queueing stretch of latency is 2.5x, comfortably off the knee.
pub(crate) const SIZED_UTILISATION: f64 = 0.6;

/// Replicas a sized scale-down leaves above the capacity planned: the arbiter asks for
/// capacity when a service is a replica short of it (`shortfall.rs`), and a forecast that
/// moves a little must not turn yesterday's removal into today's request.
const DOWNSIZE_MARGIN_REPLICAS: f64 = 1.0;

/// The share of an SLO's target above which nothing below it is sized down: the latency model
/// that says a removal is safe is least sure where the path already runs near its target
/// (measured: a gateway at 95% of its SLO, a removal sized to its model, then hours at the
/// target).
const DOWNSIZE_SLO_USE: f64 = 0.8;

/// The sized alternative of `c`'s scale, if it differs from the ask. `cap` is the target's
/// capacity before the change (changes in flight counted), `own` what the ask itself adds
/// there, `slo_excess_ms` how far the target is behind a breached SLO of a caller and
/// `slo_use` the largest share of such an SLO's target its p99 uses now.
pub(crate) fn resize(
    ctx: &Context,
    c: &Cand,
    cap: &Capacity,
    own: f64,
    slo_excess_ms: f64,
    slo_use: f64,
) -> Option<Action> {
    let Action::Scale { replicas, .. } = &c.action else {
        return None;
    };
    if *replicas > 0 {
        upsize(ctx, c, slo_excess_ms, cap.required - cap.now - own)
    } else if slo_use <= DOWNSIZE_SLO_USE {
        downsize(ctx, c, cap)
    } else {
        None
    }
}

/// A scale-up may be too small for the forecast over the intent's horizon, or for an SLO
/// breached above the service: the same scale-up sized to run the forecast peak at
/// [`SIZED_UTILISATION`], at most three times the ask.
fn upsize(ctx: &Context, c: &Cand, slo_excess_ms: f64, shortfall: f64) -> Option<Action> {
    let Action::Scale { service, replicas } = &c.action else {
        return None;
    };
    if slo_excess_ms <= 0.0 && shortfall <= 0.0 {
        return None;
    }
    let attrs = ctx.graph.service(c.service);
    let state = &ctx.world.services[c.service];
    let peak = state.forecast_rps.max(state.load_rps);
    let want = (peak / (attrs.capacity_rps_per_replica * SIZED_UTILISATION)).ceil() as i64
        - state.replicas as i64;
    let sized = want.min(3 * *replicas as i64).min(1000) as i32;
    (sized > *replicas).then(|| Action::Scale {
        service: service.clone(),
        replicas: sized,
    })
}

/// An agent that trims one replica at a time asks again every few minutes for what the
/// arbiter can already see is spare: each ask is another change, and in a zone where a person
/// approves, another question for them. The same scale-down sized to what is spare — capacity
/// beyond running the forecast peak over the horizon at [`SIZED_UTILISATION`], the level a
/// scale-up sized by the arbiter aims for, less [`DOWNSIZE_MARGIN_REPLICAS`], at most half the
/// replicas running — is one question instead of many. Sizing down to the planned headroom
/// alone was measured to leave entry points hovering at their SLO for hours where a path of
/// services shares it. Only on measured load (a spare computed from a default rate is not one
/// to remove) and only where every SLO above the service runs well inside its target.
fn downsize(ctx: &Context, c: &Cand, cap: &Capacity) -> Option<Action> {
    let Action::Scale { service, replicas } = &c.action else {
        return None;
    };
    let attrs = ctx.graph.service(c.service);
    let state = &ctx.world.services[c.service];
    let per_replica = attrs.capacity_rps_per_replica;
    if !state.load_known || per_replica <= 0.0 || *replicas >= 0 {
        return None;
    }
    let keep = (cap.forecast / SIZED_UTILISATION).max(cap.required);
    let spare = ((cap.now - keep) / per_replica - DOWNSIZE_MARGIN_REPLICAS).floor();
    let at_most = (state.replicas / 2) as f64;
    let sized = -(spare.min(at_most).max(0.0) as i32);
    (sized < *replicas).then(|| Action::Scale {
        service: service.clone(),
        replicas: sized,
    })
}
