//! The NATS transport of `arbiter serve`.
//!
//! Proposals are held in a JetStream stream and read through a durable pull consumer; a window
//! opens with the first proposal and closes after `window` or `max_window` proposals, and is
//! decided by the coordinator. For every proposal the decision is first appended to the audit trail, then
//! published to the decisions stream (with a message id, so a republished decision is
//! deduplicated), and only then is the proposal acknowledged. An arbiter killed at any moment
//! therefore loses no accepted proposal: unacknowledged ones are redelivered, and the ledger —
//! seeded from the audit trail on start — answers them with the decision already given.

use super::Message as BusMessage;
use crate::approval::{ApprovalError, Approver, Approvers, Escalations, Pending};
use crate::audit::{recorded_decisions, AuditError, AuditLog, Event};
use crate::contract::Decision;
use crate::contract::{Observation, Telemetry, Timestamp};
use crate::coordinator::Coordinator;
use crate::world::World;
use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::time::Duration;

pub const PROPOSALS_STREAM: &str = "ARBITER_PROPOSALS";
pub const DECISIONS_STREAM: &str = "ARBITER_DECISIONS";
pub const CONSUMER: &str = "arbiter";
/// How long a delivered proposal may stay unacknowledged before JetStream delivers it again:
/// ample for deciding, auditing and publishing a window, short enough that proposals held by
/// a crashed arbiter are decided soon after it restarts.
pub const ACK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("NATS/JetStream: {0}")]
    Nats(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

fn nats<E: std::fmt::Display>(e: E) -> NatsError {
    NatsError::Nats(e.to_string())
}

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub url: String,
    /// Longest wait for more proposals to join a window.
    pub window: Duration,
    /// Most proposals in one window.
    pub max_window: usize,
    pub audit: Option<PathBuf>,
    /// The intents directory to watch: a changed file is validated and applied, an invalid
    /// one refused (the last good intents stay in force); both are audited.
    pub intents_dir: Option<PathBuf>,
}

/// How often the intents directory is checked for changes.
const INTENT_POLL: Duration = Duration::from_millis(250);

/// A fingerprint of every `*.toml` in the directory: names and contents.
fn intents_fingerprint(dir: &std::path::Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "toml"));
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend_from_slice(f.display().to_string().as_bytes());
        all.extend_from_slice(&std::fs::read(&f).unwrap_or_default());
    }
    crate::hash::sha256(&all)
}

