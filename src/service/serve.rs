//! The decision loop of `arbiter serve`.

use super::feeds;
use super::queue::EscalationQueue;
use super::reload::{IntentWatch, INTENT_POLL};
use super::restore::{open_trail, Restored};
use super::shared::{Delivery, Shared, Stored};
use super::{connect_watched, nats, NatsError, ServeConfig, ACK_WAIT, CONSUMER};
use super::{DECISIONS_STREAM, PROPOSALS_STREAM};
use crate::approval::{Approvers, Pending};
use crate::bus::Message as BusMessage;
use crate::contract::{Timestamp, Verdict};
use crate::coordinator::Coordinator;
use crate::health::{Backoff, Health};
use crate::rollback::RollbackWatch;
use crate::world::World;
use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Runs until the process is stopped. `http`, if given, serves the API; `ready` is called
/// once streams, consumer and listener exist. A fault that may pass (NATS unreachable or
/// timing out, the audit disk full) makes the service unready and retried with backoff,
/// never ends it, at start as later; only what cannot pass by waiting (a broken audit
/// chain, an HTTP address that cannot be served) is returned as an error.
pub async fn serve(
    cfg: ServeConfig,
    coordinator: Coordinator,
    approvers: Approvers,
    http: Option<std::net::TcpListener>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ready: impl FnOnce(),
) -> Result<(), NatsError> {
    let health = Arc::new(Health::starting());
    lead(
        cfg,
        Beginning::Restore(Box::new(coordinator)),
        approvers,
        http,
        metrics,
        None,
        health,
        ready,
    )
    .await
}

/// A replica that holds the lease, with the replicated trail it has read to its end.
pub struct Replication {
    pub mirror: super::mirror::Mirror,
    pub lease: super::lease::Lease,
}

/// Where the state a leader decides with comes from.
pub enum Beginning {
    /// Rebuilt from the audit trail (if there is one) into this coordinator: a start.
    Restore(Box<Coordinator>),
    /// Folded already, record by record, by a standby that has read the trail to its end.
    Folded(Box<super::fold::Folded>),
}

