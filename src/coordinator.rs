//! The coordinator: what sits between the bus and the engine.
//!
//! It takes a window of messages from `arbiter.proposals.>`, checks each subject's tokens
//! against its payload, decides the window with the engine against the intent in force,
//! remembers every answer (replays get the same one) and the approved changes in flight, and
//! returns the decisions to publish on `arbiter.decisions.<domain>.<agent>`. The simulator
//! drives it over the in-process bus; the service will drive it over NATS.

use crate::bus::{decisions_subject, parse_proposal_subject, Message};
use crate::contract::{parse_proposal, Decision, Reason, Timestamp, Verdict};
use crate::engine::{self, Context, InFlight, Ledger, SolverConfig, Submission};
use crate::graph::ServiceGraph;
use crate::intent::{IntentSet, Roles};
use crate::rate_limit::{self, AgentRates};
use crate::world::World;
use std::collections::HashMap;

/// An approved change and until when it holds its resources.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracked {
    pub change: InFlight,
    pub until: Timestamp,
}

/// Kill switches and the global freeze, set by people over the API.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Controls {
    pub suspended_agents: std::collections::BTreeSet<String>,
    pub suspended_domains: std::collections::BTreeSet<String>,
    pub frozen: bool,
}

impl Controls {
    /// Applies `suspend_agent`, `resume_agent`, `suspend_domain`, `resume_domain`, `freeze` or
    /// `unfreeze`.
    pub fn apply(&mut self, action: &str, target: &str) -> Result<(), String> {
        let need = |t: &str| {
            if t.is_empty() {
                Err(format!("{action} needs a target"))
            } else {
                Ok(t.to_string())
            }
        };
        match action {
            "suspend_agent" => {
                self.suspended_agents.insert(need(target)?);
            }
            "resume_agent" => {
                self.suspended_agents.remove(target);
            }
            "suspend_domain" => {
                let d = need(target)?;
                if crate::contract::Domain::parse(&d).is_none() {
                    return Err(format!("unknown domain `{d}`"));
                }
                self.suspended_domains.insert(d);
            }
            "resume_domain" => {
                self.suspended_domains.remove(target);
            }
            "freeze" => self.frozen = true,
            "unfreeze" => self.frozen = false,
            other => return Err(format!("unknown control action `{other}`")),
        }
        Ok(())
    }

    /// The audit record's `detail` of a control action: its target and who set it.
    pub fn recorded_detail(target: &str, by: &str) -> String {
        format!("{target} (by {by})")
    }

    /// Applies a control action read back from the audit trail (see
    /// [`Controls::recorded_detail`]); one that no longer applies is skipped.
    pub fn apply_recorded(&mut self, action: &str, detail: &str) {
        let target = detail.split(" (by ").next().unwrap_or("");
        let _ = self.apply(action, target);
    }

