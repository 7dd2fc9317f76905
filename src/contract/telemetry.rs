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

impl Telemetry {
    /// What changed from `before` to this snapshot: the services observed anew or
    /// otherwise, with this snapshot's time; `None` when a service of `before` is no longer
    /// observed (a snapshot of changes cannot say so).
    pub fn changes_since(&self, before: &Telemetry) -> Option<Telemetry> {
        // Both maps walked side by side in their order: one comparison per service, not a
        // lookup (every window, over thousands of services).
        let mut old = before.services.iter().peekable();
        let mut services = BTreeMap::new();
        for (s, o) in &self.services {
            match old.peek() {
                Some((k, _)) if *k < s => return None,
                Some((k, v)) if *k == s => {
                    if *v != o {
                        services.insert(s.clone(), o.clone());
                    }
                    old.next();
                }
                _ => {
                    services.insert(s.clone(), o.clone());
                }
            }
        }
        if old.next().is_some() {
            return None;
        }
        Some(Telemetry {
            at: self.at,
            services,
        })
    }

    /// Takes in a snapshot of changes ([`Telemetry::changes_since`]).
    pub fn apply_changes(&mut self, changes: &Telemetry) {
        self.at = changes.at;
        for (s, o) in &changes.services {
            self.services.insert(s.clone(), o.clone());
        }
    }
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

#[cfg(test)]
mod changes {
    use super::{Observation, Telemetry};

    fn seen(services: &[(&str, f64)]) -> Telemetry {
        Telemetry {
            at: None,
            services: services
                .iter()
                .map(|(s, load)| {
                    let o = Observation {
                        load_rps: Some(*load),
                        ..Default::default()
                    };
                    (s.to_string(), o)
                })
                .collect(),
        }
    }

    #[test]
    fn a_snapshot_of_changes_holds_what_changed_and_brings_the_last_one_to_this_one() {
        let before = seen(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]);
        let after = seen(&[("a", 1.0), ("b", 2.5), ("c", 3.0), ("d", 4.0)]);
        let changes = after.changes_since(&before).unwrap();
        assert_eq!(changes, seen(&[("b", 2.5), ("d", 4.0)]));
        let mut folded = before.clone();
        folded.apply_changes(&changes);
        assert_eq!(folded, after);
        assert_eq!(after.changes_since(&after), Some(seen(&[])));
        // A service no longer observed cannot be said by changes: the snapshot goes whole.
        assert_eq!(seen(&[("a", 1.0)]).changes_since(&before), None);
        let without_b = seen(&[("a", 1.0), ("c", 3.0), ("d", 4.0)]);
        assert_eq!(without_b.changes_since(&before), None);
    }
}
