//! Reading a Jaeger dependency-links export and an overlay into a [`ServiceGraph`].

use super::overlay::{Overlay, ServiceAttrs, DEFAULT_ATTRS, DEFAULT_TIER};
use super::{analysis, Service, ServiceGraph};
use crate::hash::sha256;
use crate::source::{find_line, toml_location, Location};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    #[error("{path}: link #{index} ({field}): {message}")]
    Link {
        path: String,
        index: usize,
        field: &'static str,
        message: String,
    },
    #[error("{at}: services.{service}.{field}: {message}")]
    Attribute {
        at: Location,
        service: String,
        field: &'static str,
        message: String,
    },
    #[error("the graph has no services: the links file is empty and the overlay names none")]
    Empty,
    #[error("the graph has no entry point (every service is called by another); mark one with `entry = true` in the overlay")]
    NoEntry,
}

/// One record of Jaeger's dependencies API. Extra fields of newer exports (`source`) are
/// ignored: the file comes from someone else's system.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct LinkRecord {
    pub parent: String,
    pub child: String,
    #[serde(rename = "callCount")]
    pub call_count: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LinksFile {
    Bare(Vec<LinkRecord>),
    Wrapped { data: Vec<LinkRecord> },
}

/// Parses links as Jaeger writes them: a bare array, or the API's `{"data": [...]}` envelope.
pub fn parse_links(path: &str, text: &str) -> Result<Vec<LinkRecord>, GraphError> {
    // First as plain JSON so a syntax error gets a line and column.
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| GraphError::Syntax {
        at: Location {
            file: path.to_string(),
            line: e.line(),
            column: e.column(),
        },
        message: e.to_string(),
    })?;
    let file: LinksFile = serde_json::from_value(value).map_err(|e| GraphError::Syntax {
        at: Location {
            file: path.to_string(),
            line: 1,
            column: 1,
        },
        message: format!(
            "expected an array of {{\"parent\", \"child\", \"callCount\"}} (or {{\"data\": [...]}}): {e}"
        ),
    })?;
    let links = match file {
        LinksFile::Bare(l) | LinksFile::Wrapped { data: l } => l,
    };
    for (index, l) in links.iter().enumerate() {
        let bad = |field, message: String| GraphError::Link {
            path: path.to_string(),
            index,
            field,
            message,
        };
        for (field, name) in [("parent", &l.parent), ("child", &l.child)] {
            if !crate::contract::is_service_name_pub(name) {
                return Err(bad(field, format!("`{name}` is not a service name")));
            }
        }
        if !l.call_count.is_finite() || l.call_count < 0.0 {
            return Err(bad(
                "callCount",
                format!("must be a finite count >= 0, got {}", l.call_count),
            ));
        }
    }
    Ok(links)
}

pub fn parse_overlay(path: &str, text: &str) -> Result<Overlay, GraphError> {
    toml::from_str(text).map_err(|e| GraphError::Syntax {
        at: toml_location(path, text, &e),
        message: e.message().to_string(),
    })
}

impl ServiceGraph {
    /// Loads `links` (Jaeger JSON) and, if given, an overlay TOML.
    pub fn from_files(links: &Path, overlay: Option<&Path>) -> Result<Self, GraphError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| GraphError::Io {
                path: p.display().to_string(),
                source,
            })
        };
        let links_name = links.display().to_string();
        let records = parse_links(&links_name, &read(links)?)?;
        let (overlay, overlay_src) = match overlay {
            Some(p) => {
                let text = read(p)?;
                let name = p.display().to_string();
                (parse_overlay(&name, &text)?, Some((name, text)))
            }
            None => (Overlay::default(), None),
        };
        let src = overlay_src.as_ref().map(|(n, t)| (n.as_str(), t.as_str()));
        Self::build(&records, &overlay, src)
    }

    /// Builds from values already in memory (tests, synthetic graphs, scenarios).
    pub fn from_parts(links: &[LinkRecord], overlay: &Overlay) -> Result<Self, GraphError> {
        Self::build(links, overlay, None)
    }

    fn build(
        links: &[LinkRecord],
        overlay: &Overlay,
        overlay_src: Option<(&str, &str)>,
    ) -> Result<Self, GraphError> {
        // Deterministic service order: sorted names, so indices and hashes never depend on
        // the order of records in the export.
        let mut names: Vec<&str> = links
            .iter()
            .flat_map(|l| [l.parent.as_str(), l.child.as_str()])
            .chain(overlay.services.keys().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            return Err(GraphError::Empty);
        }
        let index: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i))
            .collect();

        // Duplicate links add up; a self-call is kept (it is a cycle of length one).
        let mut counts: BTreeMap<(usize, usize), f64> = BTreeMap::new();
        for l in links {
            *counts
                .entry((index[&l.parent], index[&l.child]))
                .or_default() += l.call_count;
        }
        let n = names.len();
        let mut incoming = vec![0.0; n];
        let mut max_out = vec![0.0f64; n];
        let mut has_parent = vec![false; n];
        for (&(p, c), &count) in &counts {
            if p != c {
                has_parent[c] = true;
            }
            incoming[c] += count;
            max_out[p] = max_out[p].max(count);
        }

        let mut services = Vec::with_capacity(n);
        for (i, name) in names.iter().enumerate() {
            let own = overlay.services.get(*name).cloned().unwrap_or_default();
            let at = || match overlay_src {
                Some((file, text)) => find_line(file, text, &format!("[services.{name}]")),
                None => Location {
                    file: "<overlay>".into(),
                    line: 1,
                    column: 1,
                },
            };
            services.push(resolve(name, &own, &overlay.defaults, has_parent[i], at)?);
        }
        let entries: Vec<usize> = (0..n).filter(|&i| services[i].is_entry).collect();
        if entries.is_empty() {
            return Err(GraphError::NoEntry);
        }

        // Requests each service handled in the sample the call counts came from: what came in,
        // or for an entry point the declared sample size or its busiest dependency's count.
        let sample: Vec<f64> = (0..n)
            .map(|i| {
                let declared = overlay
                    .services
                    .get(names[i])
                    .and_then(|a| a.sample_requests);
                match declared {
                    Some(s) if s > 0.0 => s,
                    _ if incoming[i] > 0.0 && !services[i].is_entry => incoming[i],
                    _ => max_out[i].max(incoming[i]).max(1.0),
                }
            })
            .collect();

        let mut graph = DiGraph::<(), f64>::with_capacity(n, counts.len());
        for _ in 0..n {
            graph.add_node(());
        }
        for (&(p, c), &count) in &counts {
            graph.add_edge(NodeIndex::new(p), NodeIndex::new(c), count / sample[p]);
        }

        let (visits, has_cycle) = analysis::visits(&graph, &entries);
        let total_entry: f64 = entries.iter().map(|&e| services[e].entry_rps).sum();
        let traffic_share = (0..n)
            .map(|s| {
                entries
                    .iter()
                    .enumerate()
                    .map(|(k, &e)| {
                        let weight = if total_entry > 0.0 {
                            services[e].entry_rps / total_entry
                        } else {
                            1.0 / entries.len() as f64
                        };
                        weight * visits[k][s].min(1.0)
                    })
                    .sum::<f64>()
                    .min(1.0)
            })
            .collect();

        let version = version_hash(&names, &counts, &services);
        let names = services.iter().map(|s| s.name.as_str().into()).collect();
        let mut g = ServiceGraph {
            graph,
            names,
            services,
            index,
            entries,
            visits,
            traffic_share,
            base_route_ms: Vec::new(),
            version,
            has_cycle,
        };
        let base: Vec<f64> = g.services.iter().map(|s| s.base_latency_ms).collect();
        let below = g.path_latency(&base);
        let above = g.caller_latency(&base);
        g.base_route_ms = (0..base.len())
            .map(|s| above[s] + below[s] - base[s])
            .collect();
        Ok(g)
    }
}

