//! The live state of the services as the engine sees it at decision time.
//!
//! Built from the graph's overlay (a quiet baseline) and refined by telemetry. Entry-point
//! load and forecast propagate along call ratios to every service they reach; a service's own
//! observation overrides the propagated estimate.

use crate::contract::{Telemetry, Timestamp};
use crate::graph::ServiceGraph;

/// Utilisation is capped here in the latency model: beyond it a queue grows without bound,
/// which the capacity floor, not the latency estimate, is there to prevent.
pub const MAX_UTILISATION: f64 = 0.95;

/// Own latency of a service at a utilisation: the M/M/1 stretch `base / (1 - u)`, which
/// explodes as `u` approaches 1.
pub fn queueing_latency(base_ms: f64, utilisation: f64) -> f64 {
    base_ms / (1.0 - utilisation.clamp(0.0, MAX_UTILISATION))
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceState {
    pub replicas: u32,
    pub load_rps: f64,
    pub forecast_rps: f64,
    /// Own latency (without callees), from the queueing model.
    pub own_latency_ms: f64,
    /// Latency a request to this service sees, callees included.
    pub p99_ms: f64,
    pub error_rate: f64,
    pub healthy: bool,
    pub under_attack: bool,
    /// Attack requests per second within `load_rps`.
    pub attack_rps: f64,
    /// Whether `load_rps` is measured: observed here, or propagated only from entry points
    /// whose load is observed or declared. Otherwise it rests on a default rate.
    pub load_known: bool,
}

impl ServiceState {
    pub fn capacity_rps(&self, per_replica: f64) -> f64 {
        self.replicas as f64 * per_replica
    }
}

/// State of every service, indexed like the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct World {
    pub services: Vec<ServiceState>,
    /// When the observations were taken, if known.
    pub at: Option<Timestamp>,
    /// Per service, the share of entry traffic that passes through it, weighted by each
    /// entry point's rate as observed (or declared). Where an entry point reaching it has no
    /// known rate, the most it could be: that entry point carrying all the traffic.
    pub traffic_share: Vec<f64>,
    /// Per entry point (as `graph.entries()`): whether its rate is observed or declared.
    pub entry_rate_known: Vec<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("telemetry names service `{0}`, which is not in the graph")]
    UnknownService(String),
    #[error("telemetry for `{service}`: {field} must be a finite number >= 0")]
    BadNumber {
        service: String,
        field: &'static str,
    },
}

impl World {
    /// What the engine saw of one service, as the audit trail keeps it beside a decision.
    pub fn knew(&self, graph: &ServiceGraph, s: usize) -> serde_json::Value {
        let st = &self.services[s];
        let attrs = graph.service(s);
        serde_json::json!({
            "service": attrs.name,
            "tier": attrs.tier,
            "replicas": st.replicas,
            "capacity_rps": st.capacity_rps(attrs.capacity_rps_per_replica),
            "load_rps": st.load_rps,
            "forecast_rps": st.forecast_rps,
            "p99_ms": st.p99_ms,
            "error_rate": st.error_rate,
            "healthy": st.healthy,
            "under_attack": st.under_attack,
            "entry_traffic_share": self.traffic_share[s],
            "load_known": st.load_known,
        })
    }

    /// The quiet baseline the overlay describes: entry traffic as declared, forecast = load.
    pub fn baseline(graph: &ServiceGraph) -> World {
        World::observed(graph, &Telemetry::default()).expect("empty telemetry is valid")
    }

