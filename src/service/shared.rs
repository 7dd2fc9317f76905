//! The service's state, shared by the decision loop and the HTTP API, and the one way a
//! decision leaves it: recorded in the audit trail first, then published to the decisions
//! stream, and only then acknowledged (by the caller).

use super::{nats, NatsError};
use crate::approval::{ApprovalError, Approver, Approvers, Pending};
use crate::audit::{AuditLog, Event};
use crate::contract::{Decision, Timestamp, Verdict};
use crate::coordinator::Coordinator;
use crate::dashboard::{About, Held};
use async_nats::jetstream;

/// The decisions stream's acknowledgements of published decisions, and the first publish
/// that failed, if one did.
pub struct Stored {
    acks: Vec<jetstream::context::PublishAckFuture>,
    failed: Option<String>,
}

impl Stored {
    /// Waits until the stream has stored every decision.
    pub async fn wait(self) -> Result<(), NatsError> {
        if let Some(e) = self.failed {
            return Err(NatsError::Nats(e));
        }
        for ack in self.acks {
            ack.await.map_err(nats)?;
        }
        Ok(())
    }
}

pub struct Shared {
    pub coordinator: Coordinator,
    pub log: Option<AuditLog>,
    /// Where the records written and the segments sealed go, to be folded and indexed.
    pub(super) sealer: Option<tokio::sync::mpsc::UnboundedSender<super::sealer::ToSeal>>,
    /// Where the escalations waiting (kept in `published`) are kept durably.
    pub(super) queue: super::queue::EscalationQueue,
    pub approvers: Approvers,
    pub tracks: crate::track::TrackRecords,
    pub watch: crate::rollback::RollbackWatch,
    pub(super) js: jetstream::Context,
    /// Decisions given since start, and how many of them the audit trail holds.
    pub(super) delivered: u64,
    pub(super) audited: u64,
    /// The observations last written to the audit trail (none written: none seen).
    pub(super) last_observed: crate::contract::Telemetry,
    /// The first seq of the segment being written when they were last written whole.
    pub(super) observed_whole_in: Option<u64>,
    /// Headline figures, for the dashboard.
    pub figures: crate::dashboard::Figures,
    /// Where what the API reads is published, and the feed of recent decisions.
    pub published: crate::snapshot::Publisher,
    pub health: std::sync::Arc<crate::health::Health>,
    /// With `--replica`: the replicated trail every record goes to before the file, and the
    /// lease without which nothing is written or published.
    pub(super) mirror: Option<super::mirror::Mirror>,
    pub(super) lease: Option<super::lease::Lease>,
}

/// Most escalations answered `expired` in one turn of the loop.
pub const EXPIRE_AT_ONCE: usize = 128;

/// A decision on its way out, with what the audit record keeps beside it.
pub struct Delivery {
    pub subject: String,
    /// The payload as received.
    pub proposal: crate::audit::Payload,
    /// Its domain, target and kind, for the dashboard's feed.
    pub about: About,
    /// What the engine saw of the target.
    /// What the engine saw of the target: shared by the proposals of a window that target
    /// the same service.
    pub knew: std::sync::Arc<serde_json::Value>,
    /// The subject the proposal arrived on, if it came over the bus.
    pub arrived_on: Option<String>,
    pub decision: Decision,
    /// Not a replay or a copy of an answer already given: recorded, counted and shown.
    pub first: bool,
}

