//! Decisions already given, by (agent, id): the idempotency memory that makes a replayed
//! proposal get the same decision, never a second one.

use crate::contract::Decision;
use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct Ledger {
    decided: HashMap<(String, String), Decision>,
}

impl Ledger {
    pub fn get(&self, agent: &str, id: &str) -> Option<&Decision> {
        self.decided.get(&(agent.to_string(), id.to_string()))
    }

    /// Records final answers; `invalid` ones are not kept (they were never accepted, and their
    /// identity may be forged or missing).
    pub fn record(&mut self, d: &Decision) {
        if d.verdict != crate::contract::Verdict::Invalid {
            self.decided
                .insert((d.agent.clone(), d.proposal_id.clone()), d.clone());
        }
    }

    pub fn len(&self) -> usize {
        self.decided.len()
    }

    pub fn is_empty(&self) -> bool {
        self.decided.is_empty()
    }
}
