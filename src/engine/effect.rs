//! The arbiter's own estimate of what an action does, from the graph and the world state.
//!
//! An agent's `expected` is a claim: it is recorded beside this estimate, and used only for
//! what the graph cannot know (the effect of a feature flag or a setting) — harms as claimed,
//! benefits discounted by the agent's confidence.
//!
//! Values (what selecting the action gains per objective) are normalised to [-1, 1] and
//! weighted by how much the business cares about the service, so that levels compare
//! proposals on one scale.

use super::Context;
use crate::contract::{Action, Expected, WafMode};
use crate::intent::Objective;
use crate::world::{queueing_latency, MAX_UTILISATION};

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Effect {
    pub service: usize,
    /// Lasting capacity-equivalent change per service, rps (negative: less headroom).
    pub cap: Vec<(usize, f64)>,
    /// Capacity the target loses only while the change rolls out, rps (>= 0). Judged against
    /// the load now, not the forecast: two minutes of one replica fewer is not a plan for the
    /// peak.
    pub dip: f64,
    /// Added own latency at the target, ms (negative: faster).
    pub added_latency_ms: f64,
    pub cost_per_hour: f64,
    /// Whether requests through the service may fail while it happens.
    pub disruptive: bool,
    /// The share of the target's requests failing now that the change is there to stop (a
    /// rollback of a failing release, a restart of an unhealthy service); 0 for any other.
    /// Not acting has a cost too: a failure lasts until someone acts, a repair's disruption
    /// a roll-out, so neither the blast-radius limit nor the dip and latency of its own
    /// roll-out hold a repair back (`dip` still says what the roll-out takes, beyond the
    /// requests failing anyway, for the record).
    pub repairs: f64,
    /// Whether it stops harm happening now: a repair (above), or blocking an attack under way.
    /// The one-change-per-service limit keeps changes from stepping on each other; it does
    /// not make a remedy wait behind a scale-up.
    pub urgent: bool,
    /// Gain per objective, indexed as `Objective::DEFAULT_ORDER`.
    pub value: [f64; 4],
}

/// Numbers about the target service the estimate and the explanations both use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Capacity {
    /// Capacity now, with changes in flight counted, rps.
    pub now: f64,
    /// Forecast demand × headroom, rps.
    pub required: f64,
    pub forecast: f64,
    /// The headroom planned for the service (`path.rs`).
    pub headroom: f64,
}

impl Context<'_> {
    pub(crate) fn capacity(&self, s: usize, headroom: f64, in_flight_cap: f64) -> Capacity {
        let attrs = self.graph.service(s);
        let state = &self.world.services[s];
        Capacity {
            now: (state.capacity_rps(attrs.capacity_rps_per_replica) + in_flight_cap).max(0.0),
            required: state.forecast_rps.max(state.load_rps) * headroom,
            forecast: state.forecast_rps.max(state.load_rps),
            headroom,
        }
    }
}

impl Effect {
    /// What selecting the action gains for objective `o`.
    pub(crate) fn value_of(&self, o: Objective) -> f64 {
        self.value[idx(o)]
    }
}

fn idx(o: Objective) -> usize {
    Objective::DEFAULT_ORDER
        .iter()
        .position(|x| *x == o)
        .expect("known objective")
}

/// Latency change at the target when its capacity changes by `delta` rps under forecast load.
fn latency_shift(ctx: &Context, s: usize, cap: &Capacity, delta: f64) -> f64 {
    let base = ctx.graph.service(s).base_latency_ms;
    let util = |c: f64| {
        if c > 0.0 {
            cap.forecast / c
        } else {
            MAX_UTILISATION
        }
    };
    queueing_latency(base, util(cap.now + delta)) - queueing_latency(base, util(cap.now))
}

/// How much faster requests to `s` get when a share `cut` of the load entering at `s` (and
/// therefore of what it sends to every service below it) disappears: the path latency from
/// `s` before minus after, by the same queueing model.
fn path_relief(ctx: &Context, s: usize, cut: f64) -> f64 {
    let cut = cut.clamp(0.0, 1.0);
    let below = ctx.graph.downstream(s);
    let mut before = vec![0.0; ctx.graph.len()];
    let mut after = vec![0.0; ctx.graph.len()];
    for &t in &below {
        let attrs = ctx.graph.service(t);
        let state = &ctx.world.services[t];
        let c = state.capacity_rps(attrs.capacity_rps_per_replica);
        let u = |load: f64| if c > 0.0 { load / c } else { MAX_UTILISATION };
        // Only the entry's share of the load goes away below it.
        let share = entry_share(ctx, s, t);
        before[t] = queueing_latency(attrs.base_latency_ms, u(state.load_rps));
        after[t] = queueing_latency(
            attrs.base_latency_ms,
            u(state.load_rps * (1.0 - cut * share)),
        );
    }
    let b = ctx.graph.path_latency(&before);
    let a = ctx.graph.path_latency(&after);
    (b[s] - a[s]).max(0.0)
}