impl Shared {
    /// Appends events to the audit trail and makes them durable, trying again with backoff
    /// for as long as the disk refuses them (full, read-only, gone): what the service
    /// decided is never published before it is evidence, and never dropped because the disk
    /// was full for a while. Meanwhile the service is unready and says why. Returns the
    /// references of `events` (none without an audit trail).
    pub async fn write_durably(
        &mut self,
        at: Timestamp,
        events: Vec<Event>,
    ) -> Vec<(crate::contract::AuditRef, u64)> {
        // Counted as a restart will count them when it reads them back. This never returns
        // without the records written (it waits for the disk, or the process steps down).
        for e in &events {
            super::restore::tally(&mut self.tracks, &mut self.figures, &at, e);
        }
        let Some(log) = self.log.as_mut() else {
            return Vec::new();
        };
        let prepared = log.prepare(at, events);
        let mut backoff = crate::health::Backoff::default();
        if let Some(mirror) = self.mirror.as_mut() {
            let started = std::time::Instant::now();
            loop {
                leading(&self.lease);
                match mirror.push(&prepared).await {
                    Ok(()) => {
                        metrics::histogram!("arbiter_trail_replicate_seconds")
                            .record(started.elapsed().as_secs_f64());
                        break;
                    }
                    Err(super::mirror::MirrorError::Deposed(e)) => super::lease::step_down(&e),
                    Err(e) => {
                        self.health.fail(
                            "audit",
                            format!("{e}; decisions wait until the trail can be replicated"),
                        );
                        tokio::time::sleep(backoff.delay()).await;
                    }
                }
            }
        }
        let positions = commit_durably(log, &prepared, &self.health, &self.lease).await;
        let refs = prepared.refs().iter().cloned().zip(positions).collect();
        self.hand_to_sealer(prepared);
        refs
    }

    /// Appends one event at once: an error if it cannot be written now (the caller's request
    /// fails and nothing happened) — except once the replicated trail holds it, when the file
    /// must hold it too, and is waited for.
    pub async fn append_now(
        &mut self,
        at: Timestamp,
        event: Event,
    ) -> Result<Option<crate::contract::AuditRef>, NatsError> {
        let counted = event.clone();
        let Some(log) = self.log.as_mut() else {
            super::restore::tally(&mut self.tracks, &mut self.figures, &at, &counted);
            return Ok(None);
        };
        let prepared = log.prepare(at, vec![event]);
        match self.mirror.as_mut() {
            None => {
                log.commit(&prepared)?;
            }
            Some(mirror) => {
                leading(&self.lease);
                match mirror.push(&prepared).await {
                    Ok(()) => {}
                    Err(super::mirror::MirrorError::Deposed(e)) => super::lease::step_down(&e),
                    Err(e) => return Err(NatsError::Nats(e.to_string())),
                }
                commit_durably(log, &prepared, &self.health, &self.lease).await;
            }
        };
        super::restore::tally(&mut self.tracks, &mut self.figures, &at, &counted);
        let written = prepared.refs().first().cloned();
        self.hand_to_sealer(prepared);
        Ok(written)
    }

    /// Hands records just committed, then any segment their commit sealed, to the sealer.
    fn hand_to_sealer(&mut self, prepared: crate::audit::Prepared) {
        let (Some(sealer), Some(log)) = (&self.sealer, self.log.as_mut()) else {
            return;
        };
        let _ = sealer.send(super::sealer::ToSeal::Written(log.committed(prepared)));
        for segment in log.take_sealed() {
            let _ = sealer.send(super::sealer::ToSeal::Sealed(segment));
        }
    }

    /// The share of decisions given since start that the audit trail holds; `None` before
    /// the first.
    pub fn audit_completeness(&self) -> Option<f64> {
        (self.delivered > 0).then(|| self.audited as f64 / self.delivered as f64)
    }

    /// Publishes the state as it stands for the API to read; after the intents changed,
    /// `setup_changed` so that the new ones are read too.
    pub fn refresh_view(&self, setup_changed: bool) {
        let setup = match setup_changed {
            true => std::sync::Arc::new(crate::snapshot::Setup::of(
                &self.approvers,
                &self.coordinator,
            )),
            false => self.published.setup(),
        };
        self.figures.gauge_trail();
        self.published.publish(crate::snapshot::Snapshot::of(
            setup,
            &self.coordinator,
            (&self.figures, &self.tracks),
            self.published.escalations().len(),
            self.audit_completeness(),
        ));
    }

    /// Queues an escalation for a person, in memory and in the durable bucket. The audit
    /// trail already holds it, so a bucket that cannot be written now is set right from
    /// the trail at the next start.
    pub async fn hold(&mut self, pending: Pending) -> Result<(), NatsError> {
        self.queue.hold(&pending);
        let p = &pending.proposal;
        match self.coordinator.ledger.position(&p.agent, &p.id) {
            Some((seq, at)) => self
                .published
                .escalations()
                .hold_recorded(&pending, seq, at),
            None => self.published.escalations().hold(pending),
        }
        Ok(())
    }

