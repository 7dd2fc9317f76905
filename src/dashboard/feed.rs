//! The recent decisions the dashboard's feed pages through: a bounded ring, newest last, each
//! decision with the fields people filter by (which the decision itself does not carry: the
//! domain, target service and kind are the proposal's).
//!
//! Bounded so a busy service's memory does not grow with its history; older decisions stay
//! in the audit trail, where `arbiter audit show` and the feed's detail view read them.
//!
//! Where decisions are written to an audit trail, an entry holds only what a page is cut by
//! and where its record is (a couple of hundred bytes), not the decision (a couple of
//! kilobytes with its explanation): the page's decisions are read back from the trail when
//! it is asked for. The service and the fold that checkpoints it each hold a feed, so whole
//! decisions would cost the service some 100 MB at the default capacity.

use crate::contract::{Decision, Timestamp, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// Decisions kept for the feed by default.
pub const FEED_CAPACITY: usize = 20_000;

/// Most entries one page returns.
pub const MAX_PAGE: usize = 500;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Position in the feed since the service started: pages and live updates refer to it.
    pub seq: u64,
    pub domain: String,
    pub service: String,
    pub kind: String,
    pub agent: String,
    pub proposal_id: String,
    pub verdict: Verdict,
    pub decided_at: Timestamp,
    pub held: Held,
}

/// Where an entry's whole decision is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// In the audit trail: record `seq`, whose line starts at byte `at` of its file.
    Recorded { seq: u64, at: u64 },
    /// Here: there is no trail to read it back from.
    Whole(Arc<Decision>),
}

/// An entry as checkpoints store it: as written now, or as earlier versions wrote it — the
/// whole decision, whose fields the entry takes. Anything else is refused, and with it the
/// checkpoint (a restart then reads an older one, or the trail).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Now(FeedEntry),
    Earlier {
        seq: u64,
        domain: String,
        service: String,
        kind: String,
        decision: Arc<Decision>,
    },
}

impl From<Stored> for FeedEntry {
    fn from(s: Stored) -> FeedEntry {
        match s {
            Stored::Now(entry) => entry,
            Stored::Earlier {
                seq,
                domain,
                service,
                kind,
                decision,
            } => FeedEntry {
                seq,
                domain,
                service,
                kind,
                agent: decision.agent.clone(),
                proposal_id: decision.proposal_id.clone(),
                verdict: decision.verdict,
                decided_at: decision.decided_at,
                held: Held::Whole(decision),
            },
        }
    }
}

/// The feed's entries in either stored form (see [`Stored`]).
fn stored_entries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<VecDeque<FeedEntry>, D::Error> {
    let stored = VecDeque::<Stored>::deserialize(d)?;
    Ok(stored.into_iter().map(FeedEntry::from).collect())
}

impl FeedEntry {
    /// The whole decision: the one held, or read back through `recall` (told from what the
    /// entry holds, with why, if it cannot be).
    pub fn decision(&self, recall: Option<&dyn crate::engine::Recall>) -> Decision {
        match &self.held {
            Held::Whole(d) => (**d).clone(),
            Held::Recorded { seq, at } => crate::engine::Recorded {
                verdict: self.verdict,
                decided_at: self.decided_at,
                seq: *seq,
                at: *at,
            }
            .read_back(recall, &self.agent, &self.proposal_id),
        }
    }
}

/// What a person filters the feed by; an empty field matches everything.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub verdict: String,
}

impl Filter {
    fn matches(&self, e: &FeedEntry) -> bool {
        (self.domain.is_empty() || e.domain == self.domain)
            && (self.agent.is_empty() || e.agent == self.agent)
            && (self.service.is_empty() || e.service == self.service)
            && (self.verdict.is_empty() || e.verdict.as_str() == self.verdict)
    }
}

/// One page of the feed, newest first.
#[derive(Debug)]
pub struct Page<'a> {
    pub entries: Vec<&'a FeedEntry>,
    /// Entries in the feed that match the filter, on this page or not.
    pub matching: usize,
    /// Pass as `before` for the next (older) page; `None`: this is the oldest.
    pub older: Option<u64>,
    /// The newest seq in the feed, matching or not: pass as `after` to ask for what is new.
    pub latest: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DecisionFeed {
    #[serde(deserialize_with = "stored_entries")]
    entries: VecDeque<FeedEntry>,
    capacity: usize,
    next_seq: u64,
}

impl Default for DecisionFeed {
    fn default() -> Self {
        DecisionFeed::with_capacity(FEED_CAPACITY)
    }
}