fn resolve(
    name: &str,
    own: &ServiceAttrs,
    defaults: &ServiceAttrs,
    has_parent: bool,
    at: impl Fn() -> Location,
) -> Result<Service, GraphError> {
    let bad = |field, message: String| GraphError::Attribute {
        at: at(),
        service: name.to_string(),
        field,
        message,
    };
    let num = |field: &'static str,
               own: Option<f64>,
               default: Option<f64>,
               fallback: f64,
               ok: fn(f64) -> bool,
               rule: &str| {
        let v = own.or(default).unwrap_or(fallback);
        if v.is_finite() && ok(v) {
            Ok(v)
        } else {
            Err(bad(field, format!("must be {rule}, got {v}")))
        }
    };
    let d = DEFAULT_ATTRS;
    let replicas = own.replicas.or(defaults.replicas).unwrap_or(d.replicas);
    if replicas > 100_000 {
        return Err(bad("replicas", format!("{replicas} is more than 100000")));
    }
    let tier = own
        .tier
        .clone()
        .or_else(|| defaults.tier.clone())
        .unwrap_or_else(|| DEFAULT_TIER.to_string());
    if !crate::contract::is_service_name_pub(&tier) {
        return Err(bad("tier", format!("`{tier}` is not a tier name")));
    }
    Ok(Service {
        name: name.to_string(),
        tier,
        replicas,
        capacity_rps_per_replica: num(
            "capacity_rps_per_replica",
            own.capacity_rps_per_replica,
            defaults.capacity_rps_per_replica,
            d.capacity_rps_per_replica,
            |v| v > 0.0,
            "> 0",
        )?,
        base_latency_ms: num(
            "base_latency_ms",
            own.base_latency_ms,
            defaults.base_latency_ms,
            d.base_latency_ms,
            |v| v >= 0.0,
            ">= 0",
        )?,
        cost_per_replica_hour: num(
            "cost_per_replica_hour",
            own.cost_per_replica_hour,
            defaults.cost_per_replica_hour,
            d.cost_per_replica_hour,
            |v| v >= 0.0,
            ">= 0",
        )?,
        revenue_share: num(
            "revenue_share",
            own.revenue_share,
            None,
            d.revenue_share,
            |v| (0.0..=1.0).contains(&v),
            "within [0, 1]",
        )?,
        entry_rps: num(
            "entry_rps",
            own.entry_rps,
            defaults.entry_rps,
            d.entry_rps,
            |v| v >= 0.0,
            ">= 0",
        )?,
        entry_rps_declared: own.entry_rps.or(defaults.entry_rps).is_some(),
        is_entry: own.entry.unwrap_or(!has_parent),
    })
}

fn version_hash(
    names: &[&str],
    counts: &BTreeMap<(usize, usize), f64>,
    services: &[Service],
) -> String {
    let mut canon = String::new();
    for ((p, c), n) in counts {
        canon.push_str(&format!("L {} {} {}\n", names[*p], names[*c], n));
    }
    for s in services {
        canon.push_str(&format!(
            "S {} {} {} {} {} {} {} {} {}\n",
            s.name,
            s.tier,
            s.replicas,
            s.capacity_rps_per_replica,
            s.base_latency_ms,
            s.cost_per_replica_hour,
            s.revenue_share,
            s.entry_rps,
            s.is_entry
        ));
    }
    sha256(canon.as_bytes())
}
