//! Message transport between agents and the arbiter, by subject (spec section 4).
//!
//! The in-process bus is the embedded default: the simulator and a single-process setup use
//! it, with the same subjects and the same JSON payloads as NATS, so what the coordinator sees
//! is the same either way.

pub mod nats;
mod subject;

pub use subject::{
    control_subject, decisions_subject, parse_proposal_subject, proposals_subject,
    proposals_subject_of, SubjectError, AUDIT, CONTROL_PREFIX, DECISIONS, OUTCOMES, PROPOSALS,
    PROPOSALS_PREFIX, TELEMETRY, TELEMETRY_PREFIX,
};

use std::collections::VecDeque;

/// One message on the bus: a subject and its payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub payload: Vec<u8>,
}

/// A FIFO of messages, drained by subject prefix. Deterministic: messages come out in the
/// order they went in.
#[derive(Clone, Debug, Default)]
pub struct InProcessBus {
    queue: VecDeque<Message>,
}

impl InProcessBus {
    pub fn publish(&mut self, subject: impl Into<String>, payload: Vec<u8>) {
        self.queue.push_back(Message {
            subject: subject.into(),
            payload,
        });
    }

    /// Removes and returns, in order, every message whose subject starts with `prefix`.
    pub fn drain(&mut self, prefix: &str) -> Vec<Message> {
        let (hit, keep): (VecDeque<Message>, VecDeque<Message>) = self
            .queue
            .drain(..)
            .partition(|m| m.subject.starts_with(prefix));
        self.queue = keep;
        hit.into()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_by_prefix_in_order() {
        let mut bus = InProcessBus::default();
        bus.publish("arbiter.proposals.cost.a", b"1".to_vec());
        bus.publish("arbiter.decisions.cost.a", b"2".to_vec());
        bus.publish("arbiter.proposals.security.b", b"3".to_vec());
        let got: Vec<Vec<u8>> = bus
            .drain("arbiter.proposals.")
            .into_iter()
            .map(|m| m.payload)
            .collect();
        assert_eq!(got, vec![b"1".to_vec(), b"3".to_vec()]);
        assert_eq!(bus.len(), 1);
    }
}
