//! Refusal memory: what the engine refused, deferred or sent to a person, by agent and
//! action, until asking again could change the answer.
//!
//! Agents retry. One that sends the same action again under a new id before its
//! `retry_after` (a retry loop, a restarted agent, one that ignores the field) is answered at
//! once, with the same verdict and the first answer named, and never reaches the engine: a
//! refusal is decided once however often it is asked, and a person is asked once about one
//! change. What could change the answer ends the memory: the time in `retry_after`, a
//! person's answer to the escalation, another intent or graph version, or the target service
//! becoming unhealthy, failing or overloaded (or recovering), or its load becoming measured. The memory is a bounded cache in
//! front of the engine, not evidence: a restarted service starts without it and decides the
//! first resend afresh.

use crate::contract::{Decision, Proposal, ProposalKey, Reason, Timestamp, Verdict};
use crate::engine::{self, Context};
use std::collections::HashMap;

/// At most this many answers are remembered: a sender inventing a new action every time
/// fills the memory, which then stops remembering until entries run out, and the engine
/// decides as it would without it.
pub const MAX_REMEMBERED: usize = 100_000;

/// What of the target service, if it changed, could change the answer: its health, whether
/// it fails requests or is overloaded, and whether its load is measured at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Situation {
    healthy: bool,
    failing: bool,
    overloaded: bool,
    load_known: bool,
}

impl Situation {
    pub fn of(ctx: &Context, service: usize) -> Situation {
        let st = &ctx.world.services[service];
        let per_replica = ctx.graph.service(service).capacity_rps_per_replica;
        Situation {
            healthy: st.healthy,
            failing: st.error_rate >= engine::FAILING_ERROR_RATE,
            overloaded: st.load_rps > st.capacity_rps(per_replica),
            load_known: st.load_known,
        }
    }
}

#[derive(Clone, Debug)]
struct Remembered {
    first_id: String,
    verdict: Verdict,
    decided_at: Timestamp,
    until: Timestamp,
    intent_version: Option<String>,
    graph_version: Option<String>,
    situation: Situation,
    reasons: Vec<Reason>,
}

#[derive(Clone, Debug, Default)]
pub struct RefusalMemory {
    /// By (agent, the action as JSON).
    answers: HashMap<(String, String), Remembered>,
    /// The escalations remembered, by their proposal: a person's answer ends them.
    escalated: HashMap<ProposalKey, (String, String)>,
    /// Resends answered from memory since start.
    pub answered: u64,
    swept_at: Option<Timestamp>,
}

fn action_key(p: &Proposal) -> (String, String) {
    let action = serde_json::to_string(&p.action).expect("an action serialises");
    (p.agent.clone(), action)
}

/// Whether an answer of this verdict is remembered.
fn remembered(v: Verdict) -> bool {
    matches!(
        v,
        Verdict::Rejected | Verdict::Deferred | Verdict::Escalated
    )
}

impl RefusalMemory {
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Remembers the engine's first answer `d` to `p` until `d.retry_after`, if it is a
    /// refusal, a deferral or an escalation that says when to ask again.
    pub fn remember(&mut self, ctx: &Context, p: &Proposal, d: &Decision) {
        let (Some(until), true) = (d.retry_after, remembered(d.verdict)) else {
            return;
        };
        let Some(service) = ctx.graph.index_of(p.action.service()) else {
            return;
        };
        if self.answers.len() >= MAX_REMEMBERED {
            self.forget_past(ctx.now);
            if self.answers.len() >= MAX_REMEMBERED {
                return;
            }
        }
        let key = action_key(p);
        if d.verdict == Verdict::Escalated {
            self.escalated.insert(p.filed_as(), key.clone());
        }
        self.answers.insert(
            key,
            Remembered {
                first_id: p.id.clone(),
                verdict: d.verdict,
                decided_at: d.decided_at,
                until,
                intent_version: d.intent.as_ref().map(|i| i.version.clone()),
                graph_version: d.graph_version.clone(),
                situation: Situation::of(ctx, service),
                reasons: d.reasons.clone(),
            },
        );
    }

    /// The answer to `p` from memory, if the same agent was answered about the same action
    /// and nothing that could change the answer has changed since.
    pub fn answer(&mut self, ctx: &Context, p: &Proposal) -> Option<Decision> {
        if self.answers.is_empty() {
            return None;
        }
        let key = action_key(p);
        let r = self.answers.get(&key)?;
        let service = ctx.graph.index_of(p.action.service())?;
        let same = r.until > ctx.now
            && r.intent_version.as_deref() == ctx.intent.map(|i| i.version.as_str())
            && r.graph_version.as_deref() == Some(ctx.graph.version())
            && r.situation == Situation::of(ctx, service);
        if !same {
            self.forget(&key);
            return None;
        }
        let first = format!("{}/{}", p.agent, r.first_id);
        let (verdict, because) = match r.verdict {
            Verdict::Escalated => (
                Verdict::Deferred,
                format!(
                    "The same change waits for a person as {first} (escalated {}); their answer applies to it, so it is not asked again",
                    r.decided_at
                ),
            ),
            v => (
                v,
                format!(
                    "The same action was answered {} as {first} at {}, and nothing that could change the answer has changed since",
                    v.as_str(),
                    r.decided_at
                ),
            ),
        };
        let mut reasons = vec![Reason::new("asked_before").detail(format!(
            "{first}, {}; ask again after {}",
            r.verdict.as_str(),
            r.until
        ))];
        if r.verdict != Verdict::Escalated {
            reasons.extend(r.reasons.iter().cloned());
        }
        let mut d = *engine::answer(ctx, p, verdict, reasons[0].clone(), because);
        d.reasons = reasons;
        d.retry_after = Some(r.until);
        self.answered += 1;
        metrics::counter!("arbiter_answered_from_memory_total").increment(1);
        Some(d)
    }

    /// A person answered the escalation of `p` (or nobody did in time): the change is no
    /// longer waiting, and the same action asked again is decided afresh.
    pub fn escalation_answered(&mut self, p: &Proposal) {
        if let Some(key) = self.escalated.remove(&p.filed_as()) {
            if self.answers.get(&key).is_some_and(|r| r.first_id == p.id) {
                self.answers.remove(&key);
            }
        }
    }

    fn forget(&mut self, key: &(String, String)) {
        if let Some(r) = self.answers.remove(key) {
            if r.verdict == Verdict::Escalated {
                self.escalated.remove(&ProposalKey::of(&key.0, &r.first_id));
            }
        }
    }

    /// Lets go of the answers whose `retry_after` has passed, at most once a minute (a
    /// stale entry meanwhile is found stale when asked).
    pub fn sweep(&mut self, now: Timestamp) {
        if self.swept_at.is_none_or(|t| t.plus_millis(60_000) <= now) {
            self.swept_at = Some(now);
            self.forget_past(now);
        }
    }

    fn forget_past(&mut self, now: Timestamp) {
        let past: Vec<(String, String)> = self
            .answers
            .iter()
            .filter(|(_, r)| r.until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in past {
            self.forget(&k);
        }
    }
}