    /// Why a proposal of this agent and domain may not proceed now, if it may not.
    fn blocks(&self, agent: &str, domain: &str) -> Option<(Verdict, &'static str, String)> {
        if self.suspended_agents.contains(agent) {
            Some((
                Verdict::Rejected,
                "agent_suspended",
                format!("agent {agent} is suspended by its kill switch"),
            ))
        } else if self.suspended_domains.contains(domain) {
            Some((
                Verdict::Rejected,
                "domain_suspended",
                format!("the {domain} domain is suspended by its kill switch"),
            ))
        } else if self.frozen {
            Some((
                Verdict::Deferred,
                "global_freeze",
                "a global change freeze is in force; send it again after it is lifted".to_string(),
            ))
        } else {
            None
        }
    }
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
    pub config: SolverConfig,
    /// How long an approved change counts as in flight, ms.
    pub settle_ms: i64,
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
            config: SolverConfig::default(),
            settle_ms: 5 * 60 * 1000,
        }
    }

    /// Decides one window of proposal messages; returns (subject, decision) to publish, in
    /// the order the messages came.
    pub fn decide(
        &mut self,
        now: Timestamp,
        world: &World,
        inbox: &[Message],
    ) -> Vec<(String, Decision)> {
        let subs: Vec<Submission> = inbox.iter().map(|m| parse_proposal(&m.payload)).collect();
        self.decide_parsed(now, world, inbox, &subs, None)
    }

    /// [`Coordinator::decide`] for a caller that has already parsed each message's payload
    /// (`subs[i]` is `inbox[i]` parsed) and needs the proposals itself. With `overload`, the
    /// service is behind: new proposals are answered `deferred` (`overloaded`, with this
    /// detail) without the engine, which keeps the answers coming faster than proposals can
    /// be decided; replays, invalid and refused proposals are answered as always.
    pub fn decide_parsed(
        &mut self,
        now: Timestamp,
        world: &World,
        inbox: &[Message],
        subs: &[Submission],
        overload: Option<&str>,
    ) -> Vec<(String, Decision)> {
        self.in_flight.retain(|t| t.until > now);
        self.ledger.forget_expired(now);
        let in_flight: Vec<InFlight> = self.in_flight.iter().map(|t| t.change.clone()).collect();
        let ctx = Context {
            graph: &self.graph,
            world,
            intent: self.intents.in_force(now),
            roles: &self.roles,
            in_flight: &in_flight,
            now,
        };
        // Subject tokens must match the payload: a token mismatch is answered unauthorized
        // and never reaches the engine.
        let mut refused = vec![None; subs.len()];
        let mut admitted = Vec::with_capacity(subs.len());
        // A proposal sent twice in one window is counted once and answered alike.
        let mut counted: HashMap<(&str, &str), Option<Decision>> = HashMap::new();
        for (i, (m, s)) in inbox.iter().zip(subs).enumerate() {
            match (parse_proposal_subject(&m.subject), s) {
                (Ok((domain, agent)), Ok(p)) if domain != p.domain.as_str() || agent != p.agent => {
                    let detail = format!(
                        "subject {} does not match the payload's domain {} and agent {}",
                        m.subject,
                        p.domain.as_str(),
                        p.agent
                    );
                    refused[i] = Some(*engine::answer(
                        &ctx,
                        p,
                        Verdict::Unauthorized,
                        Reason::new("subject_mismatch").detail(detail.clone()),
                        detail,
                    ));
                }
                (_, Ok(p)) if self.ledger.get(&p.agent, &p.id).is_none() => {
                    match self.controls.blocks(&p.agent, p.domain.as_str()) {
                        Some((verdict, code, detail)) => {
                            refused[i] = Some(*engine::answer(
                                &ctx,
                                p,
                                verdict,
                                Reason::new(code).detail(detail.clone()),
                                detail,
                            ));
                        }
                        None => {
                            let key = (p.agent.as_str(), p.id.as_str());
                            let over = match counted.get(&key) {
                                Some(answer) => answer.clone(),
                                None if !rate_limit::applies(&ctx, p) => None,
                                None => {
                                    let answer =
                                        rate_limit::answer_if_over(&mut self.rates, &ctx, p);
                                    counted.insert(key, answer.clone());
                                    answer
                                }
                            };
                            match (over, overload) {
                                (Some(d), _) => refused[i] = Some(d),
                                (None, Some(detail)) => {
                                    refused[i] = Some(*engine::answer(
                                    &ctx,
                                    p,
                                    Verdict::Deferred,
                                    Reason::new("overloaded").detail(detail),
                                    format!("the arbiter is behind ({detail}); send it again shortly"),
                                ));
                                }
                                (None, None) => admitted.push(i),
                            }
                        }
                    }
                }
                _ => admitted.push(i),
            }
        }
        let window: Vec<Submission> = admitted.iter().map(|&i| subs[i].clone()).collect();
        let decided = engine::decide(&ctx, &window, &self.ledger, &self.config);
        let mut out: Vec<Option<Decision>> = refused;
        for (&i, d) in admitted.iter().zip(decided) {
            out[i] = Some(d);
        }
        let mut published = Vec::with_capacity(out.len());
        for (i, d) in out.into_iter().enumerate() {
            let d = d.expect("every message is answered");
            match &subs[i] {
                Ok(p) => self.ledger.record_until(&d, p.expires_at),
                Err(_) => self.ledger.record(&d),
            }
            if d.verdict == Verdict::Approved {
                if let Ok(p) = &subs[i] {
                    self.in_flight.push(Tracked {
                        change: InFlight::of(p),
                        until: now.plus_millis(self.settle_ms),
                    });
                }
            }
            let (domain, agent) = match &subs[i] {
                Ok(p) => (p.domain.as_str().to_string(), p.agent.clone()),
                Err(_) => parse_proposal_subject(&inbox[i].subject)
                    .map(|(d, a)| (d.to_string(), a.to_string()))
                    .unwrap_or(("unknown".into(), "unknown".into())),
            };
            published.push((decisions_subject(&domain, &agent), d));
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

    /// Records an approval given outside a window (a person's answer to an escalation, or
    /// one read back from the audit trail): the change is in flight from `now`.
    pub fn approved_by_human(&mut self, change: InFlight, now: Timestamp) {
        self.in_flight.push(Tracked {
            change,
            until: now.plus_millis(self.settle_ms),
        });
    }
}
