//! The escalations waiting for a person, by their proposal's key.
//!
//! Where the audit trail holds the escalated decision, the queue keeps of each only its
//! deadline and where its record is (a few dozen bytes instead of the proposal and the
//! decision, a few kilobytes), and reads them back when a person answers, when it expires or
//! when the queue is listed: at thousands of escalations a minute and a quarter of an hour
//! to answer each, the queue would otherwise be most of the service's memory and of every
//! checkpoint. Keyed by the proposal's 128-bit key rather than its `agent/id` text, an
//! entry has the same size whatever the names' length.

use super::{ApprovalError, Approver, Pending};
use crate::contract::{Decision, ProposalKey, Reason, ReasonCode, Timestamp, Verdict};
use crate::intent::Roles;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Reads an escalated decision and its proposal back from where they were recorded.
pub trait ReadBack: Send + Sync {
    fn pending(&self, seq: u64, at: u64) -> Result<(crate::contract::Proposal, Decision), String>;
}

/// One escalation waiting.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    Whole(Box<Pending>),
    /// Recorded as audit record `seq`, starting at `at` in its file.
    Recorded {
        deadline: Timestamp,
        decided_at: Timestamp,
        seq: u64,
        at: u64,
    },
}

impl Waiting {
    pub fn deadline(&self) -> Timestamp {
        match self {
            Waiting::Whole(p) => p.deadline,
            Waiting::Recorded { deadline, .. } => *deadline,
        }
    }

    pub fn decided_at(&self) -> Timestamp {
        match self {
            Waiting::Whole(p) => p.decision.decided_at,
            Waiting::Recorded { decided_at, .. } => *decided_at,
        }
    }

    pub fn set_deadline(&mut self, to: Timestamp) {
        match self {
            Waiting::Whole(p) => p.deadline = to,
            Waiting::Recorded { deadline, .. } => *deadline = to,
        }
    }
}

#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Escalations {
    pending: BTreeMap<ProposalKey, Waiting>,
    #[serde(skip)]
    reader: Option<Arc<dyn ReadBack>>,
}

