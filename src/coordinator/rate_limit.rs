//! Per-agent rate limits: the circuit breaker for an agent that proposes far more than it
//! should (a loop, a runaway retry).
//!
//! Without it one such agent fills every window; the service then sheds under the load and
//! every other agent's proposals are deferred with it. With it, the agent's proposals beyond
//! its role's `max_proposals_per_minute` are answered `deferred` (`agent_rate_limit`) before
//! the engine, and everyone else is decided as usual.
//!
//! The window slides over the decision times the caller passes in, so a simulation or a replay
//! counts exactly as the live service did, and a restarted service counts the last minute's
//! proposals again from its audit trail.

use crate::contract::{Decision, Proposal, Reason, ReasonCode, Timestamp, Verdict};
use crate::engine::{self, Context};
use std::collections::{HashMap, VecDeque};

/// The span a limit counts over.
pub const WINDOW_MS: i64 = 60_000;

/// When each agent's recently admitted proposals were admitted, oldest first: at most its
/// limit per agent, so the memory is bounded by the declared limits.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct AgentRates {
    admitted: HashMap<String, VecDeque<Timestamp>>,
}

/// A proposal over its agent's limit.
#[derive(Clone, Debug, PartialEq)]
pub struct OverLimit {
    pub limit: u32,
    /// When the oldest counted proposal leaves the window, making room for one more.
    pub room_at: Timestamp,
}

impl AgentRates {
    /// Counts one new proposal of `agent` at `now` if its limit has room, else says when it
    /// will. `None` as the limit admits everything and keeps no count.
    pub fn admit(
        &mut self,
        agent: &str,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<(), OverLimit> {
        let Some(limit) = limit else {
            return Ok(());
        };
        let times = self.admitted.entry(agent.to_string()).or_default();
        while times
            .front()
            .is_some_and(|t| t.plus_millis(WINDOW_MS) <= now)
        {
            times.pop_front();
        }
        // A limit lowered by a roles reload takes effect at once: the surplus is forgotten
        // oldest first.
        while times.len() > limit as usize {
            times.pop_front();
        }
        if times.len() < limit as usize {
            times.push_back(now);
            return Ok(());
        }
        let oldest = times.front().expect("a full window is not empty");
        Err(OverLimit {
            limit,
            room_at: oldest.plus_millis(WINDOW_MS),
        })
    }
}

/// Codes of the answers the coordinator gives before the engine: proposals answered so were
/// not admitted, and do not count against their agent's rate limit.
const REFUSED_BEFORE_THE_ENGINE: [ReasonCode; 6] = [
    ReasonCode::SubjectMismatch,
    ReasonCode::AgentSuspended,
    ReasonCode::DomainSuspended,
    ReasonCode::GlobalFreeze,
    ReasonCode::AgentRateLimit,
    ReasonCode::Overloaded,
];

/// Whether the proposal's agent has a rate limit at all (most have none, and skip counting).
pub(crate) fn applies(ctx: &Context, p: &Proposal) -> bool {
    ctx.roles
        .agents
        .get(&p.agent)
        .is_some_and(|r| r.max_proposals_per_minute.is_some())
}

/// Counts a new proposal against its agent's rate limit; the `deferred` answer if it is
/// over.
pub(crate) fn answer_if_over(
    rates: &mut AgentRates,
    ctx: &Context,
    p: &Proposal,
) -> Option<Decision> {
    let limit = ctx
        .roles
        .agents
        .get(&p.agent)
        .and_then(|r| r.max_proposals_per_minute);
    let over = rates.admit(&p.agent, limit, ctx.now).err()?;
    // By agent: only agents given a limit in their role can appear, so the labels are few.
    metrics::counter!("arbiter_rate_limited_total", "agent" => p.agent.clone()).increment(1);
    let detail = format!(
        "agent {} has had {} proposals admitted in the last minute, the most its role allows; \
         there is room again at {}",
        p.agent, over.limit, over.room_at
    );
    let reason = Reason::new(crate::contract::ReasonCode::AgentRateLimit)
        .field("max_proposals_per_minute")
        .numbers(f64::from(over.limit), f64::from(over.limit))
        .detail(detail.clone());
    Some(*engine::answer(
        ctx,
        p,
        Verdict::Deferred,
        reason,
        format!(
            "Agent {} has had {} proposals admitted in the last minute, the most its role \
             allows; it may send this again as a new proposal from {}",
            p.agent, over.limit, over.room_at
        ),
    ))
}

/// Whether a recorded first answer counted against its agent's limit when it was given:
/// everything the engine was asked about, not what was refused before it.
pub fn counts(d: &Decision) -> bool {
    d.verdict != Verdict::Invalid
        && !d
            .reasons
            .first()
            .is_some_and(|r| REFUSED_BEFORE_THE_ENGINE.contains(&r.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn admits_up_to_the_limit_per_sliding_minute() {
        let mut rates = AgentRates::default();
        let t0 = at("2026-11-27T10:00:00Z");
        assert!(rates.admit("a", Some(2), t0).is_ok());
        assert!(rates.admit("a", Some(2), t0.plus_millis(10_000)).is_ok());
        let refused = rates
            .admit("a", Some(2), t0.plus_millis(20_000))
            .unwrap_err();
        assert_eq!(refused.limit, 2);
        assert_eq!(refused.room_at, t0.plus_millis(WINDOW_MS));
        // Another agent, or one without a limit, is not affected.
        assert!(rates.admit("b", Some(2), t0.plus_millis(20_000)).is_ok());
        assert!(rates.admit("c", None, t0.plus_millis(20_000)).is_ok());
        // One minute after the first, there is room for exactly one more.
        assert!(rates.admit("a", Some(2), t0.plus_millis(WINDOW_MS)).is_ok());
        assert!(rates
            .admit("a", Some(2), t0.plus_millis(WINDOW_MS))
            .is_err());
    }

    #[test]
    fn refused_proposals_do_not_use_up_the_limit() {
        let mut rates = AgentRates::default();
        let t0 = at("2026-11-27T10:00:00Z");
        assert!(rates.admit("a", Some(1), t0).is_ok());
        for s in 1..50 {
            assert!(rates.admit("a", Some(1), t0.plus_millis(s * 1000)).is_err());
        }
        // A runaway agent that keeps sending is still let through once a minute.
        assert!(rates.admit("a", Some(1), t0.plus_millis(WINDOW_MS)).is_ok());
    }

    #[test]
    fn a_lowered_limit_applies_at_once() {
        let mut rates = AgentRates::default();
        let t0 = at("2026-11-27T10:00:00Z");
        for s in 0..5 {
            assert!(rates.admit("a", Some(10), t0.plus_millis(s * 1000)).is_ok());
        }
        assert!(rates.admit("a", Some(3), t0.plus_millis(6_000)).is_err());
    }
}
