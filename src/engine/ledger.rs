//! Decisions already given, by (agent, id): the idempotency memory that makes a replayed
//! proposal get the same decision, never a second one.
//!
//! A decision is kept while its proposal can still be sent again usefully: until an hour
//! after the proposal expired (a resend after that is answered `expired`). So the memory it
//! takes is bounded by the rate of proposals times their lifetime, not by the service's age.
//!
//! Where the decisions are also written to an audit trail, the ledger keeps of each only what
//! tells a resend from a new proposal and where its record is (a few dozen bytes instead of
//! the whole decision, a couple of kilobytes), and reads the decision back from the trail
//! when a resend needs it, through the [`Recall`] the service gives it. Once the trail has
//! indexed the segment a decision is in, the ledger lets go of it altogether and asks the
//! index ([`Recall::find`]): its memory is then bounded by the size of a segment, not by
//! the rate of proposals times their lifetime. Without a trail (the simulator, `arbiter
//! decide`), whole decisions are kept.

use crate::contract::ProposalKey as Key;
use crate::contract::{Decision, Timestamp, Verdict};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// How long after its proposal expired a decision is still remembered.
pub const GRACE_MS: i64 = 3600 * 1000;

/// Reads recorded decisions back from where they were written.
pub trait Recall: Send + Sync {
    /// The decision recorded as record `seq`, starting at `at` in its file (a position the
    /// trail gave when it was written), with its audit reference.
    fn recall(&self, seq: u64, at: u64) -> Result<Decision, String>;

    /// The latest decision on (agent, id) recorded before record `before_seq` among the
    /// records the trail has indexed (those the ledger was told to let go of by
    /// [`Ledger::indexed`]), unless it may be forgotten by `now_ms`.
    fn find(&self, agent: &str, id: &str, before_seq: u64, now_ms: i64) -> Option<Recorded>;
}

/// Where a decision is recorded, and what it said.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub verdict: Verdict,
    pub decided_at: Timestamp,
    pub seq: u64,
    /// Where the record starts in its file.
    pub at: u64,
}

impl Recorded {
    /// The decision recorded here, read back through `recall`. One that cannot be read back
    /// (the trail moved, a segment archived or deleted) is told from the verdict given, its
    /// record's number and why the rest is missing: whoever asks still learns the answer.
    pub fn read_back(&self, recall: Option<&dyn Recall>, agent: &str, id: &str) -> Decision {
        let read = recall.map_or_else(
            || Err("no audit trail to read".into()),
            |r| r.recall(self.seq, self.at),
        );
        read.unwrap_or_else(|why| {
            let mut d = Decision::blank(id.into(), agent.into(), self.verdict, self.decided_at);
            d.explanation = format!(
                "{}: already decided (audit record {}); the record could not be read back: {why}",
                self.verdict.as_str(),
                self.seq
            );
            d
        })
    }
}

/// What is remembered of one decision.
#[derive(Clone, Debug)]
enum Kept {
    Whole(Arc<Decision>),
    Recorded(Recorded),
}

#[derive(Clone, Default)]
pub struct Ledger {
    decided: HashMap<Key, Kept>,
    /// When each remembered decision may be forgotten, soonest first.
    forget_at: BinaryHeap<Reverse<(Timestamp, Key)>>,
    recall: Option<Arc<dyn Recall>>,
    /// The latest `now` given to [`Ledger::forget_expired`], in ms: what indexed decisions
    /// are checked against.
    now_ms: i64,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("decided", &self.decided.len())
            .field("recall", &self.recall.is_some())
            .finish()
    }
}

impl Ledger {
    /// A ledger that keeps recorded decisions compactly and reads them back through `recall`.
    pub fn recalling(recall: Arc<dyn Recall>) -> Ledger {
        Ledger {
            recall: Some(recall),
            ..Ledger::default()
        }
    }

    /// Whether this proposal already has its answer.
    pub fn knows(&self, agent: &str, id: &str) -> bool {
        self.decided.contains_key(&Key::of(agent, id))
            || self
                .recall
                .as_ref()
                .is_some_and(|r| r.find(agent, id, u64::MAX, self.now_ms).is_some())
    }

