//! One simulated day under one strategy.
//!
//! Every strategy runs the same seeded world: the same traffic, noise and events, and the same
//! agents. Only what happens to their proposals differs:
//! - `uncoordinated`: every proposal executes;
//! - `static-priority`: a rule gate as built today — domains in a fixed order (security,
//!   resilience, application, cost), one change per service at a time, no graph, no forecast;
//! - `predictive`: every proposal executes, and the resilience agent scales ahead on the
//!   traffic forecast (what predictive autoscaling gives a team today);
//! - `arbiter`: proposals travel the in-process bus to the coordinator and its engine, with
//!   the observed state and the traffic forecast; escalations wait for the simulated human;
//! - `oracle`: no agents; the day known in hindsight, the limit (`oracle.rs`).
//!
//! The forecast is the same for every strategy given one, and wrong by the scenario's
//! `[forecast]` error (`forecast.rs`); the engine sees observations and that forecast, never
//! the model's own state.

use super::actions::{apply, Timing};
use super::agents::{AgentSet, View};
use super::day::Day;
use super::model::{latency_conversion, measure, ServiceSim};
use super::oracle::Oracle;
use super::report::{StrategyReport, TimelineEntry};
use super::scenario::{Event, Scenario};
use crate::bus::InProcessBus;
use crate::contract::{parse_proposal, Domain, Observation, Proposal, Telemetry, Verdict};
use crate::coordinator::Coordinator;
use crate::engine::InFlight;
use crate::world::World;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Uncoordinated,
    StaticPriority,
    Predictive,
    Arbiter,
    Oracle,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::Uncoordinated,
        Strategy::StaticPriority,
        Strategy::Predictive,
        Strategy::Arbiter,
        Strategy::Oracle,
    ];

    /// What a team can run today without an arbiter: what the arbiter must never be worse
    /// than.
    pub const BASELINES: [Strategy; 3] = [
        Strategy::Uncoordinated,
        Strategy::StaticPriority,
        Strategy::Predictive,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Uncoordinated => "uncoordinated",
            Strategy::StaticPriority => "static-priority",
            Strategy::Predictive => "predictive",
            Strategy::Arbiter => "arbiter",
            Strategy::Oracle => "oracle",
        }
    }

    /// The agents a strategy runs, as the report says.
    pub fn agents(&self) -> &'static str {
        match self {
            Strategy::Predictive | Strategy::Arbiter => {
                "the four agents; resilience scales ahead on the traffic forecast"
            }
            Strategy::Oracle => "none: the whole day known in hindsight",
            _ => "the four agents, acting on what they observe now",
        }
    }

    /// Whether the agents are given the traffic forecast: the arbiter coordinates the same
    /// predictive agents the best baseline runs.
    fn predictive_agents(&self) -> bool {
        matches!(self, Strategy::Predictive | Strategy::Arbiter)
    }
}

/// The fixed order of the static gate.
fn static_rank(d: Domain) -> usize {
    match d {
        Domain::Security => 0,
        Domain::Resilience => 1,
        Domain::Application => 2,
        Domain::Cost => 3,
    }
}

/// The rule gate users build today: proposals in a fixed domain order, each passing only if
/// its service had no change in the last `settle` ticks. It sees nothing but the proposals
/// and its own memory of what it let through — no graph, no telemetry, no forecast.
pub fn static_gate(
    mut proposals: Vec<Proposal>,
    last_change: &mut BTreeMap<String, u64>,
    tick: u64,
    settle: u64,
) -> Vec<(Proposal, bool)> {
    proposals.sort_by_key(|p| static_rank(p.domain));
    proposals
        .into_iter()
        .map(|p| {
            let service = p.action.service().to_string();
            let busy = last_change
                .get(&service)
                .is_some_and(|&t| tick < t + settle);
            if !busy {
                last_change.insert(service, tick);
            }
            (p, !busy)
        })
        .collect()
}

/// An escalation waiting for the human.
struct Pending {
    due: u64,
    proposal: Proposal,
    /// The escalation's reasons: an overspend it asked for is granted when approved.
    reasons: Vec<crate::contract::Reason>,
    approve: bool,
    /// The ask as proposed (the proposal may carry the amended action).
    ask: Ask,
}

/// One ask, however often it is resent: the same key the refusal memory answers resends by.
type Ask = crate::coordinator::refusals::ActionKey;