/// Connects to `url`; `nats://user:password@host:port` logs in with those credentials (the
/// client library does not read them from the URL by itself).
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("nats", url));
    let result = match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
                .connect(format!("{scheme}://{host}"))
                .await
        }
        None => async_nats::connect(url).await,
    };
    result.map_err(|e| NatsError::Connect {
        url: redact(url),
        message: e.to_string(),
    })
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let parts = url
        .split_once("://")
        .and_then(|(s, r)| r.rsplit_once('@').map(|(u, h)| (s, u, h)));
    match parts {
        Some((scheme, userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// Records an outcome whose subject tokens match its payload; anything else is reported and
/// dropped (an outcome cannot be answered: there is no decision to send).
fn record_outcome(
    coordinator: &mut Coordinator,
    log: Option<&mut AuditLog>,
    subject: &str,
    payload: &[u8],
) -> Result<(), NatsError> {
    let outcome = match crate::contract::parse_outcome(payload) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("outcome on {subject} refused: {e}");
            return Ok(());
        }
    };
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.len() != 4 || tokens[3] != outcome.agent {
        eprintln!(
            "outcome on {subject} refused: the subject does not match agent {}",
            outcome.agent
        );
        return Ok(());
    }
    let key = format!("{}/{}", outcome.agent, outcome.proposal_id);
    coordinator.in_flight.retain(|t| t.change.key != key);
    let status = serde_json::to_value(outcome.status).map_err(nats)?;
    metrics::counter!("arbiter_outcomes_total", "status" => status.as_str().unwrap_or("").to_string()).increment(1);
    if let Some(log) = log {
        let status = serde_json::to_value(outcome.status).map_err(nats)?;
        log.append(
            outcome.at,
            Event::Outcome {
                agent: outcome.agent,
                proposal_id: outcome.proposal_id,
                status: status.as_str().unwrap_or("").to_string(),
                observed: serde_json::to_value(&outcome.observed).map_err(nats)?,
            },
        )?;
    }
    Ok(())
}

/// The service's state, shared by the decision loop and the HTTP API.
pub struct Shared {
    pub coordinator: Coordinator,
    pub log: Option<AuditLog>,
    pub escalations: Escalations,
    pub approvers: Approvers,
    js: jetstream::Context,
}

impl Shared {
    /// Records a decision (unless it is a replay already recorded), then publishes it on its
    /// agent's decisions subject and waits for the stream to store it.
    pub async fn deliver(
        &mut self,
        now: Timestamp,
        proposal: serde_json::Value,
        d: Decision,
    ) -> Result<Decision, NatsError> {
        let subject = self.subject_for(&d);
        self.deliver_to(&subject, now, proposal, d).await
    }

    /// Like [`Shared::deliver`], to an explicit subject (the one the coordinator chose).
    pub async fn deliver_to(
        &mut self,
        subject: &str,
        now: Timestamp,
        proposal: serde_json::Value,
        mut d: Decision,
    ) -> Result<Decision, NatsError> {
        if d.audit.is_none() {
            if let Some(log) = self.log.as_mut() {
                let event = Event::Decision {
                    proposal,
                    knew: serde_json::Value::Null,
                    decision: Box::new(d.clone()),
                };
                d.audit = Some(log.append(now, event)?);
            }
            self.coordinator.ledger.record(&d);
        }
        self.publish(subject, &d).await?;
        Ok(d)
    }

    async fn publish(&self, subject: &str, d: &Decision) -> Result<(), NatsError> {
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
            .map_err(nats)?
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// `arbiter.decisions.<domain>.<agent>`, the domain taken from the agent's role.
    fn subject_for(&self, d: &Decision) -> String {
        let domain = self
            .escalation_domain(d)
            .unwrap_or_else(|| "unknown".to_string());
        super::decisions_subject(&domain, &d.agent)
    }

    fn escalation_domain(&self, d: &Decision) -> Option<String> {
        self.coordinator
            .roles
            .agents
            .get(&d.agent)
            .and_then(|r| r.domains.first())
            .map(|d| d.as_str().to_string())
    }

    /// Audits a person's answer, delivers the final decision, and puts an approved change in
    /// flight.
    pub async fn answer(
        &mut self,
        approver: &Approver,
        key: &str,
        approve: bool,
        comment: &str,
    ) -> Result<Result<Decision, ApprovalError>, NatsError> {
        let now = Timestamp::from_datetime(chrono::Utc::now());
        let (pending, final_decision) = match self.escalations.answer(
            &self.coordinator.roles,
            approver,
            key,
            approve,
            comment,
            now,
        ) {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(log) = self.log.as_mut() {
            log.append(
                now,
                Event::Approval {
                    agent: pending.proposal.agent.clone(),
                    proposal_id: pending.proposal.id.clone(),
                    approver: approver.name.clone(),
                    approve,
                    comment: comment.to_string(),
                },
            )?;
        }
        let proposal = serde_json::to_value(&pending.proposal).map_err(nats)?;
        let d = self.deliver(now, proposal, final_decision).await?;
        if approve {
            let change = crate::engine::InFlight {
                key: pending.proposal.key(),
                domain: pending.proposal.domain,
                action: pending.proposal.action.clone(),
            };
            self.coordinator.approved_by_human(change, now);
        }
        Ok(Ok(d))
    }
}

impl Shared {
    /// A person pulls a kill switch or sets the global freeze; recorded in the audit trail.
    pub fn control(
        &mut self,
        approver: &Approver,
        action: &str,
        target: &str,
    ) -> Result<Result<(), String>, NatsError> {
        if let Err(e) = self.coordinator.controls.apply(action, target) {
            return Ok(Err(e));
        }
        if let Some(log) = self.log.as_mut() {
            log.append(
                Timestamp::from_datetime(chrono::Utc::now()),
                Event::Control {
                    action: action.to_string(),
                    detail: format!("{target} (by {})", approver.name),
                },
            )?;
        }
        Ok(Ok(()))
    }
}

/// Kill switches and freezes in force according to an audit trail.
fn controls_in(records: &[crate::audit::Record]) -> crate::coordinator::Controls {
    let mut c = crate::coordinator::Controls::default();
    for r in records {
        if let Event::Control { action, detail } = &r.event {
            let target = detail.split(" (by ").next().unwrap_or("");
            let _ = c.apply(action, target);
        }
    }
    c
}

/// Escalations still waiting in an audit trail: escalated and not yet answered or expired.
fn waiting_escalations(records: &[crate::audit::Record], coordinator: &Coordinator) -> Escalations {
    let mut e = Escalations::default();
    for r in records {
        if let Event::Decision {
            proposal, decision, ..
        } = &r.event
        {
            let key = format!("{}/{}", decision.agent, decision.proposal_id);
            if decision.verdict == crate::contract::Verdict::Escalated {
                let Ok(p) = crate::contract::parse_proposal(proposal.to_string().as_bytes()) else {
                    continue;
                };
                let timeout = coordinator
                    .intents
                    .in_force(decision.decided_at)
                    .map_or(900, |i| i.escalation.timeout_s);
                let mut d = (**decision).clone();
                d.audit = Some(crate::contract::AuditRef {
                    seq: r.seq,
                    hash: r.hash.clone(),
                    prev: r.prev.clone(),
                });
                e.pending.insert(
                    key,
                    Pending {
                        proposal: p,
                        decision: d,
                        deadline: decision.decided_at.plus_millis(timeout as i64 * 1000),
                    },
                );
            } else {
                e.pending.remove(&key);
            }
        }
    }
    e
}

/// Runs until the connection fails. `http`, if given, serves the approvals API; `ready` is
/// called once streams, consumer and listener exist.
pub async fn serve(
    cfg: ServeConfig,
    coordinator: Coordinator,
    approvers: Approvers,
    http: Option<std::net::TcpListener>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ready: impl FnOnce(),
) -> Result<(), NatsError> {
    let is_ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = connect(&cfg.url).await?;
    let js = jetstream::new(client.clone());
    let proposals = js
        .get_or_create_stream(stream::Config {
            name: PROPOSALS_STREAM.into(),
            subjects: vec!["arbiter.proposals.>".into()],
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    js.get_or_create_stream(stream::Config {
        name: DECISIONS_STREAM.into(),
        subjects: vec!["arbiter.decisions.>".into()],
        ..Default::default()
    })
    .await
    .map_err(nats)?;
    let consumer = proposals
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                ..Default::default()
            },
        )
        .await
        .map_err(nats)?;
    // Observations update the world the engine sees, as they arrive.
    let telemetry = std::sync::Arc::new(std::sync::Mutex::new(Telemetry::default()));
    let mut feed = client
        .subscribe("arbiter.telemetry.>")
        .await
        .map_err(nats)?;
    let known: std::collections::HashSet<String> = coordinator
        .graph
        .services()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let shared_telemetry = telemetry.clone();
    tokio::spawn(async move {
        while let Some(m) = feed.next().await {
            let service = m
                .subject
                .as_str()
                .trim_start_matches("arbiter.telemetry.")
                .to_string();
            match serde_json::from_slice::<Observation>(&m.payload) {
                Ok(o) if known.contains(&service) && o.bad_numbers().is_empty() => {
                    shared_telemetry
                        .lock()
                        .expect("telemetry lock")
                        .services
                        .insert(service, o);
                }
                _ => eprintln!(
                    "telemetry for `{service}` ignored: not a valid observation of a known service"
                ),
            }
        }
    });
    // Outcomes reported by agents: recorded, and their change is no longer in flight.
    let (outcomes_tx, mut outcomes) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(1024);
    let mut outcome_feed = client.subscribe("arbiter.outcomes.>").await.map_err(nats)?;
    tokio::spawn(async move {
        while let Some(m) = outcome_feed.next().await {
            if outcomes_tx
                .send((m.subject.to_string(), m.payload.to_vec()))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let mut coordinator = coordinator;
    let (log, escalations) = match &cfg.audit {
        Some(path) => {
            for d in recorded_decisions(path)? {
                coordinator.ledger.record(&d);
            }
            let log = AuditLog::open(path)?;
            let records = crate::audit::records(path)?;
            let waiting = waiting_escalations(&records, &coordinator);
            coordinator.controls = controls_in(&records);
            (Some(log), waiting)
        }
        None => (None, Escalations::default()),
    };
    let state = std::sync::Arc::new(tokio::sync::Mutex::new(Shared {
        coordinator,
        log,
        escalations,
        approvers,
        js,
    }));
    if let Some(listener) = http {
        listener.set_nonblocking(true).map_err(nats)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(nats)?;
        let app = crate::api::router(crate::api::AppState {
            shared: state.clone(),
            metrics,
            ready: is_ready.clone(),
        });
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("HTTP API stopped: {e}");
            }
        });
    }
    let mut incoming = consumer.messages().await.map_err(nats)?;
    let mut seen_intents = cfg.intents_dir.as_deref().map(intents_fingerprint);
    let mut next_poll = tokio::time::Instant::now() + INTENT_POLL;
    is_ready.store(true, std::sync::atomic::Ordering::Release);
    ready();
    loop {
        {
            let mut guard = state.lock().await;
            let st = &mut *guard;
            while let Ok((subject, payload)) = outcomes.try_recv() {
                record_outcome(&mut st.coordinator, st.log.as_mut(), &subject, &payload)?;
            }
            // Escalations nobody answered in time.
            let now = Timestamp::from_datetime(chrono::Utc::now());
            for (pending, d) in st.escalations.expire(now) {
                let proposal = serde_json::to_value(&pending.proposal).map_err(nats)?;
                st.deliver(now, proposal, d).await?;
            }
            if let (Some(dir), true) = (
                cfg.intents_dir.as_deref(),
                tokio::time::Instant::now() >= next_poll,
            ) {
                next_poll = tokio::time::Instant::now() + INTENT_POLL;
                let now_fp = intents_fingerprint(dir);
                if seen_intents.as_deref() != Some(now_fp.as_str()) {
                    seen_intents = Some(now_fp);
                    let (action, detail) = match crate::intent::load_dir(dir) {
                        Ok(loaded) => {
                            let versions: Vec<String> = loaded
                                .intents
                                .iter()
                                .map(|i| format!("{} {}", i.name, i.version))
                                .collect();
                            st.coordinator.intents = crate::intent::IntentSet::new(loaded.intents);
                            st.coordinator.roles = loaded.roles;
                            st.approvers = loaded.approvers;
                            ("intents_reloaded", versions.join(", "))
                        }
                        Err(errors) => {
                            let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                            eprintln!(
                                "intents refused, the previous ones stay in force:\n{}",
                                text.join("\n")
                            );
                            ("intents_refused", text.join("; "))
                        }
                    };
                    if let Some(log) = st.log.as_mut() {
                        log.append(
                            now,
                            Event::Control {
                                action: action.into(),
                                detail,
                            },
                        )?;
                    }
                }
            }
        }
        // A window opens with the first proposal and closes after `window` or `max_window`.
        let first = match tokio::time::timeout(INTENT_POLL, incoming.next()).await {
            Err(_) => continue, // nothing arrived: look at the intents again
            Ok(next) => next,
        };
        let first = match first {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                eprintln!("pull error (retrying): {e}");
                continue;
            }
            None => {
                // The pull stream ended (the server went away for good): open a new one as
                // soon as the consumer can be reached again.
                tokio::time::sleep(Duration::from_millis(200)).await;
                match consumer.messages().await {
                    Ok(m) => incoming = m,
                    Err(e) => eprintln!("reopening the proposal consumer (retrying): {e}"),
                }
                continue;
            }
        };
        let mut msgs = vec![first];
        let close = tokio::time::Instant::now() + cfg.window;
        while msgs.len() < cfg.max_window {
            match tokio::time::timeout_at(close, incoming.next()).await {
                Ok(Some(Ok(m))) => msgs.push(m),
                _ => break,
            }
        }
        let snapshot = telemetry.lock().expect("telemetry lock").clone();
        let now = Timestamp::from_datetime(chrono::Utc::now());
        let mut guard = state.lock().await;
        let st = &mut *guard;
        let world = World::observed(&st.coordinator.graph, &snapshot).map_err(nats)?;
        let inbox: Vec<BusMessage> = msgs
            .iter()
            .map(|m| BusMessage {
                subject: m.subject.to_string(),
                payload: m.payload.to_vec(),
            })
            .collect();
        let started = std::time::Instant::now();
        let decided = st.coordinator.decide(now, &world, &inbox);
        metrics::histogram!("arbiter_decision_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("arbiter_window_size").record(inbox.len() as f64);
        for (subject, d) in &decided {
            let domain = subject.split('.').nth(2).unwrap_or("unknown").to_string();
            metrics::counter!("arbiter_decisions_total", "verdict" => d.verdict.as_str(), "domain" => domain).increment(1);
        }
        for ((subject, d), (m, raw)) in decided.into_iter().zip(msgs.iter().zip(&inbox)) {
            let proposal = serde_json::from_slice(&raw.payload).unwrap_or_else(|_| {
                serde_json::Value::String(
                    String::from_utf8_lossy(&raw.payload)
                        .chars()
                        .take(4096)
                        .collect(),
                )
            });
            let fresh = d.audit.is_none();
            let d = st.deliver_to(&subject, now, proposal, d).await?;
            if fresh && d.verdict == crate::contract::Verdict::Escalated {
                if let Ok(p) = crate::contract::parse_proposal(&raw.payload) {
                    let timeout = st
                        .coordinator
                        .intents
                        .in_force(now)
                        .map_or(900, |i| i.escalation.timeout_s);
                    st.escalations.pending.insert(
                        p.key(),
                        Pending {
                            proposal: p,
                            decision: d.clone(),
                            deadline: now.plus_millis(timeout as i64 * 1000),
                        },
                    );
                }
            }
            m.ack().await.map_err(nats)?;
        }
        metrics::gauge!("arbiter_pending_approvals").set(st.escalations.pending.len() as f64);
        metrics::gauge!("arbiter_changes_in_flight").set(st.coordinator.in_flight.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_appear_in_messages() {
        assert_eq!(
            super::redact("nats://agent:s3cret@10.0.0.1:4222"),
            "nats://agent:***@10.0.0.1:4222"
        );
        assert_eq!(
            super::redact("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
    }
}