    /// Whether this proposal was answered by a record before record `seq` (a restart
    /// reading the trail asks of each decision whether it was the first).
    pub fn answered_before(&self, agent: &str, id: &str, seq: u64) -> bool {
        match self.decided.get(&Key::of(agent, id)) {
            Some(Kept::Recorded(r)) if r.seq >= seq => {}
            Some(_) => return true,
            None => {}
        }
        self.recall
            .as_ref()
            .is_some_and(|r| r.find(agent, id, seq, self.now_ms).is_some())
    }

    /// What is remembered of this proposal's answer, in memory or in the trail's index.
    fn kept(&self, agent: &str, id: &str) -> Option<Kept> {
        if let Some(k) = self.decided.get(&Key::of(agent, id)) {
            return Some(k.clone());
        }
        let found = self
            .recall
            .as_ref()?
            .find(agent, id, u64::MAX, self.now_ms)?;
        Some(Kept::Recorded(found))
    }

    /// Where the answer to this proposal is recorded (seq, and where the record starts in
    /// its file), while it is held in memory.
    pub fn position(&self, agent: &str, id: &str) -> Option<(u64, u64)> {
        match self.decided.get(&Key::of(agent, id))? {
            Kept::Recorded(r) => Some((r.seq, r.at)),
            Kept::Whole(_) => None,
        }
    }

    /// The trail has indexed its records up to `last_seq`: decisions recorded there are
    /// found through [`Recall::find`] from now on, and let go of here.
    pub fn indexed(&mut self, last_seq: u64) {
        self.decided
            .retain(|_, k| !matches!(k, Kept::Recorded(r) if r.seq <= last_seq));
        let decided = &self.decided;
        self.forget_at
            .retain(|Reverse((_, key))| decided.contains_key(key));
    }

    /// The answer already given to this proposal, read back from the trail if that is where
    /// it is kept. A record that cannot be read back (the trail moved, a segment archived)
    /// still answers with the verdict given, its record's number, and why the rest is
    /// missing: a resend never gets a second decision.
    pub fn recall(&self, agent: &str, id: &str) -> Option<Decision> {
        match self.kept(agent, id)? {
            Kept::Whole(d) => Some((*d).clone()),
            Kept::Recorded(r) => Some(r.read_back(self.recall.as_deref(), agent, id)),
        }
    }

    /// Records final answers, kept until [`Ledger::forget_expired`] says otherwise; `invalid`
    /// ones are not kept (they were never accepted, and their identity may be forged or
    /// missing).
    pub fn record(&mut self, d: &Decision) {
        if d.verdict != Verdict::Invalid {
            let key = Key::of(&d.agent, &d.proposal_id);
            self.decided.insert(key, Kept::Whole(Arc::new(d.clone())));
        }
    }

    /// Records a decision on a proposal that expires at `expires_at`.
    pub fn record_until(&mut self, d: &Decision, expires_at: Timestamp) {
        if d.verdict != Verdict::Invalid {
            let key = Key::of(&d.agent, &d.proposal_id);
            self.decided.insert(key, Kept::Whole(Arc::new(d.clone())));
            self.forget_after(key, expires_at);
        }
    }

    fn forget_after(&mut self, key: Key, expires_at: Timestamp) {
        self.forget_at
            .push(Reverse((expires_at.plus_millis(GRACE_MS), key)));
    }

    /// Remembers a decision read back from the trail at `at` (a restart), compactly when the
    /// ledger can recall it; `expires_at` as in [`Ledger::record_until`], `None` for good.
    pub fn remember_recorded(&mut self, d: &Decision, expires_at: Option<Timestamp>, at: u64) {
        if d.verdict == Verdict::Invalid {
            return;
        }
        let kept = match (&self.recall, &d.audit) {
            (Some(_), Some(a)) => Kept::Recorded(Recorded {
                verdict: d.verdict,
                decided_at: d.decided_at,
                seq: a.seq,
                at,
            }),
            _ => Kept::Whole(Arc::new(d.clone())),
        };
        let key = Key::of(&d.agent, &d.proposal_id);
        self.decided.insert(key, kept);
        if let Some(e) = expires_at {
            self.forget_after(key, e);
        }
    }

