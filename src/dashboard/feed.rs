//! The recent decisions the dashboard's feed pages through: a bounded ring, newest last, each
//! decision with the fields people filter by (which the decision itself does not carry: the
//! domain, target service and kind are the proposal's).
//!
//! Bounded so a busy service's memory does not grow with its history; older decisions stay
//! in the audit trail, where `arbiter audit show` and the feed's detail view read them.

use crate::contract::Decision;
use std::collections::VecDeque;
use std::sync::Arc;

/// Decisions kept for the feed by default.
pub const FEED_CAPACITY: usize = 20_000;

/// Most entries one page returns.
pub const MAX_PAGE: usize = 500;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FeedEntry {
    /// Position in the feed since the service started: pages and live updates refer to it.
    pub seq: u64,
    pub domain: String,
    pub service: String,
    pub kind: String,
    pub decision: Arc<Decision>,
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
            && (self.agent.is_empty() || e.decision.agent == self.agent)
            && (self.service.is_empty() || e.service == self.service)
            && (self.verdict.is_empty() || e.decision.verdict.as_str() == self.verdict)
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

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DecisionFeed {
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

    /// Adds a decision; the oldest entry goes when the feed is full.
    pub fn push(&mut self, about: About, decision: Arc<Decision>) -> u64 {
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
            decision,
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
            .find(|e| e.decision.agent == agent && e.decision.proposal_id == proposal_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Verdict;

    fn decision(agent: &str, id: &str, verdict: Verdict) -> Arc<Decision> {
        Arc::new(Decision::sample(agent, id, verdict))
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
            f.push(
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
        f.push(
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
}
