//! The service-dependency graph and what the engine derives from it.
//!
//! Loaded from a Jaeger dependency-links export plus an optional overlay of per-service
//! attributes. Everything the engine asks of the topology — how much entry traffic flows
//! through a service, which callers a change can hurt, how latency accumulates along calls —
//! is computed once here at load time (or by a cheap walk), so that a decision window costs
//! no graph algorithms beyond a few breadth-first searches.

mod analysis;
mod load;
mod overlay;

pub use load::{GraphError, LinkRecord};
pub use overlay::{Overlay, ServiceAttrs, DEFAULT_ATTRS};

use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;

/// Resolved attributes of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub tier: String,
    pub replicas: u32,
    pub capacity_rps_per_replica: f64,
    pub base_latency_ms: f64,
    pub cost_per_replica_hour: f64,
    pub revenue_share: f64,
    /// Requests per second arriving at this entry point now (entry points only).
    pub entry_rps: f64,
    /// Whether the overlay declared `entry_rps` (otherwise it is a default, and the entry
    /// point's load is unknown until telemetry measures it).
    pub entry_rps_declared: bool,
    pub is_entry: bool,
}

/// An immutable, analysed service graph. Services are addressed by dense index `0..len()`.
#[derive(Clone, Debug)]
pub struct ServiceGraph {
    graph: DiGraph<(), f64>,
    services: Vec<Service>,
    /// Service names, shareable into decisions without copying.
    names: Vec<std::sync::Arc<str>>,
    index: HashMap<String, usize>,
    entries: Vec<usize>,
    /// `visits[e][s]`: expected calls to service `s` per request entering at `entries[e]`.
    visits: Vec<Vec<f64>>,
    traffic_share: Vec<f64>,
    /// Per service, the slowest route through it at base latencies: from an entry point
    /// above it to the end of its own calls (`caller_latency + path_latency − own`).
    base_route_ms: Vec<f64>,
    version: String,
    has_cycle: bool,
}

impl ServiceGraph {
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    pub fn service(&self, i: usize) -> &Service {
        &self.services[i]
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service's name as a shared string.
    pub fn name(&self, i: usize) -> std::sync::Arc<str> {
        self.names[i].clone()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn entries(&self) -> &[usize] {
        &self.entries
    }

    /// `sha256:` content hash of the links and resolved attributes: the graph version.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn has_cycle(&self) -> bool {
        self.has_cycle
    }

    /// Expected calls to `service` per request entering at the `e`-th entry point.
    pub fn visits(&self, e: usize, service: usize) -> f64 {
        self.visits[e][service]
    }

    /// Share of all entry traffic whose requests reach `service` (0..=1), at the entry rates
    /// the overlay declares. Decisions use `World::traffic_share`, weighted by the rates
    /// observed.
    pub fn traffic_share(&self, service: usize) -> f64 {
        self.traffic_share[service]
    }

    /// The slowest route through `service` at base latencies, ms: what its SLO's latency
    /// budget must cover before any queueing.
    pub fn base_route_ms(&self, service: usize) -> f64 {
        self.base_route_ms[service]
    }

    /// How much the business cares about a service: the larger of its traffic share and its
    /// declared revenue share (checkout carries little traffic but all the revenue).
    pub fn importance(&self, service: usize) -> f64 {
        self.traffic_share[service].max(self.services[service].revenue_share)
    }

    /// Direct callees with the call ratio (calls to the child per request of the parent).
    pub fn callees(&self, service: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.graph
            .edges(NodeIndex::new(service))
            .map(|e| (petgraph::visit::EdgeRef::target(&e).index(), *e.weight()))
    }

    /// Direct callers.
    pub fn callers(&self, service: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(service), petgraph::Direction::Incoming)
            .map(|n| n.index())
    }
}

/// Parses a links file's text (for callers that hold text rather than a path).
pub fn parse_links_pub(path: &str, text: &str) -> Result<Vec<LinkRecord>, GraphError> {
    load::parse_links(path, text)
}

/// Parses an overlay's text.
pub fn parse_overlay_pub(path: &str, text: &str) -> Result<Overlay, GraphError> {
    load::parse_overlay(path, text)
}
