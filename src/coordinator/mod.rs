//! The coordinator: what sits between the bus and the engine.
//!
//! It takes a window of messages from `arbiter.proposals.>`, checks each subject's tokens
//! against its payload, decides the window with the engine against the intent in force,
//! remembers every answer (replays get the same one) and the approved changes in flight, and
//! returns the decisions to publish on `arbiter.decisions.<domain>.<agent>`. The simulator
//! drives it over the in-process bus; the service will drive it over NATS.

pub mod asks;
pub mod rate_limit;
pub mod refusals;

use crate::bus::{decisions_subject, parse_proposal_subject, Message};
use crate::contract::{parse_proposal, Decision, Reason, ReasonCode, Timestamp, Verdict};
use crate::engine::{self, Context, InFlight, Ledger, SolverConfig, Submission};
use crate::graph::ServiceGraph;
use crate::intent::{IntentSet, Roles};
use crate::world::World;
use rate_limit::AgentRates;
use refusals::RefusalMemory;

pub use crate::controls::Controls;
use std::collections::HashMap;

/// An approved change and until when it holds its resources.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tracked {
    pub change: InFlight,
    pub until: Timestamp,
}

/// One proposal's answer, on its way to the sender.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// `arbiter.decisions.<domain>.<agent>` of the subject the proposal came on.
    pub subject: String,
    pub decision: Decision,
    /// The first answer to this proposal: not a replay of one given in an earlier window,
    /// nor a copy of the same proposal earlier in this window. Only first answers are
    /// audited, counted and acted on.
    pub first: bool,
}

pub struct Coordinator {
    pub controls: Controls,
    pub graph: ServiceGraph,
    pub intents: IntentSet,
    pub roles: Roles,
    pub ledger: Ledger,
    pub in_flight: Vec<Tracked>,
    /// What each rate-limited agent has had admitted in the last minute.
    pub rates: AgentRates,
    /// Refusals, deferrals and escalations, until asking again could change the answer.
    pub refusals: RefusalMemory,
    pub config: SolverConfig,
    /// How long an approved change counts as in flight, ms.
    pub settle_ms: i64,
    /// How long after it arrives a proposal may stay valid, ms: what bounds how long its
    /// answer must be remembered (the contract allows 24 h counted from the agent's own
    /// `created_at`; this counts from arrival, which an agent cannot set).
    pub max_lifetime_ms: i64,
    /// When the arbiter last asked an agent to add to each short service (`asks.rs`).
    pub asked: crate::coordinator::asks::Asked,
    /// Overspend people granted beyond the budget (`grants.rs`).
    pub grants: crate::grants::Grants,
}

impl Coordinator {
    pub fn new(graph: ServiceGraph, intents: IntentSet, roles: Roles) -> Self {
        Coordinator {
            controls: Controls::default(),
            graph,
            intents,
            roles,
            ledger: Ledger::default(),
            in_flight: Vec::new(),
            rates: AgentRates::default(),
            refusals: RefusalMemory::default(),
            config: SolverConfig::default(),
            settle_ms: 5 * 60 * 1000,
            max_lifetime_ms: 24 * 3600 * 1000,
            asked: Default::default(),
            grants: Default::default(),
        }
    }

    /// The approved changes still in flight at `now`, those settled let go.
    pub(crate) fn in_flight_at(&mut self, now: Timestamp) -> Vec<InFlight> {
        self.in_flight.retain(|t| t.until > now);
        self.in_flight.iter().map(|t| t.change.clone()).collect()
    }

    /// Decides one window of proposal messages; returns the answers to publish, in the order
    /// the messages came.
    pub fn decide(&mut self, now: Timestamp, world: &World, inbox: &[Message]) -> Vec<Answer> {
        let subs: Vec<Submission> = inbox.iter().map(|m| parse_proposal(&m.payload)).collect();
        self.decide_parsed(now, world, inbox, &subs, None)
    }