/// The share of `t`'s load that arrives through `s` (1 for `s` itself, or when `s` is the only
/// entry point reaching `t`).
fn entry_share(ctx: &Context, s: usize, t: usize) -> f64 {
    let Some(k) = ctx.graph.entries().iter().position(|&e| e == s) else {
        return if s == t { 1.0 } else { 0.0 };
    };
    let total: f64 = ctx
        .graph
        .entries()
        .iter()
        .enumerate()
        .map(|(j, &e)| ctx.world.services[e].load_rps * ctx.graph.visits(j, t))
        .sum();
    if total > 0.0 {
        (ctx.world.services[s].load_rps * ctx.graph.visits(k, t) / total).min(1.0)
    } else {
        0.0
    }
}

/// Capacity lost while instances restart: one replica at a time when rolling (all of it if
/// there is only one), everything otherwise.
fn restart_loss(cap: &Capacity, replicas: u32, rolling: bool) -> f64 {
    if rolling && replicas >= 2 {
        -cap.now / replicas as f64
    } else {
        -cap.now
    }
}

/// Below this share of failing requests a service is not counted as failing: every service
/// fails a few requests, and a release is not to blame for the usual trickle.
pub const FAILING_ERROR_RATE: f64 = 0.01;

/// The share of a service's requests failing now, if enough to call it failing.
fn failing_share(state: &crate::world::ServiceState) -> f64 {
    if !state.healthy {
        1.0
    } else if state.error_rate >= FAILING_ERROR_RATE {
        state.error_rate.min(1.0)
    } else {
        0.0
    }
}

/// The capacity a repair takes out while it rolls out, less what the requests failing now
/// already lose: a dip that only loses requests that fail anyway harms nothing more.
fn beyond_failing(dip: f64, failing: f64, load_rps: f64) -> f64 {
    (dip - failing * load_rps).max(0.0)
}

/// What surrounds an action when it is estimated.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Basis {
    pub headroom: f64,
    /// Capacity changes already in flight on the target, rps.
    pub in_flight_cap: f64,
    /// Fleet spend per hour, with changes in flight.
    pub spend: f64,
    /// How far the target is behind a breached SLO of a caller, ms (0: none breached).
    pub slo_excess_ms: f64,
}

