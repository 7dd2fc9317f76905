//! Turning untrusted bytes into contract values, or into a precise account of what is wrong.
//!
//! Never panics, whatever the input: every failure becomes a [`Problem`] with a stable code and
//! the field it concerns, which the engine turns into an `invalid` decision.

use super::{action::is_service_name, Outcome, Proposal, VERSION};
use serde::de::DeserializeOwned;
use std::fmt;

/// Spec section 1: a proposal is at most 64 KiB.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
const MAX_ID: usize = 128;
const MAX_AGENT: usize = 64;
const MAX_RATIONALE: usize = 4096;
const MAX_EVIDENCE: usize = 64;
/// A proposal may not ask to stay valid for more than a day: stale intent is a risk.
const MAX_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// One thing wrong with a payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// Dotted path of the offending field (`action.replicas`), or `""` for the whole payload.
    pub field: String,
    /// Stable machine-readable code, sent as `reasons[].code`.
    pub code: super::ReasonCode,
    pub detail: String,
}

/// A payload refused at the boundary, with whatever identity could be salvaged from it so the
/// answer can still reach its sender.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    pub agent: Option<String>,
    pub id: Option<String>,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if p.field.is_empty() {
                write!(f, "{}: {}", p.code, p.detail)?;
            } else {
                write!(f, "{} at {}: {}", p.code, p.field, p.detail)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

fn one(code: super::ReasonCode, field: &str, detail: String) -> Vec<Problem> {
    vec![Problem {
        field: field.to_string(),
        code,
        detail,
    }]
}

/// Parses and validates a proposal.
pub fn parse_proposal(bytes: &[u8]) -> Result<Proposal, Invalid> {
    // The common case, a well-formed proposal, is read straight into its type; anything that
    // fails there takes the slower path that names what is wrong and salvages the sender.
    if bytes.len() <= MAX_PAYLOAD_BYTES {
        if let Ok(p) = serde_json::from_slice::<Proposal>(bytes) {
            if check_proposal(&p).is_empty() {
                return Ok(p);
            }
        }
    }
    let value = parse_json_object(bytes)?;
    let salvage = |key: &str| value.get(key).and_then(|v| v.as_str()).and_then(identity);
    let agent = salvage("agent");
    let id = salvage("id");
    let fail = |problems| Invalid {
        agent: agent.clone(),
        id: id.clone(),
        problems,
    };
    let proposal: Proposal = typed(value.clone()).map_err(fail)?;
    let problems = check_proposal(&proposal);
    if problems.is_empty() {
        Ok(proposal)
    } else {
        Err(fail(problems))
    }
}

/// Parses and validates an outcome report.
pub fn parse_outcome(bytes: &[u8]) -> Result<Outcome, Invalid> {
    let value = parse_json_object(bytes)?;
    let outcome: Outcome = typed(value).map_err(|problems| Invalid {
        agent: None,
        id: None,
        problems,
    })?;
    let mut problems = Vec::new();
    version(outcome.v, &mut problems);
    if outcome.observed.values().any(|v| !v.is_finite()) {
        problems.push(Problem {
            field: "observed".into(),
            code: super::ReasonCode::NotFinite,
            detail: "observed values must be finite numbers".into(),
        });
    }
    if problems.is_empty() {
        Ok(outcome)
    } else {
        Err(Invalid {
            agent: Some(outcome.agent),
            id: Some(outcome.proposal_id),
            problems,
        })
    }
}

/// A salvaged `id` or `agent`, if it could name a proposal in an answer.
fn identity(s: &str) -> Option<String> {
    (!s.is_empty() && s.len() <= MAX_ID && !s.chars().any(char::is_control)).then(|| s.to_string())
}

fn parse_json_object(bytes: &[u8]) -> Result<serde_json::Value, Invalid> {
    let fail = |problems| Invalid {
        agent: None,
        id: None,
        problems,
    };
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(fail(one(
            super::ReasonCode::TooLarge,
            "",
            format!(
                "payload is {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                bytes.len()
            ),
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        fail(one(
            super::ReasonCode::MalformedJson,
            "",
            format!("payload is not UTF-8: {e}"),
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        // Not JSON as a whole (a number out of range, NaN, a stray comma): the identity is
        // still read where it can be, so the sender can match the refusal to its proposal.
        let salvage = |key| super::salvage::top_level_string(text, key).and_then(|s| identity(&s));
        Invalid {
            agent: salvage("agent"),
            id: salvage("id"),
            problems: one(
                super::ReasonCode::MalformedJson,
                "",
                format!("line {}, column {}: {e}", e.line(), e.column()),
            ),
        }
    })?;
    if !value.is_object() {
        return Err(fail(one(
            super::ReasonCode::MalformedJson,
            "",
            "payload must be a JSON object".into(),
        )));
    }
    Ok(value)
}

fn typed<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Vec<Problem>> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        let code = if message.starts_with("unknown field") {
            super::ReasonCode::UnknownField
        } else if message.starts_with("missing field") {
            super::ReasonCode::MissingField
        } else if message.starts_with("unknown variant") {
            super::ReasonCode::UnknownVariant
        } else if message.starts_with("invalid type") {
            super::ReasonCode::BadType
        } else if message.contains("RFC 3339") {
            super::ReasonCode::BadTimestamp
        } else {
            super::ReasonCode::BadValue
        };
        one(code, &field, message)
    })
}

fn version(v: u32, problems: &mut Vec<Problem>) {
    if v != VERSION {
        problems.push(Problem {
            field: "v".into(),
            code: super::ReasonCode::UnsupportedVersion,
            detail: format!("contract version {v} is not spoken here; send v={VERSION}"),
        });
    }
}

fn check_proposal(p: &Proposal) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut push = |field: &str, code: super::ReasonCode, detail: String| {
        problems.push(Problem {
            field: field.to_string(),
            code,
            detail,
        })
    };
    if p.v != VERSION {
        push(
            "v",
            super::ReasonCode::UnsupportedVersion,
            format!(
                "contract version {} is not spoken here; send v={VERSION}",
                p.v
            ),
        );
    }
    if p.id.is_empty() || p.id.len() > MAX_ID || !p.id.bytes().all(|b| b.is_ascii_graphic()) {
        push(
            "id",
            super::ReasonCode::BadIdentifier,
            format!("id must be 1..={MAX_ID} visible ASCII characters"),
        );
    }
    let agent_ok = !p.agent.is_empty()
        && p.agent.len() <= MAX_AGENT
        && p.agent
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !agent_ok {
        push(
            "agent",
            super::ReasonCode::BadIdentifier,
            format!(
                "agent must be 1..={MAX_AGENT} letters, digits, '-' or '_' (a NATS subject token)"
            ),
        );
    }
    if !p.confidence.is_finite() || !(0.0..=1.0).contains(&p.confidence) {
        push(
            "confidence",
            super::ReasonCode::OutOfRange,
            format!("confidence must be within [0, 1], got {}", p.confidence),
        );
    }
    let e = &p.expected;
    for (name, v) in [
        ("expected.cost_per_hour", e.cost_per_hour),
        ("expected.latency_ms", e.latency_ms),
        ("expected.capacity_rps", e.capacity_rps),
        ("expected.risk", e.risk),
    ] {
        if let Some(v) = v {
            if !v.is_finite() || v.abs() > 1e12 {
                push(
                    name,
                    super::ReasonCode::NotFinite,
                    format!("{name} must be a finite number of sane size"),
                );
            }
        }
    }
    if let Some(risk) = e.risk {
        if !(0.0..=1.0).contains(&risk) {
            push(
                "expected.risk",
                super::ReasonCode::OutOfRange,
                format!("risk must be within [0, 1], got {risk}"),
            );
        }
    }
    if p.rationale.len() > MAX_RATIONALE {
        push(
            "rationale",
            super::ReasonCode::TooLarge,
            format!("rationale is at most {MAX_RATIONALE} bytes"),
        );
    }
    if p.evidence.len() > MAX_EVIDENCE {
        push(
            "evidence",
            super::ReasonCode::TooLarge,
            format!("at most {MAX_EVIDENCE} evidence items"),
        );
    }
    for (i, ev) in p.evidence.iter().enumerate() {
        if !ev.value.is_finite() {
            push(
                &format!("evidence[{i}].value"),
                super::ReasonCode::NotFinite,
                "evidence value must be finite".into(),
            );
        }
        if ev.metric.is_empty() || ev.metric.len() > 128 {
            push(
                &format!("evidence[{i}].metric"),
                super::ReasonCode::BadParameter,
                "metric is 1..=128 bytes".into(),
            );
        }
    }
    let lifetime = p.created_at.millis_until(&p.expires_at);
    if lifetime <= 0 {
        push(
            "expires_at",
            super::ReasonCode::OutOfRange,
            format!(
                "expires_at ({}) must be after created_at ({})",
                p.expires_at, p.created_at
            ),
        );
    } else if lifetime > MAX_LIFETIME_MS {
        push(
            "expires_at",
            super::ReasonCode::OutOfRange,
            "a proposal may stay valid for at most 24 hours".into(),
        );
    }
    let mut action = Vec::new();
    p.action.check(&mut action);
    for (field, code, detail) in action {
        problems.push(Problem {
            field,
            code,
            detail,
        });
    }
    if let crate::contract::Action::Reroute { to, .. } = &p.action {
        if !is_service_name(to) {
            problems.push(Problem {
                field: "action.to".into(),
                code: super::ReasonCode::BadIdentifier,
                detail: "to must name a service or region with letters, digits, '.', '_' or '-'"
                    .into(),
            });
        }
    }
    problems
}
