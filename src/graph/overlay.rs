//! Per-service attributes laid over a bare Jaeger export.
//!
//! Every attribute has a documented default so that a plain export from a tracing system is
//! enough to start; the overlay only says what differs.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Attributes as written; absent fields fall back to `[defaults]`, then to [`DEFAULT_ATTRS`].
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceAttrs {
    pub tier: Option<String>,
    pub replicas: Option<u32>,
    pub capacity_rps_per_replica: Option<f64>,
    pub base_latency_ms: Option<f64>,
    pub cost_per_replica_hour: Option<f64>,
    pub revenue_share: Option<f64>,
    /// Entry points: requests per second arriving now.
    pub entry_rps: Option<f64>,
    /// Entry points: how many requests the sample behind the call counts covered. Without it
    /// the entry is assumed to call its busiest dependency once per request.
    pub sample_requests: Option<f64>,
    /// Declare a service an entry point even if something calls it.
    pub entry: Option<bool>,
}

/// The overlay file: `[defaults]` plus `[services.<name>]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    #[serde(default)]
    pub defaults: ServiceAttrs,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceAttrs>,
}

/// Defaults used when neither the service nor `[defaults]` says otherwise: a small stateless
/// service of the `standard` tier, two replicas of 100 rps each, 10 ms of own latency, and
/// 0.10 per replica-hour.
pub const DEFAULT_ATTRS: Resolved = Resolved {
    replicas: 2,
    capacity_rps_per_replica: 100.0,
    base_latency_ms: 10.0,
    cost_per_replica_hour: 0.10,
    revenue_share: 0.0,
    entry_rps: 100.0,
};

/// Numeric defaults (the tier default is `standard`).
#[derive(Clone, Copy, Debug)]
pub struct Resolved {
    pub replicas: u32,
    pub capacity_rps_per_replica: f64,
    pub base_latency_ms: f64,
    pub cost_per_replica_hour: f64,
    pub revenue_share: f64,
    pub entry_rps: f64,
}

pub const DEFAULT_TIER: &str = "standard";
