//! The service's side of automatic rollback: observations are checked against the SLOs of
//! the intent in force; a change to undo is undone at once when its agent's domain is
//! autonomous for the service's tier, and otherwise put to a person as an escalation named
//! `<change id>.rollback`, whose approval sends the same command.

use super::{nats, NatsError, Shared};
use crate::approval::Pending;
use crate::audit::Event;
use crate::contract::{Observation, Reason, ReasonCode, Timestamp, Verdict};
use crate::intent::Zone;
use crate::rollback::{Rollback, ROLLBACK_SUFFIX};

impl Shared {
    /// Looks at one observation as it arrives.
    pub async fn observed(
        &mut self,
        service: &str,
        obs: &Observation,
        now: Timestamp,
    ) -> Result<(), NatsError> {
        let c = &self.coordinator;
        let intent = c.intents.in_force(now);
        let Some(rb) = self.watch.observed(&c.graph, intent, service, obs, now) else {
            return Ok(());
        };
        let tier = c
            .graph
            .index_of(rb.change.action.service())
            .map(|s| c.graph.service(s).tier.clone())
            .unwrap_or_default();
        let zone = intent.map(|i| i.zone(rb.change.domain, &tier));
        if zone == Some(Zone::Autonomous) {
            self.roll_back(&rb, false, now).await
        } else {
            self.ask_to_roll_back(&rb, now).await
        }
    }

    /// Sends the command on `arbiter.control.<agent>` and records it.
    async fn roll_back(
        &mut self,
        rb: &Rollback,
        escalated: bool,
        now: Timestamp,
    ) -> Result<(), NatsError> {
        let command = rb.command(now);
        self.write_durably(
            now,
            vec![Event::Rollback {
                agent: rb.change.agent.clone(),
                proposal_id: rb.change.proposal_id.clone(),
                command: command.clone(),
                escalated,
            }],
        )
        .await;
        // Counted (by writing it) and shown before it is sent: whoever receives the command
        // and then asks the API must find the rollback there.
        self.refresh_view(false);
        let subject = crate::bus::control_subject(&rb.change.agent);
        let payload = serde_json::to_vec(&command).map_err(nats)?;
        self.js
            .client()
            .publish(subject, payload.into())
            .await
            .map_err(nats)?;
        let waited = rb.breach_at.millis_until(&now).max(0) as f64 / 1000.0;
        let mode = if escalated { "approved" } else { "autonomous" };
        metrics::histogram!("arbiter_time_to_rollback_seconds", "mode" => mode).record(waited);
        metrics::counter!("arbiter_rollbacks_total", "mode" => mode).increment(1);
        tracing::info!(
            agent = rb.change.agent,
            change = rb.change.proposal_id,
            seconds_after_breach = waited,
            "rollback sent"
        );
        Ok(())
    }

    /// Raises an escalation proposing the undo, on the agent's behalf.
    async fn ask_to_roll_back(&mut self, rb: &Rollback, now: Timestamp) -> Result<(), NatsError> {
        let c = &self.coordinator;
        let deadline = c.escalation_deadline(now);
        let action = rb.compensation.as_ref().unwrap_or(&rb.change.action);
        let raw = serde_json::json!({
            "v": 1,
            "id": format!("{}{ROLLBACK_SUFFIX}", rb.change.proposal_id),
            "agent": rb.change.agent,
            "domain": rb.change.domain.as_str(),
            "action": action,
            "confidence": 1.0,
            "reversible": true,
            "rationale": if rb.compensation.is_some() {
                format!("undo {}: {}", rb.change.proposal_id, breach_text(rb))
            } else {
                format!("revert {} (the action shown is the change to revert): {}", rb.change.proposal_id, breach_text(rb))
            },
            "created_at": now,
            "expires_at": deadline,
        });
        let proposal = match crate::contract::parse_proposal(raw.to_string().as_bytes()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    change = rb.change.proposal_id,
                    "cannot raise a rollback escalation: {e}"
                );
                return Ok(());
            }
        };
        let world = crate::world::World::baseline(&c.graph);
        let ctx = crate::engine::Context {
            graph: &c.graph,
            world: &world,
            intent: c.intents.in_force(now),
            roles: &c.roles,
            in_flight: &[],
            budget_granted: 0.0,
            now,
        };
        let code = if rb.compensation.is_some() {
            ReasonCode::SloBreach
        } else {
            ReasonCode::SloBreachRevert
        };
        let mut decision = *crate::engine::answer(
            &ctx,
            &proposal,
            Verdict::Escalated,
            Reason::new(code)
                .service(&rb.slo_service)
                .field("p99_ms")
                .numbers(rb.observed_p99_ms, rb.slo_p99_ms)
                .detail(breach_text(rb)),
            format!(
                "{}; undoing {} needs a person's approval in this autonomy zone",
                breach_text(rb),
                rb.change.proposal_id
            ),
        );
        decision.recommendation = Some(crate::contract::Recommendation::Approve);
        // Waiting for a person before any agent can hear of it.
        let delivery = self.delivery(&raw, decision);
        let recorded = self.record(now, vec![delivery]).await;
        self.hold(Pending {
            proposal,
            decision: recorded[0].decision.clone(),
            deadline,
        })
        .await?;
        self.publish_durably(recorded).await?;
        Ok(())
    }

    /// A person approved a rollback escalation: send the command it proposed.
    pub(super) async fn approved_rollback(
        &mut self,
        pending: &Pending,
        now: Timestamp,
    ) -> Result<(), NatsError> {
        let Some(change_id) = pending.proposal.id.strip_suffix(ROLLBACK_SUFFIX) else {
            return Ok(());
        };
        let reason = pending.decision.reasons.first();
        let revert = reason.is_some_and(|r| r.code == ReasonCode::SloBreachRevert);
        let rb = Rollback {
            change: crate::rollback::Watched {
                agent: pending.proposal.agent.clone(),
                proposal_id: change_id.to_string(),
                domain: pending.proposal.domain,
                action: pending.proposal.action.clone(),
                approved_at: now,
            },
            compensation: (!revert).then(|| pending.proposal.action.clone()),
            slo_service: reason.and_then(|r| r.service.clone()).unwrap_or_default(),
            observed_p99_ms: reason.and_then(|r| r.value).unwrap_or(0.0),
            slo_p99_ms: reason.and_then(|r| r.limit).unwrap_or(0.0),
            breach_at: pending.decision.decided_at,
        };
        self.roll_back(&rb, true, now).await
    }
}

fn breach_text(rb: &Rollback) -> String {
    format!(
        "{} p99 {:.0} ms is over its SLO of {:.0} ms after {} was approved",
        rb.slo_service, rb.observed_p99_ms, rb.slo_p99_ms, rb.change.proposal_id
    )
}
