//! `arbiter serve --replica NAME`: one of several replicas, of which the one holding the
//! lease ([`super::lease`]) decides and the others stand by.
//!
//! A standby reads the replicated trail (`bus::nats::mirror`) into its own file as it grows,
//! folds each record into its state as a restart would ([`super::fold`]), serves reads of
//! that state on its API ([`super::view`]) and tries for the lease. When it gets it, it reads
//! the trail to its end, writes a `leader` record (which fences the previous leader out of the
//! trail) and consumes proposals from where the durable consumer stands: proposals the
//! previous leader decided but had not acknowledged come again and are answered from the
//! trail, never decided twice.

use super::archive::Archive;
use super::archiver;
use super::fold::Folded;
use super::lease::{self, Lease};
use super::mirror::{Mirror, MirrorError};
use super::serve::{
    lead, serve_for_now, serve_health_only, stop_on_signal, until_attached, Beginning, Replication,
};
use super::view::View;
use super::writes::Standby;
use super::{connect_watched, nats, NatsError, ServeConfig};
use crate::approval::Approvers;
use crate::audit::Layout;
use crate::coordinator::Coordinator;
use crate::health::{Backoff, Health, Role};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// This replica's name, unique among the replicas.
    pub name: String,
    /// How long the lease lasts without renewal: a dead leader is replaced after about this.
    pub lease: Duration,
}

/// Stands by until this replica holds the lease, then serves as [`super::serve`] does.
/// `following` is called once the replica follows the trail, with the leader's name if one
/// leads; `ready` once it leads and decides.
#[allow(clippy::too_many_arguments)]
pub async fn serve_replica(
    cfg: ServeConfig,
    replica: ReplicaConfig,
    coordinator: Coordinator,
    approvers: Approvers,
    http: Option<std::net::TcpListener>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    following: impl FnOnce(Option<&str>),
    ready: impl FnOnce(),
) -> Result<(), NatsError> {
    if cfg.audit.is_none() {
        return Err(NatsError::Nats(
            "a replica needs an audit trail of its own".into(),
        ));
    }
    let health = Arc::new(Health::starting());
    let standing_by = |leader: Option<String>| Role {
        role: "standby",
        replica: Some(replica.name.clone()),
        leader,
    };
    health.set_role(standing_by(None));
    let early = match &http {
        Some(listener) => {
            listener.set_nonblocking(true).map_err(nats)?;
            Some(serve_health_only(
                listener.try_clone().map_err(nats)?,
                health.clone(),
            )?)
        }
        None => None,
    };
    let stop = stop_on_signal();
    let mut backoff = Backoff::default();
    let (js, store, archive) = until_attached(&health, "", || async {
        let client = connect_watched(&cfg.url, health.clone()).await?;
        let js = async_nats::jetstream::new(client);
        let store = lease::bucket(&js, replica.lease).await?;
        let archive = Archive::open(&js).await?;
        Ok::<_, NatsError>((js, store, archive))
    })
    .await;
    let head = cfg.audit.clone().expect("checked above");
    if archiver::is_empty(&Layout::of(&head)) {
        fetch_until_done(&archive, &head, &health).await;
    }
    let mut folded = open_trail(&cfg, coordinator, &health).await?;
    archiver::keep_copied(archive.clone(), Layout::of(&head), replica.name.clone());
    let mut mirror = loop {
        let log = folded
            .restored
            .log
            .as_ref()
            .expect("a followed trail is open");
        match Mirror::open(&js, cfg.stream_limits, log).await {
            Ok(m) => break m,
            Err(e @ MirrorError::Behind { .. }) => return Err(rejoin(&archive, &head, e).await),
            Err(MirrorError::Unavailable(e)) => {
                health.fail("nats", format!("the replicated trail: {e}; trying again"));
                tokio::time::sleep(backoff.delay()).await;
            }
            Err(e) => return Err(NatsError::Nats(e.to_string())),
        }
    };
    // From here on the API serves reads from the fold; writes are refused, naming the leader.
    let (mut view, reader) = View::new(&folded, &approvers);
    let mut interim = match (&http, early) {
        (Some(listener), Some(early)) => {
            early.end().await;
            let app = crate::api::router(crate::api::AppState {
                writes: Arc::new(Standby {
                    health: health.clone(),
                }),
                view: reader,
                metrics: metrics.clone(),
                health: health.clone(),
                telemetry: view.telemetry.clone(),
                audit: folded.restored.index.clone(),
            });
            Some(serve_for_now(listener.try_clone().map_err(nats)?, app)?)
        }
        (_, early) => early,
    };
    health.clear("starting");
    let mut following = Some(following);
    let poll = (replica.lease / 6).max(Duration::from_millis(100));
    let lease = loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!("stopped while standing by");
            return Ok(());
        }
        let began = std::time::Instant::now();
        let followed = follow(&mut mirror, &mut folded, &health).await;
        if began.elapsed() > poll * 4 {
            tracing::info!(
                took_ms = began.elapsed().as_millis() as u64,
                "read a long stretch of the trail"
            );
        }
        match followed {
            Ok(true) => view.refresh(&folded),
            // Fallen behind what the stream holds (stopped for long, or too slow for it).
            Err(e @ MirrorError::Behind { .. }) => return Err(rejoin(&archive, &head, e).await),
            // A replica that cannot write its own trail does not try to lead.
            Ok(false) => {
                tokio::time::sleep(poll).await;
                continue;
            }
            Err(e) => return Err(NatsError::Nats(e.to_string())),
        }
        match Lease::try_take(&store, &replica.name, replica.lease).await {
            Ok(Some(lease)) => break lease,
            Ok(None) => {
                let leader = lease::holder(&store).await;
                let why = match &leader {
                    Some(l) => format!("following the trail; {l} leads"),
                    None => "following the trail".to_string(),
                };
                health.fail("standby", why);
                health.set_role(standing_by(leader.clone()));
                if let Some(f) = following.take() {
                    f(leader.as_deref());
                }
            }
            Err(e) => health.fail("nats", format!("the leader's lease: {e}")),
        }
        tokio::time::sleep(poll).await;
    };
    let keeper = lease.keep();
    tracing::info!(replica = replica.name, "took the leader's lease");
    // Whatever the last leader wrote is read before this replica writes.
    loop {
        match catch_up(&mut mirror, &mut folded).await {
            Ok(_) => break,
            Err(MirrorError::Unavailable(e)) => {
                health.fail("nats", format!("the replicated trail: {e}; trying again"));
                tokio::time::sleep(backoff.delay()).await;
            }
            Err(e) => {
                keeper.abort();
                lease.release().await;
                return Err(NatsError::Nats(e.to_string()));
            }
        }
    }
    folded.settle();
    health.clear("standby");
    if let Some(interim) = interim.take() {
        interim.end().await;
    }
    let replication = Replication { mirror, lease };
    lead(
        cfg,
        Beginning::Folded(Box::new(folded)),
        approvers,
        http,
        metrics,
        Some(replication),
        health,
        ready,
    )
    .await
}