/// Counts asks the way a person's attention does: an ask is new unless the same agent asked
/// for the same action before and nothing has settled it since (carried out, or answered by
/// a person). A resend of a refused or waiting action is the same ask; the same relative
/// action (`-1 replica`) asked again after the first was carried out is a new one.
#[derive(Default)]
struct Asks {
    open: std::collections::HashSet<Ask>,
    escalated: std::collections::HashSet<Ask>,
    distinct: u64,
    distinct_escalated: u64,
}

impl Asks {
    fn proposed(&mut self, a: Ask) {
        if self.open.insert(a) {
            self.distinct += 1;
        }
    }

    fn escalated(&mut self, a: Ask) {
        if self.escalated.insert(a) {
            self.distinct_escalated += 1;
        }
    }

    /// Carried out, or answered by a person.
    fn settled(&mut self, a: &Ask) {
        self.open.remove(a);
        self.escalated.remove(a);
    }
}

pub fn run(
    sc: &Scenario,
    strategy: Strategy,
    mut progress: impl FnMut(u64, u64),
) -> StrategyReport {
    let g = &sc.graph;
    let raw = &sc.raw;
    let dt = raw.tick_s;
    let ticks = sc.ticks();
    let per_min = 60.0 / dt;
    let timing = Timing {
        startup: (raw.economics.startup_s / dt).ceil() as u64,
        restart: (raw.economics.restart_s / dt).ceil() as u64,
        flag: raw.agents.flag.as_ref(),
    };
    let agent_every = ((raw.agents.period_min * per_min).round() as u64).max(1);
    let sample_every = ((5.0 * per_min).round() as u64).max(1);
    let mut sims: Vec<ServiceSim> = g
        .services()
        .iter()
        .map(|s| ServiceSim::new(s.replicas))
        .collect();
    let mut agents = AgentSet::new(raw.agents.clone(), &sc.roles);
    let day = Day::draw(sc);
    let oracle = (strategy == Strategy::Oracle).then(|| Oracle::new(sc, timing));
    let forecaster = super::forecast::Forecaster::new(
        raw.seed,
        g.entries().len(),
        raw.duration_h,
        &raw.forecast,
    );
    let mut bus = InProcessBus::default();
    let mut coordinator = Coordinator::new(g.clone(), sc.intents.clone(), sc.roles.clone());
    let mut last_change: BTreeMap<String, u64> = BTreeMap::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut flag_off = false;
    let order = g
        .index_of(&raw.economics.order_service)
        .expect("checked at load");
    let mut asks = Asks::default();
    let mut r = StrategyReport {
        strategy: strategy.name().to_string(),
        agents: strategy.agents().to_string(),
        ..StrategyReport::default()
    };
    let slo_targets: Vec<String> = {
        let mut t: Vec<String> = sc
            .intents
            .all()
            .iter()
            .flat_map(|i| i.slos.iter().map(|s| s.service.clone()))
            .filter(|s| g.index_of(s).is_some())
            .collect();
        t.sort();
        t.dedup();
        t
    };
    for t in &slo_targets {
        r.slo_violation_min.insert(t.clone(), 0.0);
    }
    for &e in g.entries() {
        r.peak_p99_ms.insert(g.service(e).name.clone(), 0.0);
        r.series
            .p99_ms
            .insert(g.service(e).name.clone(), Vec::new());
    }

    for tick in 0..ticks {
        progress(tick, ticks);
        let h = tick as f64 * dt / 3600.0;
        let now = sc.start.plus_millis((tick as f64 * dt * 1000.0) as i64);
        // Events: traffic and capacity from the day drawn, releases and leaks as they start.
        let (legit, bots, zone) = (
            &day.legit[tick as usize],
            &day.bots[tick as usize],
            day.zone[tick as usize],
        );
        for ev in &raw.events {
            let starts_now = (ev.at_h() * 3600.0 / dt).round() as u64 == tick;
            match ev {
                Event::BadDeploy {
                    service,
                    error_rate,
                    ..
                } if starts_now => {
                    sims[g.index_of(service).expect("checked")].bad_release = *error_rate;
                }
                Event::Leak { service, .. } if starts_now => {
                    sims[g.index_of(service).expect("checked")].unhealthy = true
                }
                _ => {}
            }
        }
        for s in sims.iter_mut() {
            s.promote(tick);
            s.zone_loss = zone;
        }
        let m = measure(g, &sims, legit, bots, tick);

        // Measure the outcome.
        let in_force = sc.intents.in_force(now);
        for t in &slo_targets {
            let s = g.index_of(t).expect("filtered");
            let slo = in_force.and_then(|i| i.slos.iter().find(|x| x.service == *t));
            if let Some(slo) = slo {
                if m.path_ms[s] > slo.p99_latency_ms {
                    *r.slo_violation_min.get_mut(t).expect("inserted") += dt / 60.0;
                }
            }
        }
        for (k, &e) in g.entries().iter().enumerate() {
            let name = &g.service(e).name;
            let peak = r.peak_p99_ms.get_mut(name).expect("inserted");
            *peak = peak.max(m.path_ms[e]);
            let orders = legit[k] * g.visits(k, order);
            let ideal = orders * dt * raw.economics.order_value;
            let conv = latency_conversion(
                m.path_ms[e],
                raw.economics.free_latency_ms,
                raw.economics.half_conversion_ms,
            ) * match (flag_off, &raw.agents.flag) {
                (true, Some(flag)) => flag.conversion_off,
                _ => 1.0,
            };
            let made = ideal * m.success[k] * conv;
            r.revenue += made;
            r.revenue_lost += ideal - made;
            let mitigated = sims[e].bot_block >= 0.5 || sims[e].rate_limit.is_some();
            if bots[k] > 0.0 && !mitigated {
                r.exposure_min += dt / 60.0;
            }
        }
        let spend: f64 = g
            .services()
            .iter()
            .zip(&sims)
            .map(|(a, s)| a.cost_per_replica_hour * s.billed() as f64)
            .sum();
        r.cost += spend * dt / 3600.0;
        if tick % sample_every == 0 {
            r.series.minute.push(tick as f64 * dt / 60.0);
            for &e in g.entries() {
                r.series
                    .p99_ms
                    .get_mut(&g.service(e).name)
                    .expect("inserted")
                    .push(m.path_ms[e]);
            }
            r.series.order_demand_rps.push(m.demand[order]);
            r.series.order_capacity_rps.push(m.capacity[order]);
            r.series.cost_per_hour.push(spend);
            r.series.revenue_lost.push(r.revenue_lost);
        }

        // The human answers escalations that are due.
        let (due, later): (Vec<Pending>, Vec<Pending>) =
            pending.into_iter().partition(|p| p.due <= tick);
        pending = later;
        for p in due {
            asks.settled(&p.ask);
            coordinator.escalation_answered(&p.proposal);
            if p.approve {
                r.human_approvals += 1;
                r.note_done(&p.proposal, tick as f64 * dt / 60.0);
                if let Some(off) = apply(g, &mut sims, &p.proposal.action, tick, timing) {
                    flag_off = off;
                    agents.flag_off = off;
                }
                agents.carried_out(&p.proposal.action);
                coordinator.approved_by_human(InFlight::of(&p.proposal), &p.reasons, now);
            }
        }

        if let Some(oracle) = &oracle {
            oracle.act(sc, &day, &mut sims, tick, timing);
            continue;
        }

        // Agents look and propose.
        if tick % agent_every != 0 {
            continue;
        }
        let horizon = in_force.map_or(1.0, |i| i.horizon_h);
        let forecast: Vec<f64> = (0..g.entries().len())
            .map(|k| forecaster.peak_ahead(k, &sc.profiles[k], h, horizon))
            .collect();
        let view = View {
            forecast: strategy.predictive_agents().then_some(forecast.as_slice()),
            graph: g,
            m: &m,
            services: &sims,
            legit,
            bots,
            tick,
            now,
            ticks_per_min: per_min,
        };
        for m in bus.drain(crate::bus::CONTROL_PREFIX) {
            agents.control(&m.subject, &m.payload);
        }
        for msg in agents.act(&view) {
            bus.publish(msg.subject, msg.payload);
        }
        let inbox = bus.drain(crate::bus::PROPOSALS_PREFIX);
        r.proposals += inbox.len() as u64;
        let proposals: Vec<Proposal> = inbox
            .iter()
            .filter_map(|m| parse_proposal(&m.payload).ok())
            .collect();
        for p in &proposals {
            r.note_proposed(p, tick as f64 * dt / 60.0);
            asks.proposed(Ask::of(p));
        }
        let mut execute: Vec<Proposal> = Vec::new();
        let mut count = |v: &str| *r.verdicts.entry(v.to_string()).or_default() += 1;
        match strategy {
            // Acted above, without agents.
            Strategy::Oracle => {}
            Strategy::Uncoordinated | Strategy::Predictive => {
                for p in proposals {
                    count("approved");
                    asks.settled(&Ask::of(&p));
                    execute.push(p);
                }
            }
            Strategy::StaticPriority => {
                let settle = timing.startup.max(timing.restart).max(1);
                for (p, pass) in static_gate(proposals, &mut last_change, tick, settle) {
                    if pass {
                        count("approved");
                        asks.settled(&Ask::of(&p));
                        execute.push(p);
                    } else {
                        count("rejected");
                    }
                }
            }
            Strategy::Arbiter => {
                let world = observe(g, &sims, &m, legit, bots, &forecast, now);
                // What is short and no one asked to add, asked of the agents that may.
                for req in coordinator.requests(now, &world) {
                    let payload = serde_json::to_vec(&req.command).expect("a request serialises");
                    bus.publish(crate::bus::control_subject(&req.agent), payload);
                }
                for d in coordinator
                    .decide(now, &world, &inbox)
                    .into_iter()
                    .map(|a| a.decision)
                {
                    count(d.verdict.as_str());
                    r.timeline.push(TimelineEntry {
                        minute: tick as f64 * dt / 60.0,
                        agent: d.agent.clone(),
                        proposal_id: d.proposal_id.clone(),
                        verdict: d.verdict.as_str().to_string(),
                        explanation: d.explanation.clone(),
                    });
                    let Some(p) = proposals
                        .iter()
                        .find(|p| p.id == d.proposal_id && p.agent == d.agent)
                    else {
                        continue;
                    };
                    if let Some(at) = d.retry_after {
                        let wait_ms = now.millis_until(&at).max(0) as f64;
                        let ticks = (wait_ms / 1000.0 / dt).ceil() as u64;
                        let at = tick + ticks.max(1);
                        match d.verdict {
                            Verdict::Deferred => agents.retry_at(&d.agent, p.action.service(), at),
                            _ => agents.not_before(&d.agent, &p.action, at),
                        }
                    }
                    let asked = Ask::of(p);
                    match d.verdict {
                        Verdict::Escalated => asks.escalated(asked),
                        Verdict::Approved => asks.settled(&asked),
                        _ => {}
                    }
                    // Execute what was decided: the action as amended, if it was.
                    let mut p = p.clone();
                    if let Some(a) = &d.action {
                        p.action = a.clone();
                    }
                    match d.verdict {
                        Verdict::Approved => execute.push(p.clone()),
                        Verdict::Escalated => {
                            let approve = match raw.approver.policy.as_str() {
                                "approve" => true,
                                "deny" => false,
                                _ => {
                                    d.recommendation
                                        == Some(crate::contract::Recommendation::Approve)
                                }
                            };
                            pending.push(Pending {
                                due: tick + (raw.approver.delay_min * per_min).ceil() as u64,
                                proposal: p.clone(),
                                reasons: d.reasons.clone(),
                                approve,
                                ask: asked,
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        for p in execute {
            r.note_done(&p, tick as f64 * dt / 60.0);
            if let Some(off) = apply(g, &mut sims, &p.action, tick, timing) {
                flag_off = off;
                agents.flag_off = off;
            }
            agents.carried_out(&p.action);
        }
    }
    progress(ticks, ticks);
    r.distinct_proposals = asks.distinct;
    r.distinct_escalated = asks.distinct_escalated;
    r.rounded()
}

/// What the arbiter is told: the observed state of every service and, per entry point, the
/// forecast peak over the intent's horizon — the one every planning strategy is given.
fn observe(
    g: &crate::graph::ServiceGraph,
    sims: &[ServiceSim],
    m: &super::model::TickMeasure,
    legit: &[f64],
    bots: &[f64],
    forecast: &[f64],
    now: crate::contract::Timestamp,
) -> World {
    let mut t = Telemetry {
        at: Some(now),
        services: Default::default(),
    };
    for (s, sim) in sims.iter().enumerate() {
        t.services.insert(
            g.service(s).name.clone(),
            Observation {
                replicas: Some(sim.ready),
                load_rps: Some(m.demand[s]),
                p99_ms: Some(m.path_ms[s]),
                error_rate: Some(m.errors[s].clamp(0.0, 1.0)),
                healthy: Some(!sim.unhealthy),
                ..Observation::default()
            },
        );
    }
    for (k, &e) in g.entries().iter().enumerate() {
        let o = t.services.get_mut(&g.service(e).name).expect("inserted");
        let attack = bots[k] * (1.0 - sims[e].bot_block);
        o.load_rps = Some(legit[k] + attack);
        o.attack_rps = Some(attack);
        o.forecast_rps = Some(forecast[k]);
        o.under_attack =
            Some(bots[k] > 0.0 && bots[k] * (1.0 - sims[e].bot_block) > 0.1 * legit[k]);
    }
    World::observed(g, &t).expect("observations are finite and name graph services")
}