/// [`serve`], as the only instance or as the replica holding the lease.
#[allow(clippy::too_many_arguments)]
pub(super) async fn lead(
    cfg: ServeConfig,
    beginning: Beginning,
    approvers: Approvers,
    http: Option<std::net::TcpListener>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    replication: Option<Replication>,
    health: Arc<Health>,
    ready: impl FnOnce(),
) -> Result<(), NatsError> {
    // Until the state is rebuilt, /healthz and /readyz answer alone (saying what is awaited:
    // the NATS server, or how far the trail has been read); the rest of the API opens after.
    let (http, early) = match http {
        Some(listener) => {
            listener.set_nonblocking(true).map_err(nats)?;
            let early = listener.try_clone().map_err(nats)?;
            (
                Some(listener),
                Some(serve_health_only(early, health.clone())?),
            )
        }
        None => (None, None),
    };
    let known = match &beginning {
        Beginning::Restore(c) => c,
        Beginning::Folded(f) => &f.coordinator,
    }
    .graph
    .services()
    .iter()
    .map(|s| s.name.clone())
    .collect();
    // A NATS server that is not up yet may be soon (both started together): wait for it.
    let Attached {
        client,
        consumer,
        telemetry,
        observations,
        outcomes,
    } = until_attached(&health, "", || attach(&cfg, &health, &known)).await;
    let js = jetstream::new(client.clone());
    let (coordinator, watch, mut restored) = match (beginning, cfg.audit.clone()) {
        (Beginning::Folded(f), _) => (f.coordinator, f.watch, f.restored),
        (Beginning::Restore(coordinator), Some(path)) => {
            let o = open_trail(&cfg, path, *coordinator, &health).await?;
            (o.coordinator, o.watch, o.restored)
        }
        (Beginning::Restore(coordinator), None) => (
            *coordinator,
            RollbackWatch::new(cfg.rollback_watch),
            Restored::default(),
        ),
    };
    // The fold the sealer carries on over what this process writes: the state rebuilt so
    // far, which is the fold of the trail up to its last record.
    let shadow = match (&restored.index, &restored.log) {
        (Some(index), Some(log)) => Some(super::checkpoint::Shadow::from_checkpoint(
            super::checkpoint::Checkpoint::take(&coordinator, &watch, &restored, log.position()),
            &coordinator,
            index.clone(),
        )),
        _ => None,
    };
    if let Some(early) = early {
        early.end().await;
    }
    // The queue of waiting escalations is copied to a key-value bucket; the audit trail's
    // account of what waits settles any difference a crash left, in the background.
    let (queue, escalations) = until_attached(&health, "the escalations bucket: ", || async {
        let queue = EscalationQueue::open(&js, cfg.stream_limits).await?;
        let waiting = match &cfg.audit {
            Some(_) => {
                queue.reconcile(restored.escalations.clone());
                None
            }
            None => Some(queue.waiting().await?),
        };
        Ok::<_, NatsError>((queue, waiting))
    })
    .await;
    let escalations = escalations.unwrap_or(restored.escalations);
    let (sealer, sealed) = tokio::sync::mpsc::unbounded_channel();
    // Segments sealed before this start and not indexed yet: the sealer's first work.
    for segment in std::mem::take(&mut restored.unindexed) {
        let _ = sealer.send(super::sealer::ToSeal::Sealed(segment));
    }
    let setup = crate::snapshot::Setup::of(&approvers, &coordinator);
    let (published, view) = crate::snapshot::channel(
        crate::snapshot::Snapshot::empty(Arc::new(setup)),
        restored.feed,
        escalations,
    );
    let (mirror, lease) = match replication {
        Some(r) => (Some(r.mirror), Some(r.lease)),
        None => (None, None),
    };
    let state = Arc::new(tokio::sync::Mutex::new(Shared {
        sealer: restored.index.as_ref().map(|_| sealer),
        coordinator,
        log: restored.log,
        queue,
        approvers,
        tracks: restored.tracks,
        watch,
        js,
        delivered: 0,
        audited: 0,
        last_observed: restored.last_observed,
        observed_whole_in: None,
        figures: restored.figures,
        published,
        health: health.clone(),
        mirror,
        lease: lease.clone(),
    }));
    if let Some(lease) = &lease {
        // Written first: from here on a replica that lost the lease cannot append to the
        // trail, so it cannot publish anything it still decides.
        let now = Timestamp::from_datetime(chrono::Utc::now());
        let marker = crate::audit::Event::Leader {
            replica: lease.replica().to_string(),
        };
        state.lock().await.write_durably(now, vec![marker]).await;
        health.set_role(crate::health::Role {
            role: "leader",
            replica: Some(lease.replica().to_string()),
            leader: Some(lease.replica().to_string()),
        });
        tracing::info!(replica = lease.replica(), "leading: deciding proposals");
    }
    state.lock().await.refresh_view(false);
    if let Some(handle) = metrics.clone() {
        tokio::spawn(crate::api::keep_metrics_bounded(handle));
    }
    if let Some(listener) = http {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(nats)?;
        let app = crate::api::router(crate::api::AppState {
            writes: Arc::new(super::writes::Leader {
                shared: state.clone(),
                health: health.clone(),
            }),
            view,
            metrics,
            health: health.clone(),
            telemetry: telemetry.clone(),
            audit: restored.index.clone(),
        });
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("HTTP API stopped: {e}");
            }
        });
    }
    if let (Some(index), Some(shadow)) = (restored.index.clone(), shadow) {
        let retention = cfg.retention.clone();
        tokio::spawn(super::sealer::run(
            sealed,
            index,
            shadow,
            retention,
            state.clone(),
        ));
    }
    let incoming = consumer.messages().await.map_err(nats)?;
    let mut running = Loop {
        intents: cfg.intents_dir.as_deref().map(IntentWatch::new),
        cfg,
        state,
        telemetry,
        observations,
        outcomes,
        consumer,
        incoming,
        acker: spawn_acker(),
        next_housekeeping: tokio::time::Instant::now(),
        next_ask: tokio::time::Instant::now(),
    };
    health.clear("starting");
    ready();
    let stop = stop_on_signal();
    let mut backoff = Backoff::default();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match running.step().await {
            Ok(()) => {
                if backoff.failed() {
                    health.clear("service");
                }
                backoff.reset();
            }
            Err(e) => {
                health.fail("service", format!("{e}; retrying"));
                tokio::time::sleep(backoff.delay()).await;
            }
        }
    }
    // Asked to stop, between two steps: every window decided is stored and its proposals
    // acknowledged before the process goes. Proposals delivered but not yet begun are left
    // unacknowledged and come back to whoever takes over after the acknowledgement wait.
    health.fail(
        "stopping",
        "asked to stop; finishing the windows in hand".to_string(),
    );
    let finished = tokio::time::timeout(STOP_GRACE, async {
        running.acker.finish().await;
        hand_back(running.incoming).await;
        let _ = client.flush().await;
    })
    .await;
    if let Some(lease) = &lease {
        lease.release().await;
    }
    match finished {
        Ok(()) => tracing::info!("stopped: every window decided is stored and acknowledged"),
        Err(_) => tracing::warn!(
            "stopped after {}s without reaching the NATS server: the proposals of the windows in \
             hand are redelivered to whoever takes over, which answers those already decided \
             from the audit trail",
            STOP_GRACE.as_secs()
        ),
    }
    Ok(())
}