    /// Writes these escalations again at the head of the trail, those that still wait, and
    /// reads each back from there from now on (see `sealer::carry`).
    pub async fn carry(&mut self, read: &[Pending]) {
        let still: Vec<&Pending> = {
            let q = self.published.escalations();
            read.iter()
                .filter(|p| q.holds(p.proposal.filed_as()))
                .collect()
        };
        let events = still
            .iter()
            .map(|p| Event::Carried {
                proposal: crate::audit::Payload::of(
                    &serde_json::to_value(&p.proposal).expect("a proposal serialises"),
                ),
                decision: Box::new(p.decision.clone()),
            })
            .collect();
        let now = Timestamp::from_datetime(chrono::Utc::now());
        let refs = self.write_durably(now, events).await;
        let mut q = self.published.escalations();
        for (p, (r, at)) in still.iter().zip(&refs) {
            q.moved(p.proposal.filed_as(), r.seq, *at);
        }
        metrics::counter!("arbiter_audit_escalations_carried_total").increment(refs.len() as u64);
    }

    /// Answers, as `expired`, the escalations nobody answered in time: at most
    /// [`EXPIRE_AT_ONCE`], recorded together with one flush and published together, so that
    /// thousands falling due at once (after a restart, say) neither take a flush each nor
    /// hold the service for long; the rest are answered at the next turns of the loop.
    pub async fn expire_escalations(&mut self, now: Timestamp) -> Result<(), NatsError> {
        let expired = self.published.escalations().expire(now, EXPIRE_AT_ONCE);
        if expired.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(expired.len());
        for (pending, d) in &expired {
            let proposal = serde_json::to_value(&pending.proposal).map_err(nats)?;
            batch.push(self.delivery(&proposal, d.clone()));
        }
        self.deliver_all(now, batch).await?;
        for (pending, _) in &expired {
            self.queue.release(pending.proposal.filed_as());
            self.coordinator.escalation_answered(&pending.proposal);
        }
        Ok(())
    }

    /// Puts the observations a window is decided on into the audit trail, ahead of its
    /// decisions, when they differ from the last ones recorded: only what changed, except
    /// in the first such record of each segment, which holds them whole — so that a trail
    /// whose older segments retention retired still says what every window saw.
    pub fn observations(&mut self, snapshot: &crate::contract::Telemetry) {
        // Without a trail nothing is recorded, and nothing else reads the last recorded.
        let Some(log) = self.log.as_mut() else {
            return;
        };
        let head = log.head_first();
        // One pass over the services, which may be thousands, every window: what changed.
        let changes = snapshot.changes_since(&self.last_observed);
        let unchanged = changes
            .as_ref()
            .is_some_and(|c| c.services.is_empty() && c.at == self.last_observed.at);
        if self.observed_whole_in == Some(head) {
            match changes {
                Some(_) if unchanged => return,
                Some(telemetry) => {
                    self.last_observed.apply_changes(&telemetry);
                    log.stage(Event::Observed {
                        telemetry,
                        changes: true,
                    });
                    return;
                }
                // A service is no longer observed: said by the whole snapshot.
                None => {}
            }
        } else if unchanged && snapshot.services.is_empty() {
            return;
        }
        self.observed_whole_in = Some(head);
        self.last_observed = snapshot.clone();
        log.stage(Event::Observed {
            telemetry: snapshot.clone(),
            changes: false,
        });
    }

    /// Records the decisions that are not replays already recorded (one flush to disk for
    /// all), then [`Shared::publish_durably`].
    pub async fn deliver_all(
        &mut self,
        now: Timestamp,
        batch: Vec<Delivery>,
    ) -> Result<Vec<Decision>, NatsError> {
        let batch = self.record(now, batch).await;
        self.publish_durably(batch).await
    }

