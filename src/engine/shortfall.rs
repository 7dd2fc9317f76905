//! Services short of what the intent needs of them, with no one asking to add.
//!
//! The engine only decides what agents propose. A service can sit below the capacity its
//! requests' path needs (`path.rs`: forecast × headroom / the utilisation the SLO allows)
//! while every agent's own threshold stays uncrossed — the arbiter then refuses each removal
//! there, saying the service is short, and nothing is added. What this finds is what the
//! arbiter asks the agents that may scale those services for: a request, decided as any
//! proposal once an agent sends it.

use super::path::Headroom;
use super::Context;
use crate::intent::Intent;
use std::collections::BTreeMap;

/// One service short of its planned capacity.
#[derive(Clone, Debug, PartialEq)]
pub struct Shortfall {
    pub service: String,
    /// Replicas that close the gap (rounded up: the suite measured rounding down, which
    /// leaves the service short by up to one replica, worse on both outcomes and
    /// escalations).
    pub replicas: u32,
    /// Capacity now, changes in flight counted, rps.
    pub have_rps: f64,
    /// The capacity the intent plans for, rps.
    pub need_rps: f64,
}

/// Services at least one replica short of the capacity planned for them, whose load is
/// measured (a shortfall resting on a default rate is not one to spend on). Changes in flight
/// count as done.
pub fn shortfalls(ctx: &Context, intent: &Intent) -> Vec<Shortfall> {
    let headroom = Headroom::new(ctx, intent);
    let mut in_flight_cap: BTreeMap<usize, f64> = BTreeMap::new();
    // Spend only weighs an effect's value, not the capacity it holds.
    for (_, e) in super::window::in_flight_effects(ctx, &headroom, 0.0) {
        for (t, c) in &e.cap {
            *in_flight_cap.entry(*t).or_default() += c;
        }
    }
    (0..ctx.graph.len())
        .filter(|&s| ctx.world.services[s].load_known)
        .filter_map(|s| {
            let per_replica = ctx.graph.service(s).capacity_rps_per_replica;
            if per_replica <= 0.0 {
                return None;
            }
            let extra = in_flight_cap.get(&s).copied().unwrap_or(0.0);
            let cap = ctx.capacity(s, headroom.of(s), extra);
            let missing = cap.required - cap.now;
            (missing >= per_replica).then(|| Shortfall {
                service: ctx.graph.service(s).name.clone(),
                replicas: ((missing / per_replica).ceil() as u32).min(1000),
                have_rps: cap.now,
                need_rps: cap.required,
            })
        })
        .collect()
}