/// How long a stop waits for the windows in hand to be stored and acknowledged. Without a
/// server to acknowledge to, it would wait until the server returned — and a supervisor that
/// asked the process to stop would have to kill it. Leaving is safe: every window decided is
/// in the audit trail before it is published, and what was not acknowledged comes back.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A flag raised by SIGTERM or SIGINT: the decision loop looks at it between steps, so a
/// window is never cut in half.
pub(super) fn stop_on_signal() -> Arc<std::sync::atomic::AtomicBool> {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let raised = flag.clone();
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        raised.store(true, std::sync::atomic::Ordering::Relaxed);
        STOP_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    flag
}

/// Whether this process was asked to stop: a leader that must step down then exits rather
/// than starting again as a standby, which would outlive the request.
static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(super) fn stop_requested() -> bool {
    STOP_REQUESTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// What the service needs of NATS: a client (its inbox prefix the arbiter's, its connection
/// watched), the proposal consumer on bounded streams, and the telemetry and outcome feeds.
struct Attached {
    client: async_nats::Client,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    telemetry: Arc<std::sync::Mutex<crate::contract::Telemetry>>,
    observations: feeds::Observations,
    outcomes: tokio::sync::mpsc::Receiver<(String, Vec<u8>)>,
}

async fn attach(
    cfg: &ServeConfig,
    health: &Arc<Health>,
    known: &std::collections::HashSet<String>,
) -> Result<Attached, NatsError> {
    let client = connect_watched(&cfg.url, health.clone()).await?;
    let js = jetstream::new(client.clone());
    let consumer = streams_and_consumer(&js, cfg.max_window, cfg.stream_limits).await?;
    let (telemetry, observations) = feeds::telemetry(&client, known.clone()).await?;
    let outcomes = feeds::outcomes(&client).await?;
    Ok(Attached {
        client,
        consumer,
        telemetry,
        observations,
        outcomes,
    })
}

/// Serves `/healthz` and `/readyz` alone on `listener` until told to stop.
/// Tries `attempt` until it succeeds, saying in readiness (`nats`) what is awaited: a server
/// not up yet, a stream or bucket the cluster cannot give now.
pub(super) async fn until_attached<T, F, Fut>(health: &Health, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, NatsError>>,
{
    let mut backoff = Backoff::default();
    loop {
        match attempt().await {
            Ok(done) => {
                health.clear("nats");
                return done;
            }
            Err(e) => {
                health.fail("nats", format!("{what}{e}; trying again"));
                tokio::time::sleep(backoff.delay()).await;
            }
        }
    }
}

pub(super) fn serve_health_only(
    listener: std::net::TcpListener,
    health: Arc<Health>,
) -> Result<Interim, NatsError> {
    serve_for_now(listener, crate::api::health_router(health))
}

/// An HTTP server on a copy of the service's listener until the service serves its own:
/// health while starting, a standby's read-only API.
pub(super) struct Interim {
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
}

impl Interim {
    /// Stops accepting at once; requests in hand get a second to finish.
    pub(super) async fn end(self) {
        let _ = self.stop.send(());
        let mut served = self.served;
        if tokio::time::timeout(std::time::Duration::from_secs(1), &mut served)
            .await
            .is_err()
        {
            served.abort();
        }
    }
}

pub(super) fn serve_for_now(
    listener: std::net::TcpListener,
    app: axum::Router,
) -> Result<Interim, NatsError> {
    let listener = tokio::net::TcpListener::from_std(listener).map_err(nats)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Interim { stop, served })
}

/// Proposals delivered to this process and not begun: handed back to the stream at once (a
/// negative acknowledgement), so whoever takes over decides them now rather than after the
/// acknowledgement wait. The pull requests go first: while one is open, the server delivers a
/// message handed back to the very process that is leaving.
async fn hand_back(mut incoming: pull::Stream) {
    use futures_util::FutureExt;
    let mut held = Vec::new();
    while let Some(Some(Ok(m))) = incoming.next().now_or_never() {
        held.push(m);
    }
    drop(incoming);
    let mut handed = 0;
    for m in held {
        if m.ack_with(jetstream::AckKind::Nak(None)).await.is_ok() {
            handed += 1;
        }
    }
    if handed > 0 {
        tracing::info!(handed, "handed back proposals not begun");
    }
}

/// The decision loop's own state: what it reads from and where decided windows go.
struct Loop {
    cfg: ServeConfig,
    state: Arc<tokio::sync::Mutex<Shared>>,
    telemetry: Arc<std::sync::Mutex<crate::contract::Telemetry>>,
    observations: feeds::Observations,
    outcomes: tokio::sync::mpsc::Receiver<(String, Vec<u8>)>,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    incoming: pull::Stream,
    acker: Acker,
    intents: Option<IntentWatch>,
    next_housekeeping: tokio::time::Instant,
    /// When to look for services short of their planned capacity again (`asks.rs`).
    next_ask: tokio::time::Instant,
}

impl Loop {
    /// One turn: outcomes and housekeeping, then one observation or one window. An error
    /// leaves everything as it was before the failed step, so the step can be taken again.
    async fn step(&mut self) -> Result<(), NatsError> {
        {
            let mut guard = self.state.lock().await;
            let st = &mut *guard;
            let mut outcomes = false;
            while let Ok((subject, payload)) = self.outcomes.try_recv() {
                st.record_outcome(&subject, &payload).await?;
                outcomes = true;
            }
            // Expired escalations and changed intents are looked for every INTENT_POLL, not
            // every window: both scans cost more than a busy window can afford.
            if tokio::time::Instant::now() >= self.next_housekeeping {
                self.next_housekeeping = tokio::time::Instant::now() + INTENT_POLL;
                let now = Timestamp::from_datetime(chrono::Utc::now());
                st.expire_escalations(now).await?;
                if tokio::time::Instant::now() >= self.next_ask {
                    self.next_ask = tokio::time::Instant::now() + super::asks::LOOK_EVERY;
                    let telemetry = self.telemetry.lock().expect("telemetry lock").clone();
                    st.ask_for_capacity(&telemetry, now).await?;
                }
                if let Some(w) = self.intents.as_mut() {
                    w.poll(st, now).await?;
                }
            }
            // Expiries and reloads publish their own view; outcomes change track records.
            if outcomes {
                st.refresh_view(false);
            }
        }
        // A window opens with the first proposal and closes after `window` or `max_window`.
        // Observations are looked at as they arrive, between windows.
        let next = tokio::select! {
            biased;
            Some((service, obs)) = self.observations.recv() => {
                let now = Timestamp::from_datetime(chrono::Utc::now());
                let mut st = self.state.lock().await;
                st.observed(&service, &obs, now).await?;
                st.refresh_view(false);
                return Ok(());
            }
            next = tokio::time::timeout(INTENT_POLL, self.incoming.next()) => next,
        };
        let first = match next {
            Err(_) => return Ok(()), // nothing arrived: look at outcomes and intents again
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => {
                tracing::warn!("pull error (retrying): {e}");
                return Ok(());
            }
            Ok(None) => {
                // The pull stream ended (the server went away for good): open a new one as
                // soon as the consumer can be reached again.
                self.incoming = self.consumer.messages().await.map_err(|e| {
                    NatsError::Nats(format!("reopening the proposal consumer: {e}"))
                })?;
                return Ok(());
            }
        };
        // The window opened when the stream took its first proposal: one that waited while
        // the window before was decided has had its wait, and only what arrived meanwhile
        // joins it. (A clock ahead of the server's shortens no window below nothing, and one
        // behind lengthens none beyond `window`.)
        let waited = first.info().map_or(Duration::ZERO, |i| {
            since_unix_nanos(i.published.unix_timestamp_nanos())
        });
        let close = tokio::time::Instant::now() + self.cfg.window.saturating_sub(waited);
        let mut msgs = vec![first];
        while msgs.len() < self.cfg.max_window {
            match tokio::time::timeout_at(close, self.incoming.next()).await {
                Ok(Some(Ok(m))) => msgs.push(m),
                _ => break,
            }
        }
        let snapshot = self.telemetry.lock().expect("telemetry lock").clone();
        let backlog = msgs
            .last()
            .and_then(|m| m.info().ok())
            .map_or(0, |i| i.pending);
        metrics::gauge!("arbiter_queue_depth").set(backlog as f64);
        let overload = (backlog > self.cfg.shed_above).then(|| {
            format!(
                "{backlog} proposals wait behind this one; the limit is {}",
                self.cfg.shed_above
            )
        });
        let mut guard = self.state.lock().await;
        // A window that fails after it was decided is not acknowledged: its proposals come
        // again, and the ledger answers them with the decisions already recorded.
        let done = decide_window(&mut guard, &snapshot, &msgs, overload.as_deref()).await?;
        drop(guard);
        if self.acker.tx.send((done, msgs)).await.is_err() {
            self.acker = spawn_acker();
            return Err(NatsError::Nats(
                "the acknowledging task stopped; started again".into(),
            ));
        }
        Ok(())
    }
}

/// How long ago, by this machine's clock, a time given in nanoseconds since the epoch was;
/// nothing for a time ahead of it.
fn since_unix_nanos(nanos: i128) -> Duration {
    let now = chrono::Utc::now()
        .timestamp_nanos_opt()
        .map_or(i128::MAX, i128::from);
    Duration::from_nanos(u64::try_from(now.saturating_sub(nanos)).unwrap_or(0))
}

async fn streams_and_consumer(
    js: &jetstream::Context,
    max_window: usize,
    limits: super::StreamLimits,
) -> Result<jetstream::consumer::Consumer<pull::Config>, NatsError> {
    // Both streams keep what was decided (for replays and for agents that missed a
    // decision) and drop their oldest when full. The proposals waiting to be decided are the
    // newest: shedding (`--shed-above`) answers a backlog long before it nears the limit, so
    // what a full stream drops has been decided. (Refusing new proposals when full instead
    // would stop the service once the stream held a day of decided ones.)
    let bounded = |name: &str, subjects: &str, replicas: usize| stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        storage: stream::StorageType::File,
        max_bytes: limits.max_bytes,
        max_age: limits.max_age,
        discard: stream::DiscardPolicy::Old,
        num_replicas: replicas,
        ..Default::default()
    };
    // Created or brought to the declared limits: a stream left by an earlier start, or by
    // an earlier version without limits, is updated in place. On a cluster each is kept on
    // up to three servers, so losing one loses no proposal and no decision.
    let proposals = super::replicated(js, PROPOSALS_STREAM, |r| {
        js.create_or_update_stream(bounded(PROPOSALS_STREAM, crate::bus::PROPOSALS, r))
    })
    .await
    .map_err(nats)?;
    super::replicated(js, DECISIONS_STREAM, |r| {
        js.create_or_update_stream(bounded(DECISIONS_STREAM, crate::bus::DECISIONS, r))
    })
    .await
    .map_err(nats)?;
    let proposals = js.get_stream(&proposals.config.name).await.map_err(nats)?;
    let config = pull::Config {
        durable_name: Some(CONSUMER.into()),
        // Each proposal is acknowledged on its own, once its decision is stored. A
        // cumulative acknowledgement would let a restarted instance, acknowledging its first
        // window, also acknowledge the proposals a crashed one still held undecided.
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        // Enough for the windows being stored and the one being decided; also the
        // most proposals the service holds in memory at once.
        max_ack_pending: ((WINDOWS_IN_FLIGHT + 2) * max_window) as i64,
        ..Default::default()
    };
    match proposals.consumer_info(CONSUMER).await {
        Ok(info) if info.config.ack_policy != jetstream::consumer::AckPolicy::Explicit => {
            // A consumer left by an earlier version acknowledged cumulatively; its policy
            // cannot be changed in place. It is replaced by one that starts after the last
            // proposal it had acknowledged, so nothing is skipped and nothing decided again.
            let resume = info.ack_floor.stream_sequence + 1;
            tracing::info!(resume, "replacing the cumulative proposal consumer");
            proposals.delete_consumer(CONSUMER).await.map_err(nats)?;
            proposals
                .create_consumer(pull::Config {
                    deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: resume,
                    },
                    ..config
                })
                .await
                .map_err(nats)
        }
        _ => proposals
            .get_or_create_consumer(CONSUMER, config)
            .await
            .map_err(nats),
    }
}