    /// [`Coordinator::decide`] for a caller that has already parsed each message's payload
    /// (`subs[i]` is `inbox[i]` parsed) and needs the proposals itself. With `overload`, the
    /// service is behind: new proposals are answered `deferred` (`overloaded`, with this
    /// detail) without the engine, which keeps the answers coming faster than proposals can
    /// be decided; replays, invalid and refused proposals are answered as always.
    ///
    /// Identity is the subject's: NATS vouches for the subject a message was published on,
    /// nobody vouches for the payload. A payload that names another agent or domain is
    /// answered to its sender, under the sender's name, and never enters the ledger, so it
    /// cannot stand in for the named agent's real proposal.
    pub fn decide_parsed(
        &mut self,
        now: Timestamp,
        world: &World,
        inbox: &[Message],
        subs: &[Submission],
        overload: Option<&str>,
    ) -> Vec<Answer> {
        let in_flight = self.in_flight_at(now);
        self.ledger.forget_expired(now);
        self.refusals.sweep(now);
        let escalation_deadline = self.escalation_deadline(now);
        let budget_granted = self
            .grants
            .at(now, self.intents.in_force(now).map(|i| i.version.as_str()));
        let ctx = Context {
            graph: &self.graph,
            world,
            intent: self.intents.in_force(now),
            roles: &self.roles,
            in_flight: &in_flight,
            budget_granted,
            now,
        };
        let senders: Vec<Option<(&str, &str)>> = inbox
            .iter()
            .map(|m| parse_proposal_subject(&m.subject).ok())
            .collect();
        // Answers that need no engine: replays, refusals, limits.
        let mut before_engine = vec![None; subs.len()];
        // Refusals of a claimed identity: answered to the sender, kept out of the ledger.
        let mut impostor = vec![false; subs.len()];
        let mut admitted = Vec::with_capacity(subs.len());
        // A proposal sent twice in one window is counted once and answered alike.
        let mut counted: HashMap<(&str, &str), Option<Decision>> = HashMap::new();
        // Whether each proposal already had its answer before this window (a replay).
        let mut replay = vec![false; subs.len()];
        for (i, (m, s)) in inbox.iter().zip(subs).enumerate() {
            let Ok(p) = s else {
                admitted.push(i);
                continue;
            };
            let mismatch = match senders[i] {
                None => Some(format!(
                    "subject {} is not arbiter.proposals.<domain>.<agent>",
                    m.subject
                )),
                Some((domain, agent)) if domain != p.domain.as_str() || agent != p.agent => {
                    Some(format!(
                        "subject {} does not match the payload's domain {} and agent {}",
                        m.subject,
                        p.domain.as_str(),
                        p.agent
                    ))
                }
                Some(_) => None,
            };
            if let Some(detail) = mismatch {
                impostor[i] = true;
                before_engine[i] = Some(*engine::answer(
                    &ctx,
                    p,
                    Verdict::Unauthorized,
                    Reason::new(ReasonCode::SubjectMismatch).detail(detail.clone()),
                    detail,
                ));
                continue;
            }
            if let Some(d) = self.ledger.recall(&p.agent, &p.id) {
                replay[i] = true;
                before_engine[i] = Some(d);
                continue;
            }
            if p.expires_at > now.plus_millis(self.max_lifetime_ms) {
                let limit_s = self.max_lifetime_ms / 1000;
                let detail = format!(
                    "expires at {}, more than {limit_s} s after it arrived ({}); this arbiter accepts proposals valid for at most {limit_s} s",
                    p.expires_at.datetime().to_rfc3339(),
                    now.datetime().to_rfc3339()
                );
                before_engine[i] = Some(*engine::answer(
                    &ctx,
                    p,
                    Verdict::Invalid,
                    Reason::new(ReasonCode::OutOfRange)
                        .field("expires_at")
                        .detail(detail.clone()),
                    detail,
                ));
                continue;
            }
            if let Some((verdict, code, detail)) = self.controls.blocks(&p.agent, p.domain.as_str())
            {
                before_engine[i] = Some(*engine::answer(
                    &ctx,
                    p,
                    verdict,
                    Reason::new(code).detail(detail.clone()),
                    detail,
                ));
                continue;
            }
            if let Some(d) = self.refusals.answer(&ctx, p) {
                before_engine[i] = Some(d);
                continue;
            }
            let key = (p.agent.as_str(), p.id.as_str());
            let over = match counted.get(&key) {
                Some(answer) => answer.clone(),
                None if !rate_limit::applies(&ctx, p) => None,
                None => {
                    let answer = rate_limit::answer_if_over(&mut self.rates, &ctx, p);
                    counted.insert(key, answer.clone());
                    answer
                }
            };
            match (over, overload) {
                (Some(d), _) => before_engine[i] = Some(d),
                (None, Some(detail)) => {
                    before_engine[i] = Some(*engine::answer(
                        &ctx,
                        p,
                        Verdict::Deferred,
                        Reason::new(ReasonCode::Overloaded).detail(detail),
                        format!("the arbiter is behind ({detail}); send it again shortly"),
                    ));
                }
                (None, None) => admitted.push(i),
            }
        }
        let window: Vec<Submission> = admitted.iter().map(|&i| subs[i].clone()).collect();
        let decided = engine::decide(&ctx, &window, &self.ledger, &self.config);
        let mut out: Vec<Option<Decision>> = before_engine;
        // What the engine defers waits for a shared limit held by changes in flight or
        // approved in this window: none frees before the earliest of them settles. A
        // rejection weighed the same state, so it stands as long; an escalation, until a
        // person answers or its deadline.
        let frees_at =
            self.in_flight
                .iter()
                .map(|t| t.until)
                .fold(
                    now.plus_millis(self.settle_ms),
                    |a, b| if b < a { b } else { a },
                );
        for (&i, mut d) in admitted.iter().zip(decided) {
            d.retry_after = match d.verdict {
                Verdict::Deferred | Verdict::Rejected => d.retry_after.or(Some(frees_at)),
                Verdict::Escalated => Some(escalation_deadline),
                _ => d.retry_after,
            };
            if let Ok(p) = &subs[i] {
                self.refusals.remember(&ctx, p, &d);
            }
            out[i] = Some(d);
        }
        let mut answered: std::collections::HashSet<(String, String)> = Default::default();
        let mut published = Vec::with_capacity(out.len());
        for (i, d) in out.into_iter().enumerate() {
            let mut d = d.expect("every message is answered");
            // The sender, as the subject names it; `unknown` where it names none.
            let (domain, agent) = senders[i].unwrap_or(("unknown", "unknown"));
            let first = match &subs[i] {
                Ok(_) if impostor[i] => {
                    d.agent = agent.to_string();
                    true
                }
                Ok(p) => {
                    let copy = !answered.insert((p.agent.clone(), p.id.clone()));
                    let first = !replay[i] && !copy;
                    if first {
                        self.ledger.record_until(&d, p.expires_at);
                    }
                    if first && d.verdict == Verdict::Approved {
                        self.in_flight.push(Tracked {
                            change: InFlight::of(p),
                            until: now.plus_millis(self.settle_ms),
                        });
                    }
                    first
                }
                Err(_) => {
                    // What the payload claims is never trusted over the subject.
                    d.agent = agent.to_string();
                    true
                }
            };
            published.push(Answer {
                subject: decisions_subject(domain, agent),
                decision: d,
                first,
            });
        }
        published
    }