/// Fills an empty trail from the archive, trying again while the archive cannot be read or
/// what it holds changes under the fetch (retention removing a file as it is fetched);
/// after a few failures the replica goes on without it and reads the stream from its start.
async fn fetch_until_done(archive: &Archive, head: &std::path::Path, health: &Health) {
    let mut backoff = Backoff::default();
    for attempt in 1..=FETCH_ATTEMPTS {
        match archiver::fetch(archive, head).await {
            Ok(_) => {
                health.clear("audit");
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, "fetching the trail from the archive: {e}");
                health.fail("audit", format!("fetching the trail from the archive: {e}"));
                tokio::time::sleep(backoff.delay()).await;
            }
        }
    }
    health.clear("audit");
}

/// For a replica whose trail ends before the stream's first record: sets its trail aside and
/// starts again, to fetch a copy that reaches the stream — or the error, if none does.
async fn rejoin(archive: &Archive, head: &std::path::Path, behind: MirrorError) -> NatsError {
    let MirrorError::Behind { ends, starts } = behind else {
        return NatsError::Nats(behind.to_string());
    };
    match archiver::set_aside_if_a_copy_reaches(archive, head, starts).await {
        Ok(true) => lease::start_again(&format!(
            "this replica's trail ends at record {ends} and the replicated trail starts at \
             record {starts}: its trail was set aside, to start from the newest copy"
        )),
        Ok(false) => NatsError::Nats(behind.to_string()),
        Err(why) => NatsError::Nats(format!("{behind}; {why}")),
    }
}

/// How many times an empty replica tries to fetch the trail before reading the stream.
const FETCH_ATTEMPTS: u32 = 5;

/// Opens this replica's trail as a restart does, into the coordinator it will lead with,
/// and keeps the fold going from there as the trail grows.
async fn open_trail(
    cfg: &ServeConfig,
    coordinator: Coordinator,
    health: &Arc<Health>,
) -> Result<Folded, NatsError> {
    let path = cfg
        .audit
        .clone()
        .ok_or_else(|| NatsError::Nats("no audit trail".into()))?;
    let mut o = super::restore::open_trail(cfg, path, coordinator, health).await?;
    let (Some(log), Some(_)) = (o.restored.log.take(), &o.restored.index) else {
        return Err(NatsError::Nats("the audit trail was not opened".into()));
    };
    // A copy of the replicated trail: the stream holds what was decided (`audit/flush.rs`).
    o.restored.log = Some(log.flushed_in_background()?);
    let archive = cfg.retention.archive.clone();
    Ok(Folded::new(
        o.coordinator,
        o.watch,
        o.restored,
        o.at_head,
        archive,
    ))
}

/// Reads the replicated trail to its end into this replica's file and fold.
async fn catch_up(mirror: &mut Mirror, folded: &mut Folded) -> Result<u64, MirrorError> {
    let mut log = folded
        .restored
        .log
        .take()
        .expect("a followed trail is open");
    let read = mirror
        .catch_up(&mut log, |records, starts, log| {
            folded.take_in(records, starts, log)
        })
        .await;
    folded.restored.log = Some(log);
    read
}

/// Reads what the leader wrote since last time into this replica's file; `Ok(false)` if its
/// own disk refused it (full, read-only: it is tried again). `Err` only for what waiting
/// cannot mend (a file that differs from the replicated trail).
async fn follow(
    mirror: &mut Mirror,
    folded: &mut Folded,
    health: &Health,
) -> Result<bool, MirrorError> {
    match catch_up(mirror, folded).await {
        Ok(_) => {
            health.clear("nats");
            health.clear("audit");
            Ok(true)
        }
        Err(MirrorError::Unavailable(e)) => {
            health.fail("nats", format!("the replicated trail: {e}; trying again"));
            Ok(true)
        }
        Err(MirrorError::Audit(e @ crate::audit::AuditError::Io { .. })) => {
            health.fail(
                "audit",
                format!("{e}; the trail is followed again when it can be written"),
            );
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
