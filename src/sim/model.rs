//! The simulated shop: capacity, queueing latency, errors, traffic, revenue, cost, exposure.
//!
//! Simple but not a toy; every equation is documented in `docs/SIMULATION.md` and unit-tested
//! below. All metrics the report shows are measured here, never taken from the engine's
//! estimates. Time advances in ticks of `dt` seconds.

use crate::graph::ServiceGraph;

/// Utilisation beyond which the queueing curve is capped (latency there is ~50x base).
pub const MAX_UTIL: f64 = 0.98;

/// Own latency at utilisation `u`: the M/M/1 stretch `base / (1 - u)`.
pub fn queue_latency(base_ms: f64, u: f64) -> f64 {
    base_ms / (1.0 - u.clamp(0.0, MAX_UTIL))
}

/// Share of requests failing because demand exceeds capacity: `max(0, 1 - c/d)`.
pub fn overload_errors(demand: f64, capacity: f64) -> f64 {
    if demand <= 0.0 {
        0.0
    } else if capacity <= 0.0 {
        1.0
    } else {
        (1.0 - capacity / demand).max(0.0)
    }
}

/// Conversion multiplier for a page that took `latency_ms`: 1 up to `free_ms`, then falling
/// hyperbolically, halving for every `half_ms` beyond it.
pub fn latency_conversion(latency_ms: f64, free_ms: f64, half_ms: f64) -> f64 {
    1.0 / (1.0 + (latency_ms - free_ms).max(0.0) / half_ms)
}

/// Mutable state of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSim {
    /// Replicas serving traffic.
    pub ready: u32,
    /// Replicas started and billed, not serving yet: (tick when ready, count).
    pub starting: Vec<(u64, u32)>,
    /// Until this tick the service restarts: `lost` replicas out of service.
    pub restarting_until: u64,
    pub restart_lost: u32,
    /// Extra error rate from a bad release; cleared by a rollback.
    pub bad_release: f64,
    /// A memory leak or similar that a restart cures.
    pub unhealthy: bool,
    /// Added inspection latency from WAF rules, ms.
    pub waf_ms: f64,
    /// Share of bot traffic blocked before it reaches the service.
    pub bot_block: f64,
    /// Cap on admitted requests per second.
    pub rate_limit: Option<f64>,
    /// Share of demand removed by features switched off or caches.
    pub shed: f64,
    /// Share of capacity lost to a zone outage.
    pub zone_loss: f64,
    pub isolated: bool,
}

impl ServiceSim {
    pub fn new(replicas: u32) -> Self {
        ServiceSim {
            ready: replicas,
            starting: Vec::new(),
            restarting_until: 0,
            restart_lost: 0,
            bad_release: 0.0,
            unhealthy: false,
            waf_ms: 0.0,
            bot_block: 0.0,
            rate_limit: None,
            shed: 0.0,
            zone_loss: 0.0,
            isolated: false,
        }
    }

    /// Replicas billed: ready plus starting.
    pub fn billed(&self) -> u32 {
        self.ready + self.starting.iter().map(|(_, n)| n).sum::<u32>()
    }

    /// Capacity now: ready replicas, less those restarting, less a lost zone; none isolated.
    pub fn capacity(&self, per_replica: f64, tick: u64) -> f64 {
        if self.isolated {
            return 0.0;
        }
        let restarting = if tick < self.restarting_until {
            self.restart_lost.min(self.ready)
        } else {
            0
        };
        (self.ready - restarting) as f64 * per_replica * (1.0 - self.zone_loss)
    }

    /// Moves replicas that finished starting into service.
    pub fn promote(&mut self, tick: u64) {
        let (done, waiting): (Vec<_>, Vec<_>) = self.starting.iter().partition(|(t, _)| *t <= tick);
        self.ready += done.iter().map(|(_, n)| n).sum::<u32>();
        self.starting = waiting;
    }
}

/// What one tick measured.
#[derive(Clone, Debug, PartialEq)]
pub struct TickMeasure {
    /// Per service: demand (rps), capacity (rps), own latency (ms), error share.
    pub demand: Vec<f64>,
    pub capacity: Vec<f64>,
    pub own_ms: Vec<f64>,
    pub errors: Vec<f64>,
    /// Latency a request to each service sees, callees included (ms).
    pub path_ms: Vec<f64>,
    /// Share of entry requests that succeed, per entry (index as `graph.entries()`).
    pub success: Vec<f64>,
}