/// What a feed entry is filtered by beside the decision's own fields: the proposal's domain,
/// target service and action kind, as received (empty where a payload did not say).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct About {
    pub domain: String,
    pub service: String,
    pub kind: String,
}

impl About {
    /// Of a payload as received: from the proposal read from it, or, if it was not one, from
    /// whatever fields it has.
    pub fn received(
        p: Option<&crate::contract::Proposal>,
        payload: &crate::audit::Payload,
    ) -> About {
        match p {
            Some(p) => About {
                domain: p.domain.as_str().to_string(),
                service: p.action.service().to_string(),
                kind: p.action.kind().as_str().to_string(),
            },
            None => About::of(&payload.value()),
        }
    }

    /// From a payload as received, whatever arrived, even one that is not a proposal at all.
    pub fn of(proposal: &serde_json::Value) -> About {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
        About {
            domain: text(&proposal["domain"]),
            service: text(&proposal["action"]["service"]),
            kind: text(&proposal["action"]["kind"]),
        }
    }
}

impl DecisionFeed {
    pub fn with_capacity(capacity: usize) -> Self {
        DecisionFeed {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            next_seq: 1,
        }
    }

    /// Adds a decision, held as `held`; the oldest entry goes when the feed is full.
    pub fn push(&mut self, about: About, d: &Decision, held: Held) -> u64 {
        let About {
            domain,
            service,
            kind,
        } = about;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back(FeedEntry {
            seq,
            domain,
            service,
            kind,
            agent: d.agent.clone(),
            proposal_id: d.proposal_id.clone(),
            verdict: d.verdict,
            decided_at: d.decided_at,
            held,
        });
        seq
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn latest(&self) -> u64 {
        self.next_seq - 1
    }

    /// Up to `limit` matching entries older than `before` (all, when `None`), newest first.
    pub fn page(&self, filter: &Filter, before: Option<u64>, limit: usize) -> Page<'_> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut matching = 0;
        let mut entries = Vec::new();
        let mut more = false;
        for e in self.entries.iter().rev() {
            if !filter.matches(e) {
                continue;
            }
            matching += 1;
            if before.is_some_and(|b| e.seq >= b) {
                continue;
            }
            if entries.len() < limit {
                entries.push(e);
            } else {
                more = true;
            }
        }
        Page {
            older: if more {
                entries.last().map(|e| e.seq)
            } else {
                None
            },
            entries,
            matching,
            latest: self.latest(),
        }
    }

