//! Graph computations: traffic propagation, reachability, latency along call paths.
//!
//! Real call graphs have cycles (a service calling back into its caller) and fan-in, so
//! propagation works on strongly connected components in topological order and iterates to a
//! fixed point inside each cycle rather than assuming a tree.

use super::ServiceGraph;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

/// A cycle whose call ratios multiply to one or more would mean infinite traffic; propagation
/// stops after this many sweeps and caps visits, rather than hang on such data.
const MAX_SWEEPS: usize = 200;
const MAX_VISITS: f64 = 1e6;

/// Expected visits per entry request for each entry, and whether the graph has a cycle.
pub(super) fn visits(graph: &DiGraph<(), f64>, entries: &[usize]) -> (Vec<Vec<f64>>, bool) {
    let n = graph.node_count();
    // tarjan_scc yields components in reverse topological order.
    let mut sccs = tarjan_scc(graph);
    sccs.reverse();
    let has_cycle = sccs
        .iter()
        .any(|c| c.len() > 1 || graph.contains_edge(c[0], c[0]));
    let per_entry = entries
        .iter()
        .map(|&e| {
            let mut v = vec![0.0; n];
            v[e] = 1.0;
            for comp in &sccs {
                let cyclic = comp.len() > 1 || graph.contains_edge(comp[0], comp[0]);
                let sweeps = if cyclic { MAX_SWEEPS } else { 1 };
                for _ in 0..sweeps {
                    let mut change = 0.0f64;
                    for &node in comp {
                        let inflow: f64 = graph
                            .edges_directed(node, Direction::Incoming)
                            .map(|edge| v[edge.source().index()] * edge.weight())
                            .sum();
                        let base = if node.index() == e { 1.0 } else { 0.0 };
                        let new = (base + inflow).min(MAX_VISITS);
                        change = change.max((new - v[node.index()]).abs());
                        v[node.index()] = new;
                    }
                    if change < 1e-12 {
                        break;
                    }
                }
            }
            v
        })
        .collect();
    (per_entry, has_cycle)
}

impl ServiceGraph {
    /// Services whose requests can be hurt by a change to `service`: itself and every
    /// transitive caller. Sorted by index.
    pub fn upstream(&self, service: usize) -> Vec<usize> {
        self.walk(service, Direction::Incoming)
    }

