//! What an executed action does to the simulated shop.

use super::model::ServiceSim;
use super::scenario::Flag;
use crate::contract::{Action, WafMode};
use crate::graph::ServiceGraph;

/// Share of bot traffic a WAF rule in block mode stops.
pub const WAF_BLOCK: f64 = 0.95;

/// Durations of changes, in ticks, and the shop's sheddable flag.
#[derive(Clone, Copy, Debug)]
pub struct Timing<'a> {
    pub startup: u64,
    pub restart: u64,
    pub flag: Option<&'a Flag>,
}

/// Applies an action at `tick`. Returns whether the shop's flag is now off (for its effect
/// on conversion), or `None` if the action is not about it.
pub fn apply(
    graph: &ServiceGraph,
    sims: &mut [ServiceSim],
    action: &Action,
    tick: u64,
    t: Timing,
) -> Option<bool> {
    let s = graph.index_of(action.service())?;
    let sim = &mut sims[s];
    match action {
        Action::Scale { replicas, .. } if *replicas > 0 => {
            sim.starting.push((tick + t.startup, *replicas as u32))
        }
        Action::Scale { replicas, .. } => {
            sim.ready = sim.ready.saturating_sub(replicas.unsigned_abs()).max(1)
        }
        Action::Restart { rolling, .. } => {
            sim.restarting_until = tick + t.restart;
            sim.restart_lost = if *rolling { 1 } else { sim.ready };
            sim.unhealthy = false;
        }
        Action::Rollback { .. } => {
            sim.restarting_until = tick + t.restart;
            sim.restart_lost = 1;
            sim.bad_release = 0.0;
        }
        Action::RotateCredentials { .. } => {
            // Every instance restarts to load the new key: sessions drop, capacity goes.
            sim.restarting_until = tick + t.restart.div_ceil(2);
            sim.restart_lost = sim.ready;
        }
        Action::RateLimit { max_rps, .. } => sim.rate_limit = Some(*max_rps),
        Action::WafRule {
            mode,
            added_latency_ms,
            ..
        } => {
            sim.waf_ms = sim.waf_ms.max(*added_latency_ms);
            if *mode == WafMode::Block {
                sim.bot_block = WAF_BLOCK;
            }
        }
        Action::Reroute { share, .. } => sim.shed = (sim.shed + share).min(1.0),
        Action::Isolate { .. } => sim.isolated = true,
        Action::Config { .. } => sim.shed = (sim.shed + 0.2).min(0.9),
        Action::FeatureFlag { flag, enabled, .. } => {
            let f = t.flag.filter(|f| f.name == *flag)?;
            if let Some(r) = graph.index_of(&f.stops_calling) {
                sims[r].shed = if *enabled { 0.0 } else { 1.0 };
            }
            return Some(!enabled);
        }
    }
    None
}