    /// Publishes recorded decisions, the API's view refreshed first, and waits until the
    /// decisions stream has stored them all. These decisions (final answers, timeouts,
    /// rollbacks) have no proposal waiting to be redelivered, so they are published again,
    /// deduplicated by their message id, until the stream takes them.
    pub async fn publish_durably(
        &mut self,
        batch: Vec<Delivery>,
    ) -> Result<Vec<Decision>, NatsError> {
        let subjects: Vec<String> = batch.iter().map(|b| b.subject.clone()).collect();
        self.refresh_view(false);
        let (decisions, stored) = self.send(batch).await;
        let mut outcome = stored.wait().await;
        let mut backoff = crate::health::Backoff::default();
        while let Err(e) = outcome {
            self.health
                .fail("publish", format!("{e}; publishing again"));
            tokio::time::sleep(backoff.delay()).await;
            let mut acks = Vec::new();
            for (subject, d) in subjects.iter().zip(&decisions) {
                match self.publish(subject, d).await {
                    Ok(ack) => acks.push(ack),
                    Err(e) => tracing::warn!("publishing again: {e}"),
                }
            }
            outcome = if acks.len() == decisions.len() {
                Stored { acks, failed: None }.wait().await
            } else {
                Err(NatsError::Nats("not every decision could be sent".into()))
            };
        }
        self.health.clear("publish");
        Ok(decisions)
    }