pub(crate) fn estimate(
    ctx: &Context,
    action: &Action,
    conf: f64,
    claim: &Expected,
    s: usize,
    basis: Basis,
) -> Effect {
    let Basis {
        headroom,
        in_flight_cap,
        spend,
        slo_excess_ms,
    } = basis;
    let attrs = ctx.graph.service(s);
    let state = &ctx.world.services[s];
    let cap = ctx.capacity(s, headroom, in_flight_cap);
    let importance = ctx.graph.importance(s).max(0.05);
    let attacked = ctx.world.attack_reaches(ctx.graph, s);
    let shortfall = (cap.required - cap.now).max(0.0);
    let mut e = Effect {
        service: s,
        cap: Vec::new(),
        dip: 0.0,
        added_latency_ms: 0.0,
        cost_per_hour: 0.0,
        disruptive: false,
        repairs: 0.0,
        urgent: false,
        value: [0.0; 4],
    };
    let mut availability = 0.0;
    let mut security = 0.0;
    // Availability gained by adding `gain` rps where capacity falls short.
    let relieve = |gain: f64| {
        if shortfall > 0.0 && gain > 0.0 {
            (gain / shortfall).min(1.0)
        } else {
            0.0
        }
    };
    let broken = (state.error_rate * 10.0)
        .min(1.0)
        .max(if state.healthy { 0.0 } else { 1.0 });
    match action {
        Action::Scale { replicas, .. } => {
            let delta = *replicas as f64 * attrs.capacity_rps_per_replica;
            let delta = delta.max(-cap.now);
            e.cap.push((s, delta));
            e.added_latency_ms = latency_shift(ctx, s, &cap, delta);
            e.cost_per_hour = *replicas as f64 * attrs.cost_per_replica_hour;
            availability = relieve(delta);
        }
        Action::Restart { rolling, .. } => {
            let loss = restart_loss(&cap, state.replicas, *rolling);
            e.repairs = if state.healthy { 0.0 } else { 1.0 };
            e.dip = beyond_failing(-loss, e.repairs, state.load_rps);
            e.added_latency_ms = latency_shift(ctx, s, &cap, loss).max(0.0);
            // One replica at a time takes capacity (the floor sees it) but never the service
            // down: only a full restart (or a single replica) puts its traffic at risk.
            e.disruptive = !*rolling || state.replicas < 2;
            availability = if state.healthy { 0.0 } else { 1.0 };
        }
        Action::Rollback { .. } => {
            let loss = restart_loss(&cap, state.replicas, true);
            e.repairs = failing_share(state);
            e.dip = beyond_failing(-loss, e.repairs, state.load_rps);
            e.added_latency_ms = latency_shift(ctx, s, &cap, loss).max(0.0);
            e.disruptive = true;
            availability = broken;
        }
        Action::RotateCredentials { .. } => {
            let loss = restart_loss(&cap, state.replicas, true);
            e.dip = -loss;
            e.added_latency_ms = latency_shift(ctx, s, &cap, loss).max(0.0);
            e.disruptive = true;
            security = if attacked { 0.6 } else { 0.3 };
        }
        Action::Isolate { .. } => {
            e.cap.push((s, -cap.now));
            e.disruptive = true;
            security = if state.under_attack { 1.0 } else { 0.0 };
        }
        Action::RateLimit { max_rps, .. } => {
            e.cap.push((s, (max_rps - cap.now).min(0.0)));
            security = if attacked { 0.8 } else { 0.1 };
        }
        Action::WafRule {
            mode,
            added_latency_ms,
            ..
        } => {
            // Blocking stops most attack traffic (assumed 90%). The bots' requests load the
            // target and everything they call; the latency the target's callers see falls by
            // the relief along the call path, which can more than pay for the inspection.
            let freed = if *mode == WafMode::Block {
                0.9 * state.attack_rps
            } else {
                0.0
            };
            let relief = if freed > 0.0 && state.load_rps > 0.0 {
                e.cap.push((s, freed));
                path_relief(ctx, s, freed / state.load_rps)
            } else {
                0.0
            };
            // Load taken off a service short of capacity is availability regained.
            availability = relieve(freed);
            e.urgent = attacked && freed > 0.0;
            e.added_latency_ms = *added_latency_ms - relief;
            let full = if attacked { 1.0 } else { 0.3 };
            security = match mode {
                WafMode::Block => full,
                WafMode::Monitor => 0.3 * full,
            };
        }
        Action::Reroute { share, to, .. } => {
            let moved = share * cap.forecast * headroom;
            e.cap.push((s, moved));
            if let Some(t) = ctx.graph.index_of(to) {
                e.cap.push((t, -moved));
            }
            availability = relieve(moved);
        }
        Action::FeatureFlag { .. } | Action::Config { .. } => {
            // The graph cannot know what a flag does: take harms as claimed, benefits at
            // the agent's confidence.
            let discount = |v: f64, harmful: bool| if harmful { v } else { v * conf };
            if let Some(c) = claim.capacity_rps {
                let c = discount(c, c < 0.0);
                e.cap.push((s, c));
                availability = relieve(c);
            }
            if let Some(l) = claim.latency_ms {
                e.added_latency_ms = discount(l, l > 0.0);
            }
        }
    }
    if !matches!(action, Action::Scale { .. }) {
        // Only scaling has a cost model; other kinds cost what the agent says, if more.
        e.cost_per_hour = claim.cost_per_hour.unwrap_or(0.0).max(0.0);
    }
    let cost_scale = spend.max(1.0) * 0.1;
    e.value[idx(Objective::Availability)] = availability * conf * importance;
    // Latency is valued as progress toward an SLO that is breached now (`slo_excess_ms`, the
    // largest excess of an SLO whose target calls this service); harms count through the SLO
    // headroom constraints. Raw milliseconds are not valued: under a strict priority order
    // that would let 1 ms beat any security gain, or justify any spend.
    e.value[idx(Objective::Latency)] = if slo_excess_ms > 0.0 && e.added_latency_ms < 0.0 {
        (-e.added_latency_ms / slo_excess_ms).min(1.0) * importance
    } else {
        0.0
    };
    e.value[idx(Objective::Security)] = security * conf;
    // Bounded but never flat: a clamp made every saving beyond a tenth of the spend worth the
    // same, so a change sized to save more than its ask could never win over the ask.
    let saving = -e.cost_per_hour / cost_scale;
    e.value[idx(Objective::Cost)] = saving / (1.0 + saving.abs());
    e.urgent |= e.repairs > 0.0;
    e
}

/// The estimate in the contract's terms, recorded beside the agent's claim.
pub(crate) fn as_expected(e: &Effect, risk: f64) -> Expected {
    use crate::contract::round3;
    Expected {
        cost_per_hour: Some(round3(e.cost_per_hour)),
        latency_ms: Some(round3(e.added_latency_ms)),
        capacity_rps: Some(round3(
            e.cap
                .iter()
                .filter(|(s, _)| *s == e.service)
                .map(|(_, c)| c)
                .sum(),
        )),
        risk: Some(round3(risk)),
    }
}