    /// Records `d`, now carrying its audit reference and recorded at `at` in the trail.
    /// With a recall, the ledger keeps only where the record is, and returns `None`;
    /// otherwise it keeps the whole decision and returns it as a shared value for others to
    /// keep (the dashboard's feed) without copying it again. `None` too for an `invalid`
    /// one, which is not kept.
    pub fn set_audit(&mut self, d: &Decision, at: Option<u64>) -> Option<Arc<Decision>> {
        if d.verdict == Verdict::Invalid {
            return None;
        }
        let key = Key::of(&d.agent, &d.proposal_id);
        if let (Some(_), Some(at), Some(a)) = (&self.recall, at, &d.audit) {
            let recorded = Recorded {
                verdict: d.verdict,
                decided_at: d.decided_at,
                seq: a.seq,
                at,
            };
            self.decided.insert(key, Kept::Recorded(recorded));
            return None;
        }
        let same = |kept: &Decision| kept.verdict == d.verdict && kept.decided_at == d.decided_at;
        let mut shared = match self.decided.remove(&key) {
            Some(Kept::Whole(kept)) if same(&kept) => kept,
            _ => Arc::new(d.clone()),
        };
        Arc::make_mut(&mut shared).audit = d.audit.clone();
        self.decided.insert(key, Kept::Whole(shared.clone()));
        Some(shared)
    }

    /// Forgets decisions whose proposals expired more than [`GRACE_MS`] before `now`.
    pub fn forget_expired(&mut self, now: Timestamp) {
        self.now_ms = self.now_ms.max(now.millis());
        while let Some(Reverse((at, _))) = self.forget_at.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, key)) = self.forget_at.pop().expect("peeked");
            self.decided.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.decided.len()
    }

    pub fn is_empty(&self) -> bool {
        self.decided.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::AuditRef;

    struct Trail(HashMap<u64, Decision>);

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_datetime(chrono::DateTime::from_timestamp_millis(ms).unwrap())
    }

    impl Recall for Trail {
        fn recall(&self, _seq: u64, at: u64) -> Result<Decision, String> {
            self.0
                .get(&at)
                .cloned()
                .ok_or_else(|| format!("nothing at {at}"))
        }

        fn find(&self, _agent: &str, _id: &str, _before: u64, _now_ms: i64) -> Option<Recorded> {
            None
        }
    }

    fn decided(id: &str, seq: u64) -> Decision {
        let mut d = Decision::blank(id.into(), "a".into(), Verdict::Approved, t(5));
        d.explanation = "the whole explanation".into();
        d.audit = Some(AuditRef {
            seq,
            hash: format!("h{seq}"),
            prev: "p".into(),
        });
        d
    }

    #[test]
    fn a_recorded_decision_is_kept_compactly_and_read_back_whole() {
        let d = decided("p1", 7);
        let mut l = Ledger::recalling(Arc::new(Trail(HashMap::from([(700, d.clone())]))));
        let mut undecided = d.clone();
        undecided.audit = None;
        l.record_until(&undecided, t(10));
        assert!(l.set_audit(&d, Some(700)).is_none(), "no whole copy kept");
        assert!(matches!(
            l.decided.values().next(),
            Some(Kept::Recorded(Recorded {
                seq: 7,
                at: 700,
                ..
            }))
        ));
        assert!(l.knows("a", "p1"));
        assert_eq!(l.recall("a", "p1"), Some(d));
        assert_eq!(l.recall("a", "p2"), None);
    }

    #[test]
    fn an_unreadable_record_still_answers_with_the_verdict_given() {
        let mut l = Ledger::recalling(Arc::new(Trail(HashMap::new())));
        l.remember_recorded(&decided("p1", 3), None, 42);
        let d = l.recall("a", "p1").unwrap();
        assert_eq!(d.verdict, Verdict::Approved);
        assert!(
            d.explanation.contains("audit record 3") && d.explanation.contains("nothing at 42"),
            "{}",
            d.explanation
        );
    }

    #[test]
    fn keys_tell_apart_names_that_read_alike_run_together() {
        let mut l = Ledger::default();
        l.record(&decided("bc", 1));
        assert!(l.knows("a", "bc") && !l.knows("ab", "c") && !l.knows("a", "b"));
    }

    #[test]
    fn without_a_trail_whole_decisions_are_kept_and_forgotten_in_time() {
        let mut l = Ledger::default();
        let d = decided("p1", 1);
        l.record_until(&d, t(10));
        let shared = l.set_audit(&d, Some(9)).expect("kept whole");
        assert_eq!(*shared, d);
        assert_eq!(l.recall("a", "p1"), Some(d));
        l.forget_expired(t(10 + GRACE_MS));
        assert!(!l.knows("a", "p1"));
    }
}