    /// Records the decisions that are not replays or copies (one flush to disk for all) and
    /// counts and shows them; returns the batch with each decision's audit reference.
    pub async fn record(&mut self, now: Timestamp, batch: Vec<Delivery>) -> Vec<Delivery> {
        let fresh: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].first).collect();
        let mut batch = batch;
        let about: Vec<About> = fresh
            .iter()
            .map(|&i| std::mem::take(&mut batch[i].about))
            .collect();
        let mut positions: Vec<Option<u64>> = vec![None; batch.len()];
        let recorded = self.log.is_some();
        if recorded {
            let events = fresh
                .iter()
                .map(|&i| {
                    let b = &mut batch[i];
                    Event::Decision {
                        proposal: std::mem::take(&mut b.proposal),
                        knew: std::mem::take(&mut b.knew),
                        decision: Box::new(b.decision.clone()),
                        subject: b.arrived_on.take(),
                    }
                })
                .collect();
            let refs = self.write_durably(now, events).await;
            for (&i, (r, at)) in fresh.iter().zip(refs) {
                batch[i].decision.audit = Some(r);
                positions[i] = Some(at);
            }
        }
        {
            let mut feed = self.published.feed();
            for (&i, about) in fresh.iter().zip(about) {
                let d = &batch[i].decision;
                let kept = self.coordinator.ledger.set_audit(d, positions[i]);
                // Writing the record counted it in the track records; without a trail,
                // nothing was written.
                if !recorded {
                    self.tracks.decided(d);
                }
                self.figures.decided(&about.domain, d);
                let held = match (&d.audit, positions[i]) {
                    (Some(r), Some(at)) => Held::Recorded { seq: r.seq, at },
                    _ => Held::Whole(kept.unwrap_or_else(|| std::sync::Arc::new(d.clone()))),
                };
                feed.push(about, d, held);
                let policy = match d.verdict {
                    Verdict::Approved | Verdict::Merged => "allowed",
                    Verdict::Escalated => "escalated",
                    _ => "blocked",
                };
                metrics::counter!("arbiter_policy_total", "outcome" => policy).increment(1);
            }
        }
        // A copy of a proposal earlier in the same window carries the first one's record
        // (rare: looked for only when a window has one).
        let copies: Vec<usize> = (0..batch.len())
            .filter(|&i| !batch[i].first && batch[i].decision.audit.is_none())
            .collect();
        for i in copies {
            let d = &batch[i].decision;
            let first = fresh
                .iter()
                .map(|&j| &batch[j].decision)
                .find(|f| f.agent == d.agent && f.proposal_id == d.proposal_id);
            batch[i].decision.audit = first.and_then(|f| f.audit.clone());
        }
        // Audit completeness: the share of decisions given that the audit trail holds.
        self.delivered += fresh.len() as u64;
        self.audited += fresh
            .iter()
            .filter(|&&i| batch[i].decision.audit.is_some())
            .count() as u64;
        if self.delivered > 0 {
            metrics::gauge!("arbiter_audit_completeness")
                .set(self.audited as f64 / self.delivered as f64);
        }
        batch
    }

    /// Publishes recorded decisions, with what tells when the stream has stored them: the
    /// decision loop goes on to the next window meanwhile. Every publish goes out before any
    /// acknowledgement is awaited; one that fails is reported through `Stored`, after the
    /// rest: what follows a decision (an escalation held for a person, a change watched)
    /// happened once, when it was recorded, whatever the bus does.
    pub async fn send(&self, batch: Vec<Delivery>) -> (Vec<Decision>, Stored) {
        leading(&self.lease);
        let mut acks = Vec::with_capacity(batch.len());
        let mut failed = None;
        for b in &batch {
            match self.publish(&b.subject, &b.decision).await {
                Ok(ack) => acks.push(ack),
                Err(e) => failed = Some(e.to_string()),
            }
        }
        (
            batch.into_iter().map(|b| b.decision).collect(),
            Stored { acks, failed },
        )
    }

    /// One decision, on its agent's decisions subject.
    pub async fn deliver(
        &mut self,
        now: Timestamp,
        proposal: serde_json::Value,
        d: Decision,
    ) -> Result<Decision, NatsError> {
        let delivery = self.delivery(&proposal, d);
        let mut out = self.deliver_all(now, vec![delivery]).await?;
        Ok(out.pop().expect("one decision in, one out"))
    }

    /// A decision the arbiter gives of its own accord (no proposal message behind it), on
    /// its agent's decisions subject.
    pub fn delivery(&self, proposal: &serde_json::Value, d: Decision) -> Delivery {
        Delivery {
            subject: self.subject_for(&d),
            about: About::of(proposal),
            proposal: crate::audit::Payload::of(proposal),
            knew: Default::default(),
            arrived_on: None,
            decision: d,
            first: true,
        }
    }

    /// Publishes with a message id (`agent/id/audit-seq`), so a decision published again
    /// after a crash is stored once.
    async fn publish(
        &self,
        subject: &str,
        d: &Decision,
    ) -> Result<jetstream::context::PublishAckFuture, NatsError> {
        let mut headers = async_nats::HeaderMap::new();
        let id = format!(
            "{}/{}/{}",
            d.agent,
            d.proposal_id,
            d.audit.as_ref().map_or(0, |a| a.seq)
        );
        headers.insert("Nats-Msg-Id", id.as_str());
        let payload = serde_json::to_vec(d).expect("decisions serialise");
        self.js
            .publish_with_headers(subject.to_string(), headers, payload.into())
            .await
            .map_err(nats)
    }

    /// `arbiter.decisions.<domain>.<agent>`, the domain taken from the agent's role.
    fn subject_for(&self, d: &Decision) -> String {
        let domain = self
            .coordinator
            .roles
            .agents
            .get(&d.agent)
            .and_then(|r| r.domains.first())
            .map_or("unknown", |d| d.as_str());
        crate::bus::decisions_subject(domain, &d.agent)
    }

    /// Audits a person's answer, delivers the final decision, and puts an approved change in
    /// flight.
    pub async fn answer(
        &mut self,
        approver: &Approver,
        (agent, id): (&str, &str),
        approve: bool,
        comment: &str,
    ) -> Result<Result<Decision, ApprovalError>, NatsError> {
        let now = Timestamp::from_datetime(chrono::Utc::now());
        let answered = self.published.escalations().answer(
            &self.coordinator.roles,
            approver,
            (agent, id),
            approve,
            comment,
            now,
        );
        let (pending, final_decision) = match answered {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        let written = self
            .append_now(
                now,
                Event::Approval {
                    agent: pending.proposal.agent.clone(),
                    proposal_id: pending.proposal.id.clone(),
                    approver: approver.name.clone(),
                    approve,
                    comment: comment.to_string(),
                },
            )
            .await;
        if let Err(e) = written {
            // Not evidence, so not an answer: the escalation waits as before.
            self.published.escalations().hold(pending);
            return Err(e);
        }
        self.queue.release(pending.proposal.filed_as());
        self.coordinator.escalation_answered(&pending.proposal);
        let proposal = serde_json::to_value(&pending.proposal).map_err(nats)?;
        let d = self.deliver(now, proposal, final_decision).await?;
        if approve
            && pending
                .proposal
                .id
                .ends_with(crate::rollback::ROLLBACK_SUFFIX)
        {
            self.approved_rollback(&pending, now).await?;
        } else if approve {
            self.watch.approved(&pending.proposal, now);
            self.coordinator.approved_by_human(
                crate::engine::InFlight::of(&pending.proposal),
                &pending.decision.reasons,
                now,
            );
        }
        self.refresh_view(false);
        Ok(Ok(d))
    }

    /// A person pulls a kill switch or sets the global freeze, within the domains they
    /// answer for; recorded in the audit trail before it takes effect.
    pub async fn control(
        &mut self,
        approver: &Approver,
        action: &str,
        target: Option<&str>,
    ) -> Result<Result<(), crate::controls::ControlError>, NatsError> {
        let c = match crate::controls::Control::authorize(
            &self.coordinator.roles,
            approver,
            action,
            target,
        ) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        self.append_now(
            Timestamp::from_datetime(chrono::Utc::now()),
            Event::KillSwitch(c.clone()),
        )
        .await?;
        self.coordinator.controls.apply(&c);
        self.refresh_view(false);
        Ok(Ok(()))
    }

    /// Records an outcome whose subject tokens match its payload; anything else is logged
    /// and dropped (an outcome cannot be answered: there is no decision to send).
    pub async fn record_outcome(&mut self, subject: &str, payload: &[u8]) -> Result<(), NatsError> {
        let outcome = match crate::contract::parse_outcome(payload) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(subject, "outcome refused: {e}");
                return Ok(());
            }
        };
        let tokens: Vec<&str> = subject.split('.').collect();
        if tokens.len() != 4 || tokens[3] != outcome.agent {
            tracing::warn!(
                subject,
                agent = outcome.agent,
                "outcome refused: the subject does not match its agent"
            );
            return Ok(());
        }
        self.coordinator
            .outcome_reported(&outcome.agent, &outcome.proposal_id);
        let status = serde_json::to_value(outcome.status).map_err(nats)?;
        let status = status.as_str().unwrap_or("").to_string();
        metrics::counter!("arbiter_outcomes_total", "status" => status.clone()).increment(1);
        let observed = serde_json::to_value(&outcome.observed).map_err(nats)?;
        self.write_durably(
            outcome.at,
            vec![Event::Outcome {
                agent: outcome.agent,
                proposal_id: outcome.proposal_id,
                status,
                observed,
            }],
        )
        .await;
        Ok(())
    }
}

