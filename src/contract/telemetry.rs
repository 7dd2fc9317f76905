//! Service observations from the data plane (`arbiter.telemetry.<service>`, or a
//! `--telemetry` file for `arbiter decide`).

use super::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is known of one service now; every field optional, absent ones are estimated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Requests per second arriving now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_rps: Option<f64>,
    /// Requests per second expected over the planning horizon (the surge to come).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// An attack on this service (or entering through it) is detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_attack: Option<bool>,
    /// Estimated attack requests per second within `load_rps`: what blocking them would free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_rps: Option<f64>,
}

/// A snapshot of observations; `services` is keyed by service name. Observations of entry
/// points (`load_rps`, `forecast_rps`) propagate to the services they call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    #[serde(default)]
    pub services: BTreeMap<String, Observation>,
}

impl Observation {
    /// Names of numeric fields that are present but not finite and non-negative.
    pub fn bad_numbers(&self) -> Vec<&'static str> {
        [
            ("load_rps", self.load_rps),
            ("forecast_rps", self.forecast_rps),
            ("p99_ms", self.p99_ms),
            ("error_rate", self.error_rate),
            ("attack_rps", self.attack_rps),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some_and(|v| !v.is_finite() || v < 0.0))
        .map(|(n, _)| n)
        .collect()
    }
}
