//! The oracle: the limit the strategies are measured against, not one anyone can run.
//!
//! It knows the whole day in hindsight — every entry point's true demand at every tick, every
//! attack, zone loss, bad release and leak — and acts without agents or proposals:
//! - each service runs at a utilisation that keeps every request within its latency bound
//!   (the entry point's SLO, or the latency beyond which conversion falls if that is lower):
//!   the same stretch `1/(1 − u)` on every service of a path, so the path's latency is its
//!   base latency stretched (`docs/SIMULATION.md`);
//! - it holds the fewest replicas that give that utilisation at the demand to come, starting
//!   replicas a start-up delay ahead and letting go of those no tick before the next
//!   replacement could arrive needs;
//! - an attack is blocked before it starts, a bad release rolled back and a leak restarted
//!   the tick they appear, with one replica more provisioned ahead for the one the repair
//!   takes out of service.
//!
//! The uniform stretch is not the exact least-cost provisioning (running cheap services cooler
//! and dear ones hotter could save more), so the oracle's cost is an upper bound of the limit's
//! and its latency and revenue the limit's within that approximation.

use super::actions::{apply, Timing, WAF_BLOCK};
use super::day::Day;
use super::model::ServiceSim;
use super::scenario::Scenario;
use crate::contract::{Action, WafMode};

/// Utilisations the oracle plans between: below, a path bound is out of reach by capacity
/// alone; above, a tick's noise would queue without bound.
const UTIL_RANGE: (f64, f64) = (0.3, 0.95);

pub struct Oracle {
    /// The utilisation each service is planned at.
    util: Vec<f64>,
    waf_ms: f64,
    /// Per service, the ticks its repairs (a rollback, a restart) take a replica out of
    /// service: one more is provisioned ahead for them.
    repairs: Vec<Vec<(u64, u64)>>,
}

impl Oracle {
    pub fn new(sc: &Scenario, t: Timing) -> Oracle {
        let g = &sc.graph;
        let base: Vec<f64> = g.services().iter().map(|a| a.base_latency_ms).collect();
        let path_base = g.path_latency(&base);
        let waf_ms = sc.raw.agents.security_waf_ms;
        let attacked = |entry: &str| {
            sc.raw.events.iter().any(
                |e| matches!(e, super::scenario::Event::BotAttack { entry: at, .. } if at == entry),
            )
        };
        let slo = |service: &str| {
            sc.intents
                .all()
                .iter()
                .flat_map(|i| i.slos.iter())
                .filter(|s| s.service == service)
                .map(|s| s.p99_latency_ms)
                .fold(f64::INFINITY, f64::min)
        };
        let stretch = |at: usize, bound: f64, waf: f64| {
            (1.0 - path_base[at] / (bound - waf).max(f64::MIN_POSITIVE))
                .clamp(UTIL_RANGE.0, UTIL_RANGE.1)
        };
        let mut util = vec![UTIL_RANGE.1; g.len()];
        // Every entry point's requests within the tighter of its SLO and the free latency.
        for (k, &e) in g.entries().iter().enumerate() {
            let name = &g.service(e).name;
            let waf = if attacked(name) { waf_ms } else { 0.0 };
            let u = stretch(e, slo(name).min(sc.raw.economics.free_latency_ms), waf);
            for (s, cap) in util.iter_mut().enumerate() {
                if g.visits(k, s) > 0.0 {
                    *cap = cap.min(u);
                }
            }
        }
        // An SLO on a service further in: everything it calls runs at its stretch.
        for s in 0..g.len() {
            let bound = slo(&g.service(s).name);
            if g.service(s).is_entry || !bound.is_finite() {
                continue;
            }
            let u = stretch(s, bound, 0.0);
            let mut todo = vec![s];
            let mut seen = vec![false; g.len()];
            while let Some(x) = todo.pop() {
                if std::mem::replace(&mut seen[x], true) {
                    continue;
                }
                util[x] = util[x].min(u);
                todo.extend(g.callees(x).map(|(c, _)| c));
            }
        }
        let mut repairs = vec![Vec::new(); g.len()];
        for ev in &sc.raw.events {
            let service = match ev {
                super::scenario::Event::BadDeploy { service, .. }
                | super::scenario::Event::Leak { service, .. } => service,
                _ => continue,
            };
            if let Some(s) = g.index_of(service) {
                let at = (ev.at_h() * 3600.0 / sc.raw.tick_s).round() as u64;
                repairs[s].push((at, at + t.restart));
            }
        }
        Oracle {
            util,
            waf_ms,
            repairs,
        }
    }

    /// The replicas service `s` needs at tick `t` of the day.
    fn needs(&self, sc: &Scenario, day: &Day, s: usize, t: usize) -> u32 {
        let g = &sc.graph;
        let demand: f64 = g
            .entries()
            .iter()
            .enumerate()
            .map(|(k, _)| {
                let bots = if day.bots[t][k] > 0.0 {
                    day.bots[t][k] * (1.0 - WAF_BLOCK)
                } else {
                    0.0
                };
                (day.legit[t][k] + bots) * g.visits(k, s)
            })
            .sum();
        let per_replica =
            g.service(s).capacity_rps_per_replica * (1.0 - day.zone[t]) * self.util[s];
        let repairing = self.repairs[s]
            .iter()
            .any(|&(from, to)| (from..=to).contains(&(t as u64)));
        ((demand / per_replica.max(f64::MIN_POSITIVE)).ceil() as u32).max(1) + u32::from(repairing)
    }

    /// Acts after tick `tick` was measured, for the ticks to come.
    pub fn act(&self, sc: &Scenario, day: &Day, sims: &mut [ServiceSim], tick: u64, t: Timing) {
        let g = &sc.graph;
        let last = day.legit.len() as u64 - 1;
        let next = (tick + 1).min(last) as usize;
        for (k, &e) in g.entries().iter().enumerate() {
            if day.bots[next][k] > 0.0 && sims[e].bot_block < WAF_BLOCK {
                let block = Action::WafRule {
                    service: g.service(e).name.to_string(),
                    rule: "oracle".into(),
                    mode: WafMode::Block,
                    added_latency_ms: self.waf_ms,
                };
                apply(g, sims, &block, tick, t);
            }
        }
        for s in 0..g.len() {
            let service = g.service(s).name.to_string();
            if sims[s].bad_release > 0.0 {
                let undo = Action::Rollback {
                    service: service.clone(),
                    to_version: "previous".into(),
                };
                apply(g, sims, &undo, tick, t);
            } else if sims[s].unhealthy {
                let restart = Action::Restart {
                    service,
                    rolling: true,
                };
                apply(g, sims, &restart, tick, t);
            }
        }
        if tick >= last {
            return;
        }
        let ahead = t.startup.max(1);
        for (s, sim) in sims.iter_mut().enumerate() {
            // What a replica started now would serve.
            let far = (tick + ahead).min(last) as usize;
            let wanted = self.needs(sc, day, s, far);
            if sim.billed() < wanted {
                sim.starting.push((tick + t.startup, wanted - sim.billed()));
            }
            // What no tick until then needs goes now.
            let spare = (tick + 1..=(tick + ahead).min(last))
                .map(|tau| {
                    let arrived: u32 = sim
                        .starting
                        .iter()
                        .filter(|(ready, _)| *ready <= tau)
                        .map(|(_, n)| n)
                        .sum();
                    (sim.ready + arrived) as i64 - self.needs(sc, day, s, tau as usize) as i64
                })
                .min()
                .unwrap_or(0);
            if spare > 0 {
                sim.ready = (sim.ready - spare as u32).max(1);
            }
        }
    }
}
