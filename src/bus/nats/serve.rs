//! The decision loop of `arbiter serve`.

use super::feeds;
use super::reload::{IntentWatch, INTENT_POLL};
use super::restore::{controls_in, waiting_escalations};
use super::shared::{Delivery, Shared};
use super::{connect, nats, NatsError, ServeConfig, ACK_WAIT, CONSUMER};
use super::{DECISIONS_STREAM, PROPOSALS_STREAM};
use crate::approval::{Approvers, Escalations, Pending};
use crate::audit::{recorded_decisions, AuditLog};
use crate::bus::Message as BusMessage;
use crate::contract::{Timestamp, Verdict};
use crate::coordinator::Coordinator;
use crate::world::World;
use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs until the connection fails. `http`, if given, serves the API; `ready` is called once
/// streams, consumer and listener exist.
pub async fn serve(
    cfg: ServeConfig,
    coordinator: Coordinator,
    approvers: Approvers,
    http: Option<std::net::TcpListener>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ready: impl FnOnce(),
) -> Result<(), NatsError> {
    let is_ready = Arc::new(AtomicBool::new(false));
    let client = connect(&cfg.url).await?;
    let js = jetstream::new(client.clone());
    let consumer = streams_and_consumer(&js).await?;
    let known = coordinator
        .graph
        .services()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let telemetry = feeds::telemetry(&client, known).await?;
    let mut outcomes = feeds::outcomes(&client).await?;
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
    let state = Arc::new(tokio::sync::Mutex::new(Shared {
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
                tracing::error!("HTTP API stopped: {e}");
            }
        });
    }
    let mut incoming = consumer.messages().await.map_err(nats)?;
    let mut intents = cfg.intents_dir.as_deref().map(IntentWatch::new);
    is_ready.store(true, Ordering::Release);
    ready();
    loop {
        {
            let mut guard = state.lock().await;
            let st = &mut *guard;
            while let Ok((subject, payload)) = outcomes.try_recv() {
                st.record_outcome(&subject, &payload)?;
            }
            let now = Timestamp::from_datetime(chrono::Utc::now());
            for (pending, d) in st.escalations.expire(now) {
                let proposal = serde_json::to_value(&pending.proposal).map_err(nats)?;
                st.deliver(now, proposal, d).await?;
            }
            if let Some(w) = intents.as_mut() {
                w.poll(st, now)?;
            }
        }
        // A window opens with the first proposal and closes after `window` or `max_window`.
        let first = match tokio::time::timeout(INTENT_POLL, incoming.next()).await {
            Err(_) => continue, // nothing arrived: look at outcomes and intents again
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => {
                tracing::warn!("pull error (retrying): {e}");
                continue;
            }
            Ok(None) => {
                // The pull stream ended (the server went away for good): open a new one as
                // soon as the consumer can be reached again.
                tokio::time::sleep(Duration::from_millis(200)).await;
                match consumer.messages().await {
                    Ok(m) => incoming = m,
                    Err(e) => tracing::warn!("reopening the proposal consumer (retrying): {e}"),
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
        let mut guard = state.lock().await;
        decide_window(&mut guard, &snapshot, &msgs).await?;
    }
}

async fn streams_and_consumer(
    js: &jetstream::Context,
) -> Result<jetstream::consumer::Consumer<pull::Config>, NatsError> {
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
    proposals
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
        .map_err(nats)
}

/// Decides one window, delivers its decisions (audit, then stream), queues new escalations,
/// and only then acknowledges its proposals.
async fn decide_window(
    st: &mut Shared,
    snapshot: &crate::contract::Telemetry,
    msgs: &[jetstream::Message],
) -> Result<(), NatsError> {
    let received = std::time::Instant::now();
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let world = World::observed(&st.coordinator.graph, snapshot).map_err(nats)?;
    let inbox: Vec<BusMessage> = msgs
        .iter()
        .map(|m| BusMessage {
            subject: m.subject.to_string(),
            payload: m.payload.to_vec(),
        })
        .collect();
    let window = tracing::info_span!("window", size = inbox.len());
    let _entered = window.enter();
    let started = std::time::Instant::now();
    let decided = st.coordinator.decide(now, &world, &inbox);
    metrics::histogram!("arbiter_decision_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("arbiter_window_size").record(inbox.len() as f64);
    if let Some(info) = msgs.last().and_then(|m| m.info().ok()) {
        metrics::gauge!("arbiter_queue_depth").set(info.pending as f64);
    }
    let mut spans = Vec::with_capacity(decided.len());
    let mut batch = Vec::with_capacity(decided.len());
    for ((subject, d), raw) in decided.into_iter().zip(&inbox) {
        let span = tracing::info_span!(
            "proposal",
            agent = %d.agent,
            id = %d.proposal_id,
            verdict = d.verdict.as_str()
        );
        tracing::debug!(parent: &span, reasons = ?d.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), "decided");
        spans.push(span);
        let domain = subject.split('.').nth(2).unwrap_or("unknown").to_string();
        metrics::counter!("arbiter_decisions_total", "verdict" => d.verdict.as_str(), "domain" => domain).increment(1);
        let proposal = serde_json::from_slice(&raw.payload).unwrap_or_else(|_| {
            // Kept as text (bounded) so the record shows what arrived.
            serde_json::Value::String(
                String::from_utf8_lossy(&raw.payload)
                    .chars()
                    .take(4096)
                    .collect(),
            )
        });
        let knew = crate::contract::parse_proposal(&raw.payload)
            .ok()
            .and_then(|p| st.coordinator.graph.index_of(p.action.service()))
            .map(|s| world.knew(&st.coordinator.graph, s))
            .unwrap_or(serde_json::Value::Null);
        batch.push(Delivery {
            subject,
            proposal,
            knew,
            decision: d,
        });
    }
    let fresh: Vec<bool> = batch.iter().map(|b| b.decision.audit.is_none()).collect();
    let delivered = st.deliver_all(now, batch).await?;
    for (((d, is_fresh), raw), span) in delivered.into_iter().zip(fresh).zip(&inbox).zip(&spans) {
        tracing::debug!(parent: span, seq = d.audit.as_ref().map_or(0, |a| a.seq), "recorded and published");
        if !(is_fresh && d.verdict == Verdict::Escalated) {
            continue;
        }
        if let Ok(p) = crate::contract::parse_proposal(&raw.payload) {
            let timeout = st.coordinator.escalation_timeout_s(now);
            st.escalations.pending.insert(
                p.key(),
                Pending {
                    proposal: p,
                    decision: d,
                    deadline: now.plus_millis(timeout as i64 * 1000),
                },
            );
        }
    }
    for (m, span) in msgs.iter().zip(&spans) {
        m.ack().await.map_err(nats)?;
        tracing::debug!(parent: span, "acknowledged");
    }
    metrics::histogram!("arbiter_window_seconds").record(received.elapsed().as_secs_f64());
    metrics::gauge!("arbiter_pending_approvals").set(st.escalations.pending.len() as f64);
    metrics::gauge!("arbiter_changes_in_flight").set(st.coordinator.in_flight.len() as f64);
    Ok(())
}