/// Windows recorded and published, waiting for the stream to store their decisions: at most
/// this many, so a slow stream slows the loop down instead of piling up.
const WINDOWS_IN_FLIGHT: usize = 8;

/// A window's decisions on their way into the stream.
struct Done {
    stored: Stored,
    spans: Vec<tracing::Span>,
    received: std::time::Instant,
}

/// Acknowledges each proposal of a window once the stream has stored the window's decisions.
/// A window whose decisions the stream refused is not acknowledged: its proposals come again
/// after `ACK_WAIT`, and the ledger answers them with the decisions already recorded.
fn spawn_acker() -> Acker {
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<(Done, Vec<jetstream::Message>)>(WINDOWS_IN_FLIGHT);
    let task = tokio::spawn(async move {
        while let Some((done, msgs)) = rx.recv().await {
            if let Err(e) = done.stored.wait().await {
                tracing::warn!("decisions not stored, their proposals will come again: {e}");
                continue;
            }
            for m in &msgs {
                if let Err(e) = m.ack().await {
                    tracing::warn!("acknowledgement failed, the proposal will come again: {e}");
                }
            }
            for span in &done.spans {
                tracing::debug!(parent: span, "stored and acknowledged");
            }
            metrics::histogram!("arbiter_window_seconds")
                .record(done.received.elapsed().as_secs_f64());
        }
    });
    Acker { tx, task }
}

