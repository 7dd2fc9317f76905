//! Decisions already given, by (agent, id): the idempotency memory that makes a replayed
//! proposal get the same decision, never a second one.
//!
//! A decision is kept while its proposal can still be sent again usefully: until an hour
//! after the proposal expired (a resend after that is answered `expired`). So the memory it
//! takes is bounded by the rate of proposals times their lifetime, not by the service's age.

use crate::contract::{Decision, Timestamp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// How long after its proposal expired a decision is still remembered.
pub const GRACE_MS: i64 = 3600 * 1000;

#[derive(Clone, Debug, Default)]
pub struct Ledger {
    decided: HashMap<(String, String), Arc<Decision>>,
    /// When each remembered decision may be forgotten, soonest first.
    forget_at: BinaryHeap<Reverse<(Timestamp, String, String)>>,
}

impl Ledger {
    pub fn get(&self, agent: &str, id: &str) -> Option<&Decision> {
        self.decided
            .get(&(agent.to_string(), id.to_string()))
            .map(|d| &**d)
    }

    /// Records final answers, kept until [`Ledger::forget_expired`] says otherwise; `invalid`
    /// ones are not kept (they were never accepted, and their identity may be forged or
    /// missing).
    pub fn record(&mut self, d: &Decision) {
        if d.verdict != crate::contract::Verdict::Invalid {
            self.decided.insert(
                (d.agent.clone(), d.proposal_id.clone()),
                Arc::new(d.clone()),
            );
        }
    }

    /// Records a decision on a proposal that expires at `expires_at`.
    pub fn record_until(&mut self, d: &Decision, expires_at: Timestamp) {
        if d.verdict != crate::contract::Verdict::Invalid {
            self.record(d);
            self.forget_at.push(Reverse((
                expires_at.plus_millis(GRACE_MS),
                d.agent.clone(),
                d.proposal_id.clone(),
            )));
        }
    }

    /// Records `d`, now carrying its audit reference: in place when it is the decision
    /// already remembered (the usual case, and no copy), replacing it otherwise (a final
    /// answer after an escalation). Returns the decision as kept, for others to share
    /// (`None` for an `invalid` one, which is not kept).
    pub fn set_audit(&mut self, d: &Decision) -> Option<Arc<Decision>> {
        let key = (d.agent.clone(), d.proposal_id.clone());
        if let Some(kept) = self.decided.get_mut(&key) {
            if kept.verdict == d.verdict && kept.decided_at == d.decided_at {
                Arc::make_mut(kept).audit = d.audit.clone();
                return Some(kept.clone());
            }
        }
        self.record(d);
        self.decided.get(&key).cloned()
    }

    /// Forgets decisions whose proposals expired more than [`GRACE_MS`] before `now`.
    pub fn forget_expired(&mut self, now: Timestamp) {
        while let Some(Reverse((at, _, _))) = self.forget_at.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, agent, id)) = self.forget_at.pop().expect("peeked");
            self.decided.remove(&(agent, id));
        }
    }

    pub fn len(&self) -> usize {
        self.decided.len()
    }

    pub fn is_empty(&self) -> bool {
        self.decided.is_empty()
    }
}
