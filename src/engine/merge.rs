//! Which proposals are the same change (merged into one) and which contradict each other.
//!
//! Two agents reacting to the same signal often propose the same change: two scale-ups of one
//! service become one (the larger), two identical WAF rules become one. Merging happens before
//! optimisation, so a merge group is one decision variable. Contradictions (scale up and
//! down, a flag on and off) can never both be approved.

use crate::contract::Action;

/// What makes two actions on one service the same change.
fn merge_key(a: &Action) -> String {
    match a {
        Action::Scale { replicas, .. } => format!("scale:{}", replicas.signum()),
        Action::Restart { rolling, .. } => format!("restart:{rolling}"),
        Action::Rollback { to_version, .. } => format!("rollback:{to_version}"),
        Action::RateLimit { max_rps, .. } => format!("rate_limit:{}", max_rps.to_bits()),
        Action::WafRule { rule, mode, .. } => format!("waf:{rule}:{mode:?}"),
        Action::Reroute { share, to, .. } => format!("reroute:{to}:{}", share.to_bits()),
        Action::FeatureFlag { flag, enabled, .. } => format!("flag:{flag}:{enabled}"),
        Action::Config { key, value, .. } => format!("config:{key}:{value}"),
        Action::Isolate { .. } => "isolate".into(),
        Action::RotateCredentials { secret, .. } => format!("rotate:{secret}"),
    }
}

/// How strongly an action acts, to pick the one a merge keeps: the larger scale, the slower
/// WAF rule (its latency is what the group must be judged on).
fn magnitude(a: &Action) -> f64 {
    match a {
        Action::Scale { replicas, .. } => replicas.unsigned_abs() as f64,
        Action::WafRule {
            added_latency_ms, ..
        } => *added_latency_ms,
        _ => 0.0,
    }
}

/// Whether two actions on the same service cannot both happen.
pub(crate) fn contradicts(a: &Action, b: &Action) -> bool {
    use Action::*;
    match (a, b) {
        // Cutting a service off and adding capacity for it to serve more pull apart; a flag, a
        // setting, new credentials or a rule on an isolated service do not.
        (Isolate { .. }, Scale { replicas, .. }) | (Scale { replicas, .. }, Isolate { .. }) => {
            *replicas > 0
        }
        (Isolate { .. }, _) | (_, Isolate { .. }) => false,
        (Scale { replicas: x, .. }, Scale { replicas: y, .. }) => x.signum() != y.signum(),
        (Rollback { to_version: x, .. }, Rollback { to_version: y, .. }) => x != y,
        (
            FeatureFlag {
                flag: f,
                enabled: x,
                ..
            },
            FeatureFlag {
                flag: g,
                enabled: y,
                ..
            },
        ) => f == g && x != y,
        (
            Config {
                key: k, value: x, ..
            },
            Config {
                key: l, value: y, ..
            },
        ) => k == l && x != y,
        (
            WafRule {
                rule: r, mode: x, ..
            },
            WafRule {
                rule: s, mode: y, ..
            },
        ) => r == s && x != y,
        (RateLimit { max_rps: x, .. }, RateLimit { max_rps: y, .. }) => x != y,
        (
            Reroute {
                to: t, share: x, ..
            },
            Reroute {
                to: u, share: y, ..
            },
        ) => t == u && x != y,
        _ => false,
    }
}

/// Groups of candidate indices (primary first) for actions given as (service, action), in
/// first-seen order, so grouping is deterministic.
pub(crate) fn group(items: &[(usize, &Action)]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_key: std::collections::HashMap<(usize, String), usize> = Default::default();
    for (i, (s, a)) in items.iter().enumerate() {
        match by_key.entry((*s, merge_key(a))) {
            std::collections::hash_map::Entry::Occupied(g) => groups[*g.get()].push(i),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(groups.len());
                groups.push(vec![i]);
            }
        }
    }
    for g in &mut groups {
        // Stable: among equals the earliest proposal stays primary.
        g.sort_by(|&x, &y| {
            magnitude(items[y].1)
                .partial_cmp(&magnitude(items[x].1))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(x.cmp(&y))
        });
    }
    groups
}