    /// `service` and its callers breadth-first, nearest first, at most `limit` of them.
    /// Callers of one service are taken in index order, so the list is deterministic.
    pub fn upstream_nearest(&self, service: usize, limit: usize) -> Vec<usize> {
        // `out` doubles as the queue and, being at most `limit` long, as the seen-set.
        let mut out = Vec::with_capacity(limit);
        out.push(service);
        let mut next = 0;
        let mut callers = Vec::new();
        while next < out.len() && out.len() < limit {
            callers.clear();
            callers.extend(
                self.graph
                    .neighbors_directed(NodeIndex::new(out[next]), Direction::Incoming)
                    .map(|n| n.index()),
            );
            callers.sort_unstable();
            for &c in &callers {
                if out.len() == limit {
                    break;
                }
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            next += 1;
        }
        out
    }

    /// `service` and everything it calls, transitively: whose latency adds to its own.
    pub fn downstream(&self, service: usize) -> Vec<usize> {
        self.walk(service, Direction::Outgoing)
    }

    fn walk(&self, start: usize, dir: Direction) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![start];
        seen[start] = true;
        let mut out = Vec::new();
        while let Some(s) = stack.pop() {
            out.push(s);
            for next in self.graph.neighbors_directed(NodeIndex::new(s), dir) {
                if !seen[next.index()] {
                    seen[next.index()] = true;
                    stack.push(next.index());
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Latency a request to each service sees, given each service's own latency: its own plus
    /// the slowest of its synchronous callees (calls to different dependencies overlap, calls
    /// along a path add up). Inside a cycle, calls are followed along at most
    /// `min(size - 1, MAX_CYCLE_HOPS)` edges, so a call that returns to its caller is counted
    /// once and a cycle cannot inflate latency without bound.
    pub fn path_latency(&self, own_ms: &[f64]) -> Vec<f64> {
        self.slowest_route(own_ms, Direction::Outgoing)
    }

    /// The other half of a route: each service's own latency plus the slowest chain of
    /// callers above it, up to an entry point. With [`Self::path_latency`], the slowest
    /// request through a service takes `caller_latency + path_latency − own` (conservative
    /// where callers above it come from another entry point).
    pub fn caller_latency(&self, own_ms: &[f64]) -> Vec<f64> {
        self.slowest_route(own_ms, Direction::Incoming)
    }

    fn slowest_route(&self, own_ms: &[f64], dir: Direction) -> Vec<f64> {
        const MAX_CYCLE_HOPS: usize = 8;
        let mut sccs = tarjan_scc(&self.graph); // sinks first
        if dir == Direction::Incoming {
            sccs.reverse();
        }
        let mut comp_of = vec![0usize; self.len()];
        let mut local = vec![0usize; self.len()];
        for (k, c) in sccs.iter().enumerate() {
            for (i, n) in c.iter().enumerate() {
                comp_of[n.index()] = k;
                local[n.index()] = i;
            }
        }
        let far = |e: petgraph::graph::EdgeReference<'_, f64>| match dir {
            Direction::Outgoing => e.target().index(),
            Direction::Incoming => e.source().index(),
        };
        let mut total = vec![0.0; self.len()];
        for (k, comp) in sccs.iter().enumerate() {
            // Slowest route leaving the component from each member.
            let exit: Vec<f64> = comp
                .iter()
                .map(|&node| {
                    self.graph
                        .edges_directed(node, dir)
                        .filter(|&e| comp_of[far(e)] != k)
                        .map(|e| total[far(e)])
                        .fold(0.0f64, f64::max)
                })
                .collect();
            for (i, &node) in comp.iter().enumerate() {
                total[node.index()] = own_ms[node.index()] + exit[i];
            }
            for _ in 0..(comp.len() - 1).min(MAX_CYCLE_HOPS) {
                let previous: Vec<f64> = comp.iter().map(|n| total[n.index()]).collect();
                for (i, &node) in comp.iter().enumerate() {
                    let inner = self
                        .graph
                        .edges_directed(node, dir)
                        .filter(|&e| comp_of[far(e)] == k)
                        .map(|e| previous[local[far(e)]])
                        .fold(0.0f64, f64::max);
                    total[node.index()] = own_ms[node.index()] + exit[i].max(inner);
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::{LinkRecord, Overlay, ServiceGraph};

    fn link(p: &str, c: &str, n: f64) -> LinkRecord {
        LinkRecord {
            parent: p.into(),
            child: c.into(),
            call_count: n,
        }
    }

    #[test]
    fn visits_follow_call_ratios_through_fan_in() {
        // a calls b twice per request and c once; b calls c once per call.
        let g = ServiceGraph::from_parts(
            &[
                link("a", "b", 200.0),
                link("a", "c", 100.0),
                link("b", "c", 200.0),
            ],
            &toml::from_str::<Overlay>("[services.a]\nsample_requests = 100").unwrap(),
        )
        .unwrap();
        let (a, b, c) = (
            g.index_of("a").unwrap(),
            g.index_of("b").unwrap(),
            g.index_of("c").unwrap(),
        );
        assert_eq!(g.entries(), &[a]);
        assert!((g.visits(0, b) - 2.0).abs() < 1e-9);
        assert!((g.visits(0, c) - 3.0).abs() < 1e-9);
        assert!((g.traffic_share(c) - 1.0).abs() < 1e-9);
        assert!(!g.has_cycle());
    }

    #[test]
    fn cycles_converge_and_are_reported() {
        // a -> b -> c -> b: c calls back into b for half of its calls.
        let g = ServiceGraph::from_parts(
            &[
                link("a", "b", 100.0),
                link("b", "c", 150.0),
                link("c", "b", 50.0),
            ],
            &Overlay::default(),
        )
        .unwrap();
        assert!(g.has_cycle());
        let b = g.index_of("b").unwrap();
        let c = g.index_of("c").unwrap();
        // b sees 100 from a + 50 from c = 150 per 100 entry requests.
        assert!((g.visits(0, b) - 1.5).abs() < 1e-6, "{}", g.visits(0, b));
        assert!((g.visits(0, c) - 1.5).abs() < 1e-6);
        assert_eq!(g.upstream(c), vec![0, b, c]);
        let lat = g.path_latency(&[1.0, 2.0, 4.0]);
        assert_eq!(lat[0], 7.0);
    }

    #[test]
    fn upstream_is_the_blast_radius() {
        let g = ServiceGraph::from_parts(
            &[
                link("fe", "co", 10.0),
                link("co", "pay", 10.0),
                link("fe", "ads", 10.0),
            ],
            &Overlay::default(),
        )
        .unwrap();
        let names = |v: Vec<usize>| {
            v.into_iter()
                .map(|i| g.service(i).name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(g.upstream(g.index_of("pay").unwrap())),
            ["co", "fe", "pay"]
        );
        assert_eq!(
            names(g.downstream(g.index_of("co").unwrap())),
            ["co", "pay"]
        );
    }

    #[test]
    fn the_slowest_route_through_a_service_runs_from_the_entry_to_the_end_of_its_calls() {
        // fe (10 ms) calls co (20 ms), which calls pay (30 ms); fe also calls ads (5 ms).
        let g = ServiceGraph::from_parts(
            &[
                link("fe", "co", 10.0),
                link("co", "pay", 10.0),
                link("fe", "ads", 10.0),
            ],
            &toml::from_str::<Overlay>(
                "[services.fe]\nbase_latency_ms = 10\n[services.co]\nbase_latency_ms = 20\n\
                 [services.pay]\nbase_latency_ms = 30\n[services.ads]\nbase_latency_ms = 5",
            )
            .unwrap(),
        )
        .unwrap();
        let route = |name: &str| g.base_route_ms(g.index_of(name).unwrap());
        // Through the checkout path: every hop of it.
        assert_eq!(route("co"), 60.0);
        assert_eq!(route("pay"), 60.0);
        // The entry's slowest route is the checkout path; the side branch is short.
        assert_eq!(route("fe"), 60.0);
        assert_eq!(route("ads"), 15.0);
    }
}