    /// Matching entries newer than `after`, newest first, at most `limit` (the newest ones).
    pub fn since(&self, filter: &Filter, after: u64, limit: usize) -> Page<'_> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut matching = 0;
        let mut entries = Vec::new();
        for e in self.entries.iter().rev() {
            if !filter.matches(e) {
                continue;
            }
            matching += 1;
            if e.seq > after && entries.len() < limit {
                entries.push(e);
            }
        }
        Page {
            entries,
            matching,
            older: None,
            latest: self.latest(),
        }
    }

    /// The latest decision on a proposal (after an escalation, the person's answer).
    pub fn find(&self, agent: &str, proposal_id: &str) -> Option<&FeedEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.agent == agent && e.proposal_id == proposal_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Verdict;

    fn decision(agent: &str, id: &str, verdict: Verdict) -> Decision {
        Decision::sample(agent, id, verdict)
    }

    fn push(f: &mut DecisionFeed, about: About, d: Decision) {
        f.push(about, &d, Held::Whole(Arc::new(d.clone())));
    }

    fn proposal(domain: &str, service: &str) -> serde_json::Value {
        serde_json::json!({"domain": domain, "action": {"kind": "scale", "service": service}})
    }

    fn filled(n: usize, capacity: usize) -> DecisionFeed {
        let mut f = DecisionFeed::with_capacity(capacity);
        for i in 0..n {
            let (domain, verdict) = if i % 3 == 0 {
                ("cost", Verdict::Rejected)
            } else {
                ("security", Verdict::Approved)
            };
            push(
                &mut f,
                About::of(&proposal(domain, "cartservice")),
                decision(&format!("{domain}-agent"), &format!("p{i}"), verdict),
            );
        }
        f
    }

    #[test]
    fn pages_walk_every_matching_entry_once_newest_first() {
        let f = filled(1000, 5000);
        let cost = Filter {
            domain: "cost".into(),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = f.page(&cost, before, 37);
            assert_eq!(page.matching, 334);
            seen.extend(page.entries.iter().map(|e| e.seq));
            match page.older {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        assert_eq!(seen.len(), 334);
        assert!(
            seen.windows(2).all(|w| w[0] > w[1]),
            "newest first, no repeats"
        );
        assert!(
            seen.iter().all(|s| (s - 1) % 3 == 0),
            "only the cost agent's"
        );
    }

    #[test]
    fn the_feed_forgets_its_oldest_when_full_and_reports_what_is_new() {
        let f = filled(250, 100);
        assert_eq!(f.len(), 100);
        let all = f.page(&Filter::default(), None, 500);
        assert_eq!(all.latest, 250);
        assert_eq!(all.entries.last().unwrap().seq, 151);
        let new = f.since(&Filter::default(), 245, 500);
        assert_eq!(
            new.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [250, 249, 248, 247, 246]
        );
        assert!(f.find("cost-agent", "p0").is_none(), "forgotten");
        assert_eq!(f.find("cost-agent", "p249").unwrap().seq, 250);
    }

    #[test]
    fn filters_combine_and_a_payload_that_is_no_proposal_still_has_an_entry() {
        let mut f = filled(30, 100);
        push(
            &mut f,
            About::of(&serde_json::json!("not json at all")),
            decision("x", "?", Verdict::Invalid),
        );
        let approved_security = Filter {
            domain: "security".into(),
            verdict: "approved".into(),
            service: "cartservice".into(),
            agent: "security-agent".into(),
        };
        assert_eq!(f.page(&approved_security, None, 10).matching, 20);
        let invalid = Filter {
            verdict: "invalid".into(),
            ..Default::default()
        };
        let page = f.page(&invalid, None, 10);
        assert_eq!(page.matching, 1);
        assert_eq!(page.entries[0].service, "");
    }

    /// Reads record 7 at byte 700 and nothing else.
    struct OneRecord(Decision);

    impl crate::engine::Recall for OneRecord {
        fn recall(&self, seq: u64, at: u64) -> Result<Decision, String> {
            if (seq, at) == (7, 700) {
                Ok(self.0.clone())
            } else {
                Err(format!("nothing at {at}"))
            }
        }
        fn find(&self, _: &str, _: &str, _: u64, _: i64) -> Option<crate::engine::Recorded> {
            None
        }
    }

    #[test]
    fn a_recorded_entry_reads_its_decision_back_or_says_why_it_cannot() {
        let mut whole = decision("cost-agent", "p1", Verdict::Rejected);
        whole.explanation = "the whole explanation".into();
        let mut f = DecisionFeed::default();
        f.push(About::default(), &whole, Held::Recorded { seq: 7, at: 700 });
        f.push(About::default(), &whole, Held::Recorded { seq: 7, at: 9 });
        let page = f.page(&Filter::default(), None, 10);
        let trail = OneRecord(whole.clone());
        assert_eq!(page.entries[1].decision(Some(&trail)), whole);
        let lost = page.entries[0].decision(Some(&trail));
        assert_eq!(
            (lost.verdict, lost.agent.as_str(), lost.proposal_id.as_str()),
            (Verdict::Rejected, "cost-agent", "p1")
        );
        assert!(
            lost.explanation.contains("audit record 7")
                && lost.explanation.contains("nothing at 9"),
            "{}",
            lost.explanation
        );
        assert!(page.entries[1]
            .decision(None)
            .explanation
            .contains("no audit trail"));
    }

    #[test]
    fn an_entry_round_trips_and_one_from_an_earlier_checkpoint_is_read_whole() {
        let d = decision("security-agent", "p9", Verdict::Approved);
        let mut f = DecisionFeed::default();
        f.push(About::default(), &d, Held::Recorded { seq: 3, at: 30 });
        let again: DecisionFeed =
            serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        let e = &again.page(&Filter::default(), None, 1).entries[0];
        assert_eq!(e.held, Held::Recorded { seq: 3, at: 30 });
        assert_eq!(
            (e.agent.as_str(), e.verdict),
            ("security-agent", Verdict::Approved)
        );

        let earlier = serde_json::json!({
            "entries": [{"seq": 4, "domain": "security", "service": "cart", "kind": "scale",
                         "decision": d}],
            "capacity": 10, "next_seq": 5,
        });
        let old: DecisionFeed = serde_json::from_value(earlier).unwrap();
        let e = old
            .find("security-agent", "p9")
            .expect("read from the decision");
        assert_eq!(
            (e.seq, e.verdict, e.decided_at),
            (4, Verdict::Approved, d.decided_at)
        );
        assert_eq!(e.decision(None), d);
    }
}