/// The acknowledging task and where windows are handed to it.
struct Acker {
    tx: tokio::sync::mpsc::Sender<(Done, Vec<jetstream::Message>)>,
    task: tokio::task::JoinHandle<()>,
}

impl Acker {
    /// Waits until every window handed over is stored and acknowledged.
    async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// Decides one window, records and publishes its decisions and queues new escalations; the
/// returned [`Done`] says when the stream has stored them.
async fn decide_window(
    st: &mut Shared,
    snapshot: &crate::contract::Telemetry,
    msgs: &[jetstream::Message],
    overload: Option<&str>,
) -> Result<Done, NatsError> {
    let received = std::time::Instant::now();
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let world = World::observed(&st.coordinator.graph, snapshot).map_err(nats)?;
    st.observations(snapshot);
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
    let subs: Vec<_> = inbox
        .iter()
        .map(|m| crate::contract::parse_proposal(&m.payload))
        .collect();
    let decided = st
        .coordinator
        .decide_parsed(now, &world, &inbox, &subs, overload);
    if overload.is_some() {
        metrics::counter!("arbiter_shed_windows_total").increment(1);
    }
    metrics::histogram!("arbiter_decision_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("arbiter_window_size").record(inbox.len() as f64);
    let mut spans = Vec::with_capacity(decided.len());
    // What the engine saw of each target, described once per window.
    let mut knew_of = std::collections::HashMap::new();
    let mut batch = Vec::with_capacity(decided.len());
    for ((answer, raw), sub) in decided.into_iter().zip(&inbox).zip(&subs) {
        let crate::coordinator::Answer {
            subject,
            decision: d,
            first,
        } = answer;
        // Per-proposal spans are at debug level: formatting their fields for every proposal
        // costs more than a busy service should pay by default (`ARBITER_LOG=arbiter=debug`).
        let span = tracing::debug_span!(
            "proposal",
            agent = %d.agent,
            id = %d.proposal_id,
            verdict = d.verdict.as_str()
        );
        tracing::debug!(parent: &span, reasons = ?d.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), "decided");
        spans.push(span);
        if first {
            let domain = subject.split('.').nth(2).unwrap_or("unknown").to_string();
            metrics::counter!("arbiter_decisions_total", "verdict" => d.verdict.as_str(), "domain" => domain).increment(1);
        } else {
            metrics::counter!("arbiter_replays_total").increment(1);
        }
        let proposal = crate::audit::Payload::received(&raw.payload);
        let about = crate::dashboard::About::received(sub.as_ref().ok(), &proposal);
        let knew = sub
            .as_ref()
            .ok()
            .and_then(|p| st.coordinator.graph.index_of(p.action.service()))
            .map(|s| {
                knew_of
                    .entry(s)
                    .or_insert_with(|| Arc::new(world.knew(&st.coordinator.graph, s)))
                    .clone()
            })
            .unwrap_or_default();
        batch.push(Delivery {
            subject,
            proposal,
            about,
            knew,
            arrived_on: Some(raw.subject.clone()),
            decision: d,
            first,
        });
    }
    // What follows a decision (a change watched, an escalation held) and the view the API
    // reads are in place before any agent can hear of it.
    let recorded = st.record(now, batch).await;
    for ((b, sub), span) in recorded.iter().zip(subs).zip(&spans) {
        let d = &b.decision;
        tracing::debug!(parent: span, seq = d.audit.as_ref().map_or(0, |a| a.seq), "recorded");
        if b.first && d.verdict == Verdict::Approved {
            if let Ok(p) = &sub {
                st.watch.approved(p, now);
            }
        }
        if !(b.first && d.verdict == Verdict::Escalated) {
            continue;
        }
        if let Ok(p) = sub {
            let deadline = st.coordinator.escalation_deadline(now);
            st.hold(Pending {
                proposal: p,
                decision: d.clone(),
                deadline,
            })
            .await?;
        }
    }
    let waiting = st.published.escalations().len();
    metrics::gauge!("arbiter_pending_approvals").set(waiting as f64);
    metrics::gauge!("arbiter_changes_in_flight").set(st.coordinator.in_flight.len() as f64);
    metrics::gauge!("arbiter_refusal_memory_entries").set(st.coordinator.refusals.len() as f64);
    st.refresh_view(false);
    let (_, stored) = st.send(recorded).await;
    Ok(Done {
        stored,
        spans,
        received,
    })
}
