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

use crate::contract::{Decision, Proposal, ProposalKey, Reason, ReasonCode, Timestamp, Verdict};
use crate::engine::{self, Context};
use std::collections::HashMap;

/// At most this many answers are remembered: a sender inventing a new action every time
/// fills the memory, which then stops remembering until entries run out (looked for at most
/// once a minute, as a sweep: a full memory is never scanned per proposal), and the engine
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

/// (agent, the action as JSON) as 128 bits of SHA-256: what makes two proposals the same ask
/// (the refusal memory's key, and how the simulator counts a person's questions); an entry
/// costs the same whatever the action's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActionKey(u128);

impl ActionKey {
    pub fn of(p: &Proposal) -> ActionKey {
        let action = serde_json::to_string(&p.action).expect("an action serialises");
        ActionKey(crate::hash::first_128(&[
            p.agent.as_bytes(),
            &[0],
            action.as_bytes(),
        ]))
    }
}

/// What is kept of one answer: enough to tell whether it still holds, to name it, and its
/// reasons' codes (their details are in the first answer, which a resend's answer names), so
/// an entry is a 16-byte key, a few fields and the codes rather than a kilobyte (the memory
/// holds up to [`MAX_REMEMBERED`]). Reading the first answer back from the trail for every
/// resend cost two thirds of the decision loop's time at 3 000 proposals a second.
#[derive(Clone, Debug)]
struct Remembered {
    first_id: Box<str>,
    /// The first answer's reason codes (a byte each).
    codes: Box<[crate::contract::ReasonCode]>,
    verdict: Verdict,
    decided_at: Timestamp,
    until: Timestamp,
    situation: Situation,
}

/// The intent and graph versions every remembered answer was given under: when either
/// changes, the whole memory ends.
type Versions = (Option<String>, String);

fn versions(ctx: &Context) -> Versions {
    (
        ctx.intent.map(|i| i.version.clone()),
        ctx.graph.version().to_string(),
    )
}

fn same_versions(under: &Versions, ctx: &Context) -> bool {
    under.0.as_deref() == ctx.intent.map(|i| i.version.as_str()) && under.1 == ctx.graph.version()
}

#[derive(Clone, Debug, Default)]
pub struct RefusalMemory {
    answers: HashMap<ActionKey, Remembered>,
    /// The escalations remembered, by their proposal: a person's answer ends them.
    escalated: HashMap<ProposalKey, ActionKey>,
    under: Versions,
    /// Resends answered from memory since start.
    pub answered: u64,
    swept_at: Option<Timestamp>,
    /// Sweeps since start.
    sweeps: u64,
    /// [`MAX_REMEMBERED`] unless a test sets another.
    limit: Option<usize>,
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

    fn clear(&mut self) {
        self.answers.clear();
        self.escalated.clear();
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
        if !same_versions(&self.under, ctx) {
            self.clear();
            self.under = versions(ctx);
        }
        let limit = self.limit.unwrap_or(MAX_REMEMBERED);
        if self.answers.len() >= limit {
            self.sweep(ctx.now);
            if self.answers.len() >= limit {
                return;
            }
        }
        let key = ActionKey::of(p);
        if d.verdict == Verdict::Escalated {
            self.escalated.insert(p.filed_as(), key);
        }
        self.answers.insert(
            key,
            Remembered {
                first_id: p.id.as_str().into(),
                codes: d
                    .reasons
                    .iter()
                    .map(|r| r.code)
                    .filter(|c| *c != ReasonCode::AskedBefore)
                    .collect(),
                verdict: d.verdict,
                decided_at: d.decided_at,
                until,
                situation: Situation::of(ctx, service),
            },
        );
    }

    /// The answer to `p` from memory, if the same agent was answered about the same action
    /// and nothing that could change the answer has changed since.
    pub fn answer(&mut self, ctx: &Context, p: &Proposal) -> Option<Decision> {
        if self.answers.is_empty() {
            return None;
        }
        if !same_versions(&self.under, ctx) {
            self.clear();
            return None;
        }
        let key = ActionKey::of(p);
        let r = self.answers.get(&key)?;
        let service = ctx.graph.index_of(p.action.service())?;
        let same = r.until > ctx.now && r.situation == Situation::of(ctx, service);
        if !same {
            self.forget(&key, &p.agent);
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
        let mut reasons = vec![Reason::new(ReasonCode::AskedBefore).detail(format!(
            "{first}, {}; ask again after {}",
            r.verdict.as_str(),
            r.until
        ))];
        if r.verdict != Verdict::Escalated {
            reasons.extend(
                r.codes
                    .iter()
                    .map(|c| Reason::new(*c).detail(format!("as in {first}"))),
            );
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
            if self.answers.get(&key).is_some_and(|r| *r.first_id == *p.id) {
                self.answers.remove(&key);
            }
        }
    }

    /// Forgets `agent`'s answer under `key`.
    fn forget(&mut self, key: &ActionKey, agent: &str) {
        if let Some(r) = self.answers.remove(key) {
            if r.verdict == Verdict::Escalated {
                self.escalated.remove(&ProposalKey::of(agent, &r.first_id));
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
        self.sweeps += 1;
        self.answers.retain(|_, r| r.until > now);
        let answers = &self.answers;
        self.escalated.retain(|_, k| answers.contains_key(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ServiceGraph;
    use crate::world::World;

    /// A full memory looks for entries to let go of once a minute, not once per answer it
    /// is asked to remember: at thousands of proposals a second, scanning a hundred thousand
    /// entries for each put the service seconds behind.
    #[test]
    fn a_full_memory_is_not_scanned_for_every_answer() {
        let graph = ServiceGraph::from_files(
            std::path::Path::new("scenarios/online-boutique/graph.json"),
            Some(std::path::Path::new(
                "scenarios/online-boutique/overlay.toml",
            )),
        )
        .unwrap();
        let world = World::baseline(&graph);
        let roles = crate::intent::Roles::default();
        let now = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
        let ctx = Context {
            graph: &graph,
            world: &world,
            intent: None,
            roles: &roles,
            in_flight: &[],
            budget_granted: 0.0,
            now,
        };
        let mut memory = RefusalMemory {
            limit: Some(10),
            ..RefusalMemory::default()
        };
        for n in 0..1_000 {
            let text = format!(
                r#"{{"v":1,"id":"p-{n}","agent":"app-tuner-1","domain":"application","action":{{"kind":"config","service":"cartservice","key":"k","value":"{n}"}},"confidence":0.9,"reversible":true,"rationale":"r","created_at":"2026-11-27T10:00:00Z","expires_at":"2026-11-27T11:00:00Z"}}"#
            );
            let p = crate::contract::parse_proposal(text.as_bytes()).unwrap();
            let mut d = Decision::blank(p.id.clone(), p.agent.clone(), Verdict::Rejected, now);
            d.retry_after = Some(now.plus_millis(600_000));
            memory.remember(&ctx, &p, &d);
        }
        assert_eq!(memory.len(), 10);
        assert!(memory.sweeps <= 1, "{} sweeps", memory.sweeps);
    }
}
