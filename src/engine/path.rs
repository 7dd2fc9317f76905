//! Capacity planned from what the intent measures: the latency of each SLO's requests along
//! their call path, not each service's utilisation alone.
//!
//! A request's latency is its own service's plus its slowest callee's, down the path
//! (`ServiceGraph::path_latency`), and every service's own latency stretches with its
//! utilisation `u` as `base / (1 − u)`. With every service on a route at the same
//! utilisation, the route's latency is `base_route / (1 − u)`; meeting an SLO of `T` ms then
//! asks `u ≤ 1 − base_route / T` of each service on it, where `base_route` is the slowest
//! route through that service (`ServiceGraph::base_route_ms`). Services on the slowest route
//! are planned coolest; those on short side routes keep the intent's headroom. Planning at
//! `forecast × headroom` alone (the intent's 1.2 is 83% utilisation) leaves services where
//! five hops of stretched latency break the SLO though none of them is short of capacity.
//!
//! The intent's headroom stays the margin for a forecast that misses: capacity is planned at
//! `forecast × headroom / u`.

use super::Context;
use crate::intent::Intent;

/// The lowest utilisation capacity is ever planned for: an SLO whose base route leaves less
/// room than this is not met by adding replicas, and doubling a fleet for it would be spend
/// with no effect.
const LOWEST_PLANNED_UTILISATION: f64 = 0.5;

/// The headroom each service of a window is planned with, asked service by service (a
/// window touches few services of a large graph).
pub(crate) struct Headroom<'c> {
    ctx: &'c Context<'c>,
    intent_headroom: f64,
    /// Per SLO: its latency, and whether a service is below its target.
    slos: Vec<(f64, Below)>,
}

/// The services below an SLO's target: read from the entry's visits when the target is an
/// entry point (the common case, no walk), else from a walk of its callees.
pub(crate) enum Below {
    Entry(usize),
    Walked(Vec<bool>),
}

impl Below {
    pub(crate) fn target(g: &crate::graph::ServiceGraph, target: usize) -> Below {
        match g.entries().iter().position(|&e| e == target) {
            Some(k) => Below::Entry(k),
            None => {
                let mut set = vec![false; g.len()];
                for s in g.downstream(target) {
                    set[s] = true;
                }
                Below::Walked(set)
            }
        }
    }

    pub(crate) fn contains(&self, g: &crate::graph::ServiceGraph, s: usize) -> bool {
        match self {
            Below::Entry(k) => g.visits(*k, s) > 0.0,
            Below::Walked(set) => set[s],
        }
    }
}

impl<'c> Headroom<'c> {
    pub(crate) fn new(ctx: &'c Context<'c>, intent: &Intent) -> Headroom<'c> {
        let g = ctx.graph;
        let slos = intent
            .slos
            .iter()
            .filter_map(|slo| {
                let target = g.index_of(&slo.service)?;
                Some((slo.p99_latency_ms, Below::target(g, target)))
            })
            .collect();
        Headroom {
            ctx,
            intent_headroom: intent.headroom,
            slos,
        }
    }

    /// The intent's margin for a forecast that misses, at the utilisation the strictest SLO
    /// above `s` allows.
    pub(crate) fn of(&self, s: usize) -> f64 {
        let g = self.ctx.graph;
        let route = g.base_route_ms(s);
        let stretch = self
            .slos
            .iter()
            .filter(|(_, below)| below.contains(g, s))
            .map(|(target_ms, _)| {
                let u = (1.0 - route / target_ms).clamp(LOWEST_PLANNED_UTILISATION, 1.0);
                1.0 / u
            })
            .fold(1.0f64, f64::max);
        self.intent_headroom * stretch
    }
}
