//! Overspend a person granted.
//!
//! A change that only the budget blocks, while it serves an objective the intent ranks above
//! cost, goes to a person (`engine/harm.rs`). Asking per change would ask again for every
//! scale-up of a surge: the arbiter instead asks for the overspend its plan needs over the
//! intent's horizon — this change and the capacity the plan still lacks elsewhere — and a
//! person's approval grants that much beyond the budget until the horizon has passed. Changes
//! within it go ahead as the agent's autonomy allows, citing the grant; a plan that outgrows
//! it asks again. The grant is read from the decisions themselves (`overspend_asked` on the
//! escalation, copied onto the person's approval), so restart and replay fold it back from the
//! trail as the live service made it.

use crate::contract::{Reason, ReasonCode, Timestamp};
use serde::{Deserialize, Serialize};

/// The reason code of a budget escalation stating the overspend asked for: `value` the
/// overspend per hour beyond the intent's budget, `limit` that budget.
pub const OVERSPEND_ASKED: crate::contract::ReasonCode = ReasonCode::OverspendAsked;

/// One person's grant: spend may exceed the budget of the intent version it was given under by
/// `per_hour` until `until`. An edited intent is a new decision about spend: it ends the grant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub per_hour: f64,
    pub until: Timestamp,
    pub intent_version: String,
}

/// The grants still running.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grants {
    grants: Vec<Grant>,
}

impl Grants {
    /// A person approved a change whose decision carries `reasons`, under `intent_version`:
    /// if it asked for an overspend, that much is granted from `at` for `for_h` hours.
    pub fn approved(
        &mut self,
        reasons: &[Reason],
        at: Timestamp,
        for_h: f64,
        intent_version: &str,
    ) {
        let Some(asked) = asked(reasons) else {
            return;
        };
        self.grants.push(Grant {
            per_hour: asked,
            until: at.plus_millis((for_h.max(0.0) * 3_600_000.0) as i64),
            intent_version: intent_version.to_string(),
        });
    }

    /// How far beyond the budget spend may go at `now` under `intent_version`: the largest
    /// grant still running that was given under it (each states a total beyond the budget,
    /// not an increment).
    pub fn at(&mut self, now: Timestamp, intent_version: Option<&str>) -> f64 {
        self.grants.retain(|g| g.until > now);
        self.grants
            .iter()
            .filter(|g| Some(g.intent_version.as_str()) == intent_version)
            .map(|g| g.per_hour)
            .fold(0.0, f64::max)
    }
}

impl Grants {
    /// The grants still running at `now`, whatever intent they were given under.
    pub fn running(&self, now: Timestamp) -> impl Iterator<Item = &Grant> {
        self.grants.iter().filter(move |g| g.until > now)
    }
}

/// The overspend a decision asked for, if it asked for one.
pub fn asked(reasons: &[Reason]) -> Option<f64> {
    reasons
        .iter()
        .find(|r| r.code == OVERSPEND_ASKED)
        .and_then(|r| r.value)
        .filter(|v| v.is_finite() && *v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> Timestamp {
        Timestamp::parse("2026-11-27T08:00:00Z")
            .unwrap()
            .plus_millis(min * 60_000)
    }

    #[test]
    fn a_grant_runs_for_its_hours_and_the_largest_running_counts() {
        let mut g = Grants::default();
        let v = Some("v1");
        g.approved(&[Reason::new(ReasonCode::HumanApproved)], at(0), 4.0, "v1");
        assert_eq!(g.at(at(1), v), 0.0, "no overspend asked, none granted");
        let ask = |x: f64| [Reason::new(OVERSPEND_ASKED).numbers(x, 200.0)];
        g.approved(&ask(30.0), at(0), 4.0, "v1");
        g.approved(&ask(12.0), at(60), 4.0, "v1");
        assert_eq!(g.at(at(61), v), 30.0);
        assert_eq!(g.at(at(61), Some("v2")), 0.0, "an edited intent ends it");
        assert_eq!(g.at(at(61), None), 0.0, "no intent, no budget to exceed");
        assert_eq!(g.at(at(241), v), 12.0, "the first ran out after 4 h");
        assert_eq!(g.at(at(301), v), 0.0);
    }
}
