//! The actions an agent may propose, each with the parameters its kind requires.
//!
//! Parameter checks live beside the kind so that adding a kind is one place to read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One proposed change to one service of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Add (positive) or remove (negative) replicas.
    Scale { service: String, replicas: i32 },
    /// Return the service to an earlier release.
    Rollback { service: String, to_version: String },
    /// Restart instances, one at a time when `rolling`.
    Restart { service: String, rolling: bool },
    /// Cap the requests admitted to the service.
    RateLimit { service: String, max_rps: f64 },
    /// Inspect (`monitor`) or block matching traffic in front of the service.
    WafRule {
        service: String,
        rule: String,
        mode: WafMode,
        added_latency_ms: f64,
    },
    /// Move a share of the service's traffic elsewhere.
    Reroute {
        service: String,
        share: f64,
        to: String,
    },
    /// Switch a feature of the service.
    FeatureFlag {
        service: String,
        flag: String,
        enabled: bool,
    },
    /// Change one setting of the service.
    Config {
        service: String,
        key: String,
        value: serde_json::Value,
    },
    /// Take the service out of traffic.
    Isolate { service: String },
    /// Rotate a secret; the service's instances restart to pick it up.
    RotateCredentials { service: String, secret: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WafMode {
    Monitor,
    Block,
}

/// The kind of an action without its parameters: what roles, freezes and the effect model key on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Scale,
    Rollback,
    Restart,
    RateLimit,
    WafRule,
    Reroute,
    FeatureFlag,
    Config,
    Isolate,
    RotateCredentials,
}

impl ActionKind {
    pub const ALL: [ActionKind; 10] = [
        ActionKind::Scale,
        ActionKind::Rollback,
        ActionKind::Restart,
        ActionKind::RateLimit,
        ActionKind::WafRule,
        ActionKind::Reroute,
        ActionKind::FeatureFlag,
        ActionKind::Config,
        ActionKind::Isolate,
        ActionKind::RotateCredentials,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ActionKind::Scale => "scale",
            ActionKind::Rollback => "rollback",
            ActionKind::Restart => "restart",
            ActionKind::RateLimit => "rate_limit",
            ActionKind::WafRule => "waf_rule",
            ActionKind::Reroute => "reroute",
            ActionKind::FeatureFlag => "feature_flag",
            ActionKind::Config => "config",
            ActionKind::Isolate => "isolate",
            ActionKind::RotateCredentials => "rotate_credentials",
        }
    }

    pub fn parse(text: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

const MAX_NAME: usize = 253;
const MAX_TEXT: usize = 256;
const MAX_REPLICA_DELTA: i32 = 1000;
const MAX_ADDED_LATENCY_MS: f64 = 60_000.0;
const MAX_CONFIG_VALUE_BYTES: usize = 1024;

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Scale { .. } => ActionKind::Scale,
            Action::Rollback { .. } => ActionKind::Rollback,
            Action::Restart { .. } => ActionKind::Restart,
            Action::RateLimit { .. } => ActionKind::RateLimit,
            Action::WafRule { .. } => ActionKind::WafRule,
            Action::Reroute { .. } => ActionKind::Reroute,
            Action::FeatureFlag { .. } => ActionKind::FeatureFlag,
            Action::Config { .. } => ActionKind::Config,
            Action::Isolate { .. } => ActionKind::Isolate,
            Action::RotateCredentials { .. } => ActionKind::RotateCredentials,
        }
    }

    pub fn service(&self) -> &str {
        match self {
            Action::Scale { service, .. }
            | Action::Rollback { service, .. }
            | Action::Restart { service, .. }
            | Action::RateLimit { service, .. }
            | Action::WafRule { service, .. }
            | Action::Reroute { service, .. }
            | Action::FeatureFlag { service, .. }
            | Action::Config { service, .. }
            | Action::Isolate { service }
            | Action::RotateCredentials { service, .. } => service,
        }
    }

    /// Checks the parameters of the kind; returns (field, reason code, detail) per problem.
    pub(crate) fn check(&self, out: &mut Vec<(String, super::ReasonCode, String)>) {
        let mut bad = |field: &str, code: super::ReasonCode, detail: String| {
            out.push((format!("action.{field}"), code, detail));
        };
        if !is_service_name(self.service()) {
            bad(
                "service",
                super::ReasonCode::BadIdentifier,
                format!(
                    "service must be 1..={MAX_NAME} characters of letters, digits, '.', '_' or '-'"
                ),
            );
        }
        let mut text = |field: &str, value: &str| {
            if value.is_empty() || value.len() > MAX_TEXT || value.chars().any(char::is_control) {
                bad(
                    field,
                    super::ReasonCode::BadParameter,
                    format!("{field} must be 1..={MAX_TEXT} bytes without control characters"),
                );
            }
        };
        match self {
            Action::Scale { replicas, .. } => {
                if *replicas == 0 || replicas.abs() > MAX_REPLICA_DELTA {
                    out.push((
                        "action.replicas".into(),
                        super::ReasonCode::OutOfRange,
                        format!("replicas is a non-zero delta within ±{MAX_REPLICA_DELTA}, got {replicas}"),
                    ));
                }
            }
            Action::Rollback { to_version, .. } => text("to_version", to_version),
            Action::Restart { .. } | Action::Isolate { .. } => {}
            Action::RateLimit { max_rps, .. } => {
                if !max_rps.is_finite() || *max_rps <= 0.0 {
                    out.push((
                        "action.max_rps".into(),
                        super::ReasonCode::OutOfRange,
                        format!("max_rps must be a finite number > 0, got {max_rps}"),
                    ));
                }
            }
            Action::WafRule {
                rule,
                added_latency_ms,
                ..
            } => {
                text("rule", rule);
                if !added_latency_ms.is_finite()
                    || *added_latency_ms < 0.0
                    || *added_latency_ms > MAX_ADDED_LATENCY_MS
                {
                    out.push((
                        "action.added_latency_ms".into(),
                        super::ReasonCode::OutOfRange,
                        format!("added_latency_ms must be within 0..={MAX_ADDED_LATENCY_MS}, got {added_latency_ms}"),
                    ));
                }
            }
            Action::Reroute { service, share, to } => {
                text("to", to);
                if !share.is_finite() || *share <= 0.0 || *share > 1.0 {
                    out.push((
                        "action.share".into(),
                        super::ReasonCode::OutOfRange,
                        format!("share must be within (0, 1], got {share}"),
                    ));
                }
                if to == service {
                    out.push((
                        "action.to".into(),
                        super::ReasonCode::BadParameter,
                        "a reroute must move traffic to somewhere other than its own service"
                            .into(),
                    ));
                }
            }
            Action::FeatureFlag { flag, .. } => text("flag", flag),
            Action::Config { key, value, .. } => {
                text("key", key);
                let scalar = matches!(
                    value,
                    serde_json::Value::String(_)
                        | serde_json::Value::Number(_)
                        | serde_json::Value::Bool(_)
                );
                let size = value.to_string().len();
                if !scalar || size > MAX_CONFIG_VALUE_BYTES {
                    out.push((
                        "action.value".into(),
                        super::ReasonCode::BadParameter,
                        format!("value must be a string, number or boolean of at most {MAX_CONFIG_VALUE_BYTES} bytes"),
                    ));
                }
            }
            Action::RotateCredentials { secret, .. } => text("secret", secret),
        }
    }
}

pub(crate) fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
