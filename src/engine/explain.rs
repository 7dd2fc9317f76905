//! Human-readable explanations: one paragraph per decision, for an incident review.

use crate::contract::{Action, Proposal, Verdict, WafMode};
use crate::intent::Intent;

/// What the action does, in words.
pub(crate) fn action_phrase(a: &Action) -> String {
    match a {
        Action::Scale { service, replicas } if *replicas > 0 => {
            format!(
                "adding {replicas} replica{} to {service}",
                plural(*replicas)
            )
        }
        Action::Scale { service, replicas } => format!(
            "removing {} replica{} from {service}",
            -replicas,
            plural(-replicas)
        ),
        Action::Rollback {
            service,
            to_version,
        } => {
            format!("rolling {service} back to {to_version}")
        }
        Action::Restart { service, rolling } => format!(
            "{} restart of {service}",
            if *rolling { "a rolling" } else { "a full" }
        ),
        Action::RateLimit { service, max_rps } => {
            format!("rate-limiting {service} to {max_rps} rps")
        }
        Action::WafRule {
            service,
            rule,
            mode,
            added_latency_ms,
        } => format!(
            "WAF rule '{rule}' in {} mode in front of {service} (+{added_latency_ms} ms)",
            match mode {
                WafMode::Block => "block",
                WafMode::Monitor => "monitor",
            }
        ),
        Action::Reroute { service, share, to } => {
            format!(
                "moving {:.0}% of {service}'s traffic to {to}",
                share * 100.0
            )
        }
        Action::FeatureFlag {
            service,
            flag,
            enabled,
        } => format!(
            "{} feature '{flag}' of {service}",
            if *enabled { "enabling" } else { "disabling" }
        ),
        Action::Config {
            service,
            key,
            value,
        } => format!("setting {key}={value} on {service}"),
        Action::Isolate { service } => format!("isolating {service} from traffic"),
        Action::RotateCredentials { service, secret } => {
            format!("rotating secret '{secret}' of {service}")
        }
    }
}

fn plural(n: i32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn capitalised(v: Verdict) -> &'static str {
    match v {
        Verdict::Approved => "Approved",
        Verdict::Merged => "Merged",
        Verdict::Rejected => "Rejected",
        Verdict::Escalated => "Escalated to a human",
        Verdict::Deferred => "Deferred",
        Verdict::Expired => "Expired",
        Verdict::Invalid => "Invalid",
        Verdict::Unauthorized => "Unauthorized",
    }
}

/// `availability > latency > security > cost`
pub(crate) fn priority_order(intent: &Intent) -> String {
    intent
        .priorities
        .iter()
        .map(|o| o.as_str())
        .collect::<Vec<_>>()
        .join(" > ")
}

/// The paragraph: verdict and action, why, what would have happened otherwise, under which
/// intent.
pub(crate) fn paragraph(
    verdict: Verdict,
    p: &Proposal,
    because: &str,
    counterfactual: Option<&str>,
    intent: Option<&Intent>,
) -> String {
    let mut s = format!(
        "{}: {} (proposed by {} for {}). {}",
        capitalised(verdict),
        action_phrase(&p.action),
        p.agent,
        p.domain.as_str(),
        because
    );
    if !s.ends_with('.') {
        s.push('.');
    }
    if let Some(cf) = counterfactual {
        s.push_str(" Had it been approved: ");
        s.push_str(cf);
        if !s.ends_with('.') {
            s.push('.');
        }
    }
    if let Some(i) = intent {
        s.push_str(&format!(
            " Decided under intent '{}', which ranks {}.",
            i.name,
            priority_order(i)
        ));
    }
    s
}