/// Steps down unless the lease, if there is one, is surely held: nothing is written or
/// published on a lease another replica may hold.
fn leading(lease: &Option<super::lease::Lease>) {
    if let Some(l) = lease {
        if !l.held() {
            super::lease::step_down("the leader's lease lapsed before it could be renewed");
        }
    }
}

/// Writes prepared records to the file, trying again with backoff for as long as the disk
/// refuses them; returns where each starts. A replica that leads gives the lease up once its
/// disk has refused them for as long as a lease lasts: a standby whose disk works takes over
/// (the replicated trail already holds these records), and this one, standing by, writes
/// them when its disk takes them again.
async fn commit_durably(
    log: &mut crate::audit::AuditLog,
    prepared: &crate::audit::Prepared,
    health: &crate::health::Health,
    lease: &Option<super::lease::Lease>,
) -> Vec<u64> {
    let mut backoff = crate::health::Backoff::default();
    let since = std::time::Instant::now();
    let positions = loop {
        match log.commit(prepared) {
            Ok(positions) => {
                metrics::histogram!("arbiter_trail_write_seconds")
                    .record(since.elapsed().as_secs_f64());
                break positions;
            }
            Err(e) => {
                metrics::counter!("arbiter_audit_write_failures_total").increment(1);
                if let Some(l) = lease.as_ref().filter(|l| since.elapsed() > l.ttl()) {
                    l.release().await;
                    super::lease::step_down(&format!("the audit trail cannot be written: {e}"));
                }
                health.fail(
                    "audit",
                    format!("{e}; decisions wait until the audit trail can be written"),
                );
                tokio::time::sleep(backoff.delay()).await;
            }
        }
    };
    health.clear("audit");
    positions
}