impl std::fmt::Debug for Escalations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Escalations")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Escalations {
    /// Reads recorded escalations back through `reader`.
    pub fn reading(mut self, reader: Arc<dyn ReadBack>) -> Escalations {
        self.reader = Some(reader);
        self
    }

    /// Takes the reader `other` has (a queue read from a checkpoint has none of its own).
    pub fn keep_reader(&mut self, other: Escalations) {
        if other.reader.is_some() {
            self.reader = other.reader;
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn hold(&mut self, pending: Pending) {
        let key = pending.proposal.filed_as();
        self.pending.insert(key, Waiting::Whole(Box::new(pending)));
    }

    /// Holds an escalation whose decision is audit record `seq` at `at`.
    pub fn hold_recorded(&mut self, p: &Pending, seq: u64, at: u64) {
        let key = p.proposal.filed_as();
        let waiting = match self.reader {
            Some(_) => Waiting::Recorded {
                deadline: p.deadline,
                decided_at: p.decision.decided_at,
                seq,
                at,
            },
            None => Waiting::Whole(Box::new(p.clone())),
        };
        self.pending.insert(key, waiting);
    }

    /// The escalation waiting under `key`, whole (read back if need be). One that cannot be
    /// read back is reported and left waiting: it expires in time like the others.
    pub fn get(&self, key: ProposalKey) -> Option<Result<Pending, String>> {
        Some(self.whole(self.pending.get(&key)?))
    }

    /// Whether the proposal `key` names waits for a person.
    pub fn holds(&self, key: ProposalKey) -> bool {
        self.pending.contains_key(&key)
    }

    /// The proposal no longer waits (it was answered, or decided again, elsewhere).
    pub fn remove(&mut self, agent: &str, id: &str) {
        self.pending.remove(&ProposalKey::of(agent, id));
    }

    /// Every escalation's deadline, re-set from when it was raised.
    pub fn redate(&mut self, deadline: impl Fn(Timestamp) -> Timestamp) {
        for w in self.pending.values_mut() {
            w.set_deadline(deadline(w.decided_at()));
        }
    }

    /// The keys of every escalation waiting.
    pub fn keys(&self) -> impl Iterator<Item = ProposalKey> + '_ {
        self.pending.keys().copied()
    }

    fn whole(&self, w: &Waiting) -> Result<Pending, String> {
        match w {
            Waiting::Whole(p) => Ok((**p).clone()),
            Waiting::Recorded {
                deadline, seq, at, ..
            } => {
                let reader = self.reader.as_ref().ok_or("no audit trail to read")?;
                let (proposal, decision) = reader.pending(*seq, *at)?;
                Ok(Pending {
                    proposal,
                    decision,
                    deadline: *deadline,
                })
            }
        }
    }

    /// The escalation under `key`, if it waits as a record, is read back from record `seq`
    /// at `at` from now on (it was written again there).
    pub fn moved(&mut self, key: ProposalKey, to_seq: u64, to_at: u64) {
        if let Some(Waiting::Recorded { seq, at, .. }) = self.pending.get_mut(&key) {
            (*seq, *at) = (to_seq, to_at);
        }
    }

    /// The escalations read back from records before `seq`, as a queue of their own that
    /// reads back as this one does: taken under the lock, read back after it.
    pub fn recorded_before(&self, seq: u64) -> Escalations {
        Escalations {
            pending: self
                .pending
                .iter()
                .filter(|(_, w)| matches!(w, Waiting::Recorded { seq: s, .. } if *s < seq))
                .map(|(k, w)| (*k, w.clone()))
                .collect(),
            reader: self.reader.clone(),
        }
    }

    /// The oldest audit record an escalation waiting is read back from: the trail must keep
    /// it until the escalation is answered or expires.
    pub fn oldest_record(&self) -> Option<u64> {
        self.pending
            .values()
            .filter_map(|w| match w {
                Waiting::Recorded { seq, .. } => Some(*seq),
                Waiting::Whole(_) => None,
            })
            .min()
    }

    /// The `limit` escalations soonest to expire, as a queue of their own that reads back
    /// as this one does: taken under the lock, read back after it.
    pub fn soonest_part(&self, limit: usize) -> Escalations {
        Escalations {
            pending: self
                .by_deadline()
                .into_iter()
                .take(limit)
                .map(|(k, w)| (*k, w.clone()))
                .collect(),
            reader: self.reader.clone(),
        }
    }

    /// Every escalation waiting, whole, the soonest to expire first; those that cannot be
    /// read back are left out with a warning.
    pub fn all(&self) -> Vec<Pending> {
        self.by_deadline()
            .into_iter()
            .filter_map(|(k, w)| match self.whole(w) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(key = %k, "escalation not read back: {e}");
                    None
                }
            })
            .collect()
    }

    /// Soonest deadline first, then by key: an order that does not depend on the map's.
    fn by_deadline(&self) -> Vec<(&ProposalKey, &Waiting)> {
        let mut order: Vec<(&ProposalKey, &Waiting)> = self.pending.iter().collect();
        order.sort_by(|a, b| (a.1.deadline(), a.0).cmp(&(b.1.deadline(), b.0)));
        order
    }

    /// A person's answer: the final decision, removed from the queue.
    pub fn answer(
        &mut self,
        roles: &Roles,
        approver: &Approver,
        (agent, id): (&str, &str),
        approve: bool,
        comment: &str,
        now: Timestamp,
    ) -> Result<(Pending, Decision), ApprovalError> {
        if comment.len() > super::MAX_COMMENT_BYTES {
            return Err(ApprovalError::CommentTooLong(comment.len()));
        }
        let p = match self.get(ProposalKey::of(agent, id)) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                tracing::warn!(agent, id, "escalation not read back: {e}");
                return Err(ApprovalError::NotPending(format!("{agent}/{id}")));
            }
            None => return Err(ApprovalError::NotPending(format!("{agent}/{id}"))),
        };
        if !approver.domains.contains(&p.proposal.domain) {
            return Err(ApprovalError::Domain {
                approver: approver.name.clone(),
                domain: p.proposal.domain.as_str().into(),
            });
        }
        let operates = roles
            .agents
            .get(&p.proposal.agent)
            .is_some_and(|r| r.operators.contains(&approver.name));
        if operates {
            return Err(ApprovalError::OwnAgent {
                approver: approver.name.clone(),
                agent: p.proposal.agent.clone(),
            });
        }
        self.remove(agent, id);
        let (verdict, code, word) = if approve {
            (Verdict::Approved, ReasonCode::HumanApproved, "Approved")
        } else {
            (Verdict::Rejected, ReasonCode::HumanDenied, "Denied")
        };
        let mut d = p.decision.clone();
        d.verdict = verdict;
        d.reasons = vec![Reason::new(code).by(&approver.name).detail(comment)];
        // What the approval grants beyond the change itself stays on the record of the
        // answer, where a restart reads it back (`grants.rs`).
        if approve {
            d.reasons.extend(
                p.decision
                    .reasons
                    .iter()
                    .filter(|r| r.code == crate::grants::OVERSPEND_ASKED)
                    .cloned(),
            );
        }
        d.explanation = format!(
            "{word} by {} after escalation{}. The arbiter had said: {}",
            approver.name,
            if comment.is_empty() {
                String::new()
            } else {
                format!(" (\"{comment}\")")
            },
            p.decision.explanation
        );
        d.decided_at = now;
        d.audit = None;
        d.recommendation = None;
        Ok((p, d))
    }

    /// Escalations nobody answered in time, at most `limit` of them: their final decisions.
    /// One that cannot be read back is dropped from the queue with a warning (its record
    /// says it was escalated; it cannot be answered).
    pub fn expire(&mut self, now: Timestamp, limit: usize) -> Vec<(Pending, Decision)> {
        let late: Vec<ProposalKey> = self
            .pending
            .iter()
            .filter(|(_, w)| w.deadline() <= now)
            .map(|(k, _)| *k)
            .take(limit)
            .collect();
        let mut out = Vec::with_capacity(late.len());
        for k in late {
            let Some(w) = self.pending.remove(&k) else {
                continue;
            };
            let p = match self.whole(&w) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(key = %k, "expired escalation not read back: {e}");
                    continue;
                }
            };
            let mut d = p.decision.clone();
            d.verdict = Verdict::Expired;
            d.reasons = vec![Reason::new(ReasonCode::EscalationTimeout)
                .detail(format!("no answer by {}", p.deadline))
                .clause("escalation.timeout_s")];
            d.explanation = format!(
                "Expired: nobody answered the escalation by {}, so the change does not happen. The arbiter had said: {}",
                p.deadline, p.decision.explanation
            );
            d.decided_at = now;
            d.audit = None;
            d.recommendation = None;
            out.push((p, d));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Domain;

    struct Trail(std::collections::HashMap<u64, Pending>);

    impl ReadBack for Trail {
        fn pending(
            &self,
            seq: u64,
            _at: u64,
        ) -> Result<(crate::contract::Proposal, Decision), String> {
            let p = self.0.get(&seq).ok_or(format!("no record {seq}"))?;
            Ok((p.proposal.clone(), p.decision.clone()))
        }
    }

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn pending(id: &str) -> Pending {
        let mut proposal: crate::contract::Proposal = serde_json::from_value(serde_json::json!({
            "v": 1, "id": id, "agent": "cost-1", "domain": "cost",
            "action": {"kind": "scale", "service": "cart", "replicas": 1},
            "confidence": 0.9, "reversible": true, "rationale": "idle",
            "created_at": "2026-11-27T10:00:00Z", "expires_at": "2026-11-27T11:00:00Z"
        }))
        .unwrap();
        proposal.id = id.into();
        let mut decision = Decision::blank(
            id.into(),
            "cost-1".into(),
            Verdict::Escalated,
            t("2026-11-27T10:00:00Z"),
        );
        decision.explanation = "needs a person".into();
        Pending {
            proposal,
            decision,
            deadline: t("2026-11-27T10:15:00Z"),
        }
    }

    #[test]
    fn a_recorded_escalation_is_kept_small_and_read_back_to_answer_or_expire() {
        let (a, b) = (pending("a"), pending("b"));
        let trail = Trail([(7, a.clone()), (9, b.clone())].into());
        let mut q = Escalations::default().reading(Arc::new(trail));
        q.hold_recorded(&a, 7, 700);
        q.hold_recorded(&b, 9, 900);
        q.hold_recorded(&pending("lost"), 11, 1100);
        assert!(matches!(
            q.pending[&ProposalKey::of("cost-1", "a")],
            Waiting::Recorded { seq: 7, .. }
        ));
        assert_eq!(q.get(ProposalKey::of("cost-1", "a")), Some(Ok(a.clone())));
        assert_eq!(
            q.all().len(),
            2,
            "the unreadable one is left out of the listing"
        );

        let approver = Approver {
            name: "finops".into(),
            domains: vec![Domain::Cost],
        };
        let roles = Roles::default();
        let now = t("2026-11-27T10:05:00Z");
        let (answered, d) = q
            .answer(&roles, &approver, ("cost-1", "a"), true, "ok", now)
            .unwrap();
        assert_eq!(answered, a);
        assert_eq!((d.verdict, d.decided_at), (Verdict::Approved, now));
        assert!(!q.holds(ProposalKey::of("cost-1", "a")));

        let expired = q.expire(t("2026-11-27T10:15:00Z"), 10);
        assert_eq!(expired.len(), 1, "b expires; the unreadable one is dropped");
        assert_eq!(expired[0].1.verdict, Verdict::Expired);
        assert!(q.pending.is_empty());
    }

    #[test]
    fn a_listing_reads_back_only_the_soonest_to_expire_soonest_first() {
        let mut q = Escalations::default();
        for (id, minute) in [("late", 50), ("soon", 5), ("mid", 20)] {
            let mut p = pending(id);
            p.deadline = t(&format!("2026-11-27T10:{minute:02}:00Z"));
            q.hold(p);
        }
        let ids = |part: Escalations| -> Vec<String> {
            part.all().into_iter().map(|p| p.proposal.id).collect()
        };
        assert_eq!(ids(q.soonest_part(2)), ["soon", "mid"]);
        assert_eq!(ids(q.soonest_part(9)), ["soon", "mid", "late"]);
        assert_eq!(q.len(), 3, "listing takes nothing from the queue");
    }
}