/// Demand, capacity, latency and errors of every service at one tick.
///
/// - legitimate demand at `s`: `Σ_e λ_e · visits(e, s) · (1 - shed_s)`;
/// - bot demand enters at the entry point under attack and follows the same call ratios,
///   less what its WAF blocks;
/// - a rate limit at an entry admits `min(1, limit / arriving)` of its traffic, and the
///   refused share fails; elsewhere it caps admitted demand and what it drops fails;
/// - errors at `s`: `1 - (1 - overload)(1 - bad_release)(1 - limited)`; an unhealthy service
///   also fails 5% of requests;
/// - a request entering at `e` succeeds with `Π_s (1 - err_s)^{min(1, visits(e, s))}`.
pub fn measure(
    graph: &ServiceGraph,
    services: &[ServiceSim],
    entry_rps: &[f64],
    bot_rps: &[f64],
    tick: u64,
) -> TickMeasure {
    let n = graph.len();
    let mut demand = vec![0.0; n];
    // A rate limit at an entry point admits a share of everything arriving there, bots and
    // customers alike; what it refuses never reaches the services behind it.
    let mut admitted_share = vec![1.0; graph.entries().len()];
    for (k, &e) in graph.entries().iter().enumerate() {
        let bots = bot_rps[k] * (1.0 - services[e].bot_block);
        let arriving = entry_rps[k] + bots;
        if let Some(limit) = services[e].rate_limit {
            if arriving > 0.0 {
                admitted_share[k] = (limit / arriving).min(1.0);
            }
        }
        for (s, d) in demand.iter_mut().enumerate() {
            let v = graph.visits(k, s);
            if v > 0.0 {
                *d += arriving * admitted_share[k] * v * (1.0 - services[s].shed);
            }
        }
    }
    let mut capacity = vec![0.0; n];
    let mut own_ms = vec![0.0; n];
    let mut errors = vec![0.0; n];
    for s in 0..n {
        let attrs = graph.service(s);
        let sim = &services[s];
        capacity[s] = sim.capacity(attrs.capacity_rps_per_replica, tick);
        let admitted = if attrs.is_entry {
            demand[s]
        } else {
            sim.rate_limit.map_or(demand[s], |r| demand[s].min(r))
        };
        let limited = if demand[s] > 0.0 {
            1.0 - admitted / demand[s]
        } else {
            0.0
        };
        let u = if capacity[s] > 0.0 {
            admitted / capacity[s]
        } else {
            1.0
        };
        own_ms[s] = queue_latency(attrs.base_latency_ms, u) + sim.waf_ms;
        let overload = overload_errors(admitted, capacity[s]);
        let sick = if sim.unhealthy { 0.05 } else { 0.0 };
        errors[s] =
            1.0 - (1.0 - overload) * (1.0 - sim.bad_release) * (1.0 - limited) * (1.0 - sick);
    }
    let path_ms = graph.path_latency(&own_ms);
    let success = (0..graph.entries().len())
        .map(|k| {
            admitted_share[k]
                * (0..n)
                    .map(|s| (1.0 - errors[s]).powf(graph.visits(k, s).min(1.0)))
                    .product::<f64>()
        })
        .collect();
    TickMeasure {
        demand,
        capacity,
        own_ms,
        errors,
        path_ms,
        success,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{LinkRecord, Overlay};

    #[test]
    fn queueing_latency_grows_without_bound_toward_saturation() {
        assert_eq!(queue_latency(10.0, 0.0), 10.0);
        assert!((queue_latency(10.0, 0.5) - 20.0).abs() < 1e-9);
        assert!((queue_latency(10.0, 0.9) - 100.0).abs() < 1e-9);
        assert!(
            (queue_latency(10.0, 5.0) - 500.0).abs() < 1e-6,
            "capped at 0.98"
        );
    }

    #[test]
    fn overload_fails_the_excess() {
        assert_eq!(overload_errors(100.0, 200.0), 0.0);
        assert!((overload_errors(200.0, 150.0) - 0.25).abs() < 1e-12);
        assert_eq!(overload_errors(10.0, 0.0), 1.0);
        assert_eq!(overload_errors(0.0, 0.0), 0.0);
    }

    #[test]
    fn conversion_halves_every_half_ms_beyond_the_free_latency() {
        assert_eq!(latency_conversion(150.0, 200.0, 1000.0), 1.0);
        assert!((latency_conversion(1200.0, 200.0, 1000.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn new_replicas_serve_only_after_start_up_and_restarts_take_capacity() {
        let mut s = ServiceSim::new(2);
        s.starting.push((5, 2));
        assert_eq!((s.ready, s.billed()), (2, 4));
        s.promote(4);
        assert_eq!(s.ready, 2);
        s.promote(5);
        assert_eq!((s.ready, s.billed()), (4, 4));
        s.restarting_until = 10;
        s.restart_lost = 1;
        assert_eq!(s.capacity(100.0, 9), 300.0);
        assert_eq!(s.capacity(100.0, 10), 400.0);
        s.zone_loss = 0.5;
        assert_eq!(s.capacity(100.0, 10), 200.0);
    }

    #[test]
    fn traffic_propagates_and_errors_compound_along_calls() {
        let links = [LinkRecord {
            parent: "fe".into(),
            child: "db".into(),
            call_count: 200.0,
        }];
        let overlay: Overlay = toml::from_str(
            "[services.fe]\nsample_requests = 100\nreplicas = 1\ncapacity_rps_per_replica = 1000\nbase_latency_ms = 10\n\
             [services.db]\nreplicas = 1\ncapacity_rps_per_replica = 150\nbase_latency_ms = 5\n",
        )
        .unwrap();
        let g = ServiceGraph::from_parts(&links, &overlay).unwrap();
        let (fe, db) = (g.index_of("fe").unwrap(), g.index_of("db").unwrap());
        let mut sims = vec![ServiceSim::new(1), ServiceSim::new(1)];
        let m = measure(&g, &sims, &[100.0], &[0.0], 0);
        // 100 rps enter; fe calls db twice per request: 200 rps at db, capacity 150.
        assert!((m.demand[db] - 200.0).abs() < 1e-9);
        assert!((m.errors[db] - 0.25).abs() < 1e-9);
        assert!((m.success[0] - 0.75).abs() < 1e-9);
        assert!((m.path_ms[fe] - (10.0 / 0.9 + 5.0 / 0.02)).abs() < 1e-6);
        // Bots blocked at the entry never reach the callee.
        sims[fe].bot_block = 1.0;
        let m2 = measure(&g, &sims, &[100.0], &[500.0], 0);
        assert!((m2.demand[db] - 200.0).abs() < 1e-9);
        sims[fe].bot_block = 0.0;
        let m3 = measure(&g, &sims, &[100.0], &[50.0], 0);
        assert!((m3.demand[db] - 300.0).abs() < 1e-9);
    }
}