    /// Baseline refined by observations.
    pub fn observed(graph: &ServiceGraph, t: &Telemetry) -> Result<World, WorldError> {
        let n = graph.len();
        let mut obs = vec![None; n];
        for (name, o) in &t.services {
            let i = graph
                .index_of(name)
                .ok_or_else(|| WorldError::UnknownService(name.clone()))?;
            if let Some(field) = o.bad_numbers().first() {
                return Err(WorldError::BadNumber {
                    service: name.clone(),
                    field,
                });
            }
            obs[i] = Some(o);
        }
        let mut load = vec![0.0; n];
        let mut forecast = vec![0.0; n];
        // Each entry point's rate, if observed or declared.
        let rates: Vec<Option<f64>> = graph
            .entries()
            .iter()
            .map(|&e| {
                let declared = graph.service(e);
                obs[e]
                    .and_then(|o| o.load_rps)
                    .or(declared.entry_rps_declared.then_some(declared.entry_rps))
            })
            .collect();
        for (k, &e) in graph.entries().iter().enumerate() {
            let o = obs[e];
            let now = rates[k].unwrap_or(graph.service(e).entry_rps);
            let ahead = o.and_then(|o| o.forecast_rps).unwrap_or(now);
            for s in 0..n {
                let v = graph.visits(k, s);
                if v > 0.0 {
                    load[s] += now * v;
                    forecast[s] += ahead * v;
                }
            }
        }
        let mut services: Vec<ServiceState> = (0..n)
            .map(|s| {
                let attrs = graph.service(s);
                let o = obs[s];
                let replicas = o.and_then(|o| o.replicas).unwrap_or(attrs.replicas);
                let load_rps = if graph.service(s).is_entry {
                    load[s]
                } else {
                    o.and_then(|o| o.load_rps).unwrap_or(load[s])
                };
                let forecast_rps = if graph.service(s).is_entry {
                    forecast[s]
                } else {
                    o.and_then(|o| o.forecast_rps)
                        .unwrap_or(forecast[s].max(load_rps))
                };
                let capacity = replicas as f64 * attrs.capacity_rps_per_replica;
                let util = if capacity > 0.0 {
                    load_rps / capacity
                } else {
                    1.0
                };
                ServiceState {
                    replicas,
                    load_rps,
                    forecast_rps,
                    own_latency_ms: queueing_latency(attrs.base_latency_ms, util),
                    p99_ms: 0.0,
                    error_rate: o.and_then(|o| o.error_rate).unwrap_or(0.0),
                    healthy: o.and_then(|o| o.healthy).unwrap_or(true),
                    under_attack: o.and_then(|o| o.under_attack).unwrap_or(false),
                    attack_rps: o.and_then(|o| o.attack_rps).unwrap_or(0.0).min(load_rps),
                    load_known: o.and_then(|o| o.load_rps).is_some()
                        || (0..rates.len())
                            .all(|k| rates[k].is_some() || graph.visits(k, s) <= 0.0),
                }
            })
            .collect();
        let own: Vec<f64> = services.iter().map(|s| s.own_latency_ms).collect();
        let path = graph.path_latency(&own);
        for (s, state) in services.iter_mut().enumerate() {
            state.p99_ms = obs[s].and_then(|o| o.p99_ms).unwrap_or(path[s]);
        }
        let traffic_share = traffic_shares(graph, &rates);
        Ok(World {
            services,
            at: t.at,
            traffic_share,
            entry_rate_known: rates.iter().map(Option::is_some).collect(),
        })
    }

    /// Fleet spend per hour at the observed replica counts.
    pub fn spend_per_hour(&self, graph: &ServiceGraph) -> f64 {
        graph
            .services()
            .iter()
            .zip(&self.services)
            .map(|(a, s)| a.cost_per_replica_hour * s.replicas as f64)
            .sum()
    }

    /// Whether an attack is under way on this service or on an entry point whose traffic
    /// reaches it.
    pub fn attack_reaches(&self, graph: &ServiceGraph, service: usize) -> bool {
        self.services[service].under_attack
            || graph
                .entries()
                .iter()
                .enumerate()
                .any(|(k, &e)| self.services[e].under_attack && graph.visits(k, service) > 0.0)
    }
}

/// See [`World::traffic_share`]: with every rate known, `Σ_k r_k · min(1, v_ks) / Σ_k r_k`
/// (equal weights if all are 0); where an entry point reaching `s` has no known rate, at
/// least `min(1, v_ks)` of that entry point.
fn traffic_shares(graph: &ServiceGraph, rates: &[Option<f64>]) -> Vec<f64> {
    let known: f64 = rates.iter().flatten().sum();
    let entries = rates.len().max(1) as f64;
    (0..graph.len())
        .map(|s| {
            let through = |k: usize| graph.visits(k, s).min(1.0);
            let measured: f64 = (0..rates.len())
                .map(|k| match rates[k] {
                    Some(r) if known > 0.0 => r / known * through(k),
                    Some(_) if rates.iter().all(Option::is_some) => through(k) / entries,
                    _ => 0.0,
                })
                .sum();
            let unknown = (0..rates.len())
                .filter(|&k| rates[k].is_none())
                .map(through)
                .fold(0.0, f64::max);
            measured.max(unknown).min(1.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queueing_latency_explodes_near_saturation_but_stays_finite() {
        assert_eq!(queueing_latency(10.0, 0.0), 10.0);
        assert!((queueing_latency(10.0, 0.5) - 20.0).abs() < 1e-9);
        assert!((queueing_latency(10.0, 3.0) - 200.0).abs() < 1e-9);
    }
}