    /// Counts a decision read back from the audit trail against its agent's rate limit, as
    /// the live service counted it: a restarted service keeps holding a runaway agent to its
    /// limit. `d` must be the first answer to its proposal.
    pub fn admitted_earlier(&mut self, d: &Decision) {
        if !rate_limit::counts(d) {
            return;
        }
        let limit = self
            .roles
            .agents
            .get(&d.agent)
            .and_then(|r| r.max_proposals_per_minute);
        let _ = self.rates.admit(&d.agent, limit, d.decided_at);
    }

    /// An outcome reported for a change ends its time in flight.
    pub fn outcome_reported(&mut self, agent: &str, proposal_id: &str) {
        let key = format!("{agent}/{proposal_id}");
        self.in_flight.retain(|t| t.change.key != key);
    }

    /// Until when an escalation raised at `at` waits for a person, per the intent in force.
    pub fn escalation_deadline(&self, at: Timestamp) -> Timestamp {
        let timeout_s = self
            .intents
            .in_force(at)
            .map_or(900, |i| i.escalation.timeout_s);
        at.plus_millis(timeout_s as i64 * 1000)
    }

    /// A person answered the escalation of `p`, or nobody did in time: the same action asked
    /// again is decided afresh.
    pub fn escalation_answered(&mut self, p: &crate::contract::Proposal) {
        self.refusals.escalation_answered(p);
    }

    /// Records an approval given outside a window (a person's answer to an escalation, or
    /// one read back from the audit trail): the change is in flight from `now`, and an
    /// overspend its decision asked for (`reasons`, the escalation's or the approval's) is
    /// granted for the intent's horizon.
    pub fn approved_by_human(&mut self, change: InFlight, reasons: &[Reason], now: Timestamp) {
        self.in_flight.push(Tracked {
            change,
            until: now.plus_millis(self.settle_ms),
        });
        if let Some(intent) = self.intents.in_force(now) {
            self.grants
                .approved(reasons, now, intent.horizon_h, &intent.version);
        }
    }
}
