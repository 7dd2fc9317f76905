//! `arbiter serve`: the service on NATS.

use anyhow::Context;
use arbiter::coordinator::Coordinator;
use arbiter::graph::ServiceGraph;
use arbiter::intent::IntentSet;
use arbiter::service::{serve, serve_replica, ReplicaConfig, ServeConfig};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// NATS server URL; `nats://user:password@host:port` to log in; several servers of one
    /// cluster separated by commas.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Service graph: Jaeger dependency links (JSON).
    #[arg(long)]
    graph: PathBuf,
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// Directory of intent files and agents.toml.
    #[arg(long)]
    intents: PathBuf,
    /// The audit trail (created if absent, with its directory). Decisions recorded there are
    /// never made twice.
    #[arg(long, default_value = "arbiter-audit.jsonl")]
    audit: PathBuf,
    /// Longest wait for more proposals to join a window, in milliseconds.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    window_ms: u64,
    /// Most proposals in one window.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    max_window: u64,
    /// Proposals waiting behind a window beyond which new ones are answered `deferred`
    /// (`overloaded`) instead of decided, until the backlog is back under it.
    #[arg(long, default_value_t = 10_000)]
    shed_above: u64,
    /// Seconds after its approval during which a change is undone if an SLO it is part of is
    /// breached.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=30 * 86_400))]
    rollback_watch_s: u64,
    /// The audit trail's file is sealed into `<audit>.segments/` and indexed when it reaches
    /// this many MiB: what a restart reads beyond its last checkpoint, and what is held in
    /// memory of recent decisions, grow with it.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    audit_segment_mb: u64,
    /// Keep about this many MiB of the audit trail: older sealed segments are moved to
    /// `--audit-archive` (or deleted without it) once a checkpoint covers them, and the trail
    /// records that they were. Unset, the whole trail is kept.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    audit_keep_mb: Option<u64>,
    /// Where segments beyond `--audit-keep-mb` go (created if absent); unset, they are deleted.
    #[arg(long, requires = "audit_keep_mb")]
    audit_archive: Option<PathBuf>,
    /// Most bytes each of the proposals and decisions streams holds; a full stream drops its
    /// oldest messages (decided long before: keep it well above `--shed-above` proposals).
    #[arg(long, default_value_t = 1 << 30, value_parser = clap::value_parser!(u64).range(1 << 20..=1 << 50))]
    stream_max_bytes: u64,
    /// Seconds a message is kept in the proposals and decisions streams. The default covers
    /// the longest proposal lifetime the contract allows (24 h) and the hour after it during
    /// which a resend is still answered with its decision.
    #[arg(long, default_value_t = 25 * 3600, value_parser = clap::value_parser!(u64).range(60..=365 * 86_400))]
    stream_max_age_s: u64,
    /// Seconds after its arrival a proposal may stay valid; a later `expires_at` is answered
    /// `invalid` (`out_of_range`). The answers the service remembers for resends are bounded by
    /// the rate of proposals times this (plus an hour).
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    max_proposal_lifetime_s: u64,
    /// Address of the HTTP API (approvals); port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// Run as one of several replicas under this name (unique among them): the replica
    /// holding the leader's lease decides; the others follow the audit trail, replicated
    /// over the NATS cluster, and one takes over when the leader stops renewing the lease.
    /// Each replica keeps its own `--audit` file.
    #[arg(long, value_parser = replica_name)]
    replica: Option<String>,
    /// Milliseconds the leader's lease lasts without renewal (renewed every third of it):
    /// how long a dead leader goes unreplaced.
    #[arg(long, default_value_t = 3_000, requires = "replica", value_parser = clap::value_parser!(u64).range(1_000..=60_000))]
    lease_ms: u64,
}

/// A replica's name is written in the trail and the lease: letters, digits, `-` and `_`.
fn replica_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match ok {
        true => Ok(s.to_string()),
        false => Err(format!("`{s}`: 1 to 64 letters, digits, `-` or `_`")),
    }
}

/// Logs go to stderr; `ARBITER_LOG` picks what is shown (`info` by default; `arbiter=debug`
/// adds one line per proposal as it is decided, recorded and acknowledged).
fn install_logging() -> anyhow::Result<()> {
    let filter: tracing_subscriber::filter::Targets = std::env::var("ARBITER_LOG")
        .unwrap_or_else(|_| "info".into())
        .parse()
        .context("ARBITER_LOG: expected e.g. `info` or `arbiter=debug`")?;
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter);
    tracing::subscriber::set_global_default(subscriber).context("installing logging")?;
    Ok(())
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    install_logging()?;
    // A replica that joins from the copies of the sealed trail starts at a checkpoint taken
    // where a segment was sealed, and reads the stream from there: the newest copy may be
    // two segments behind the one being written, so the stream must hold a few segments.
    if a.replica.is_some() && a.stream_max_bytes < 4 * (a.audit_segment_mb << 20) {
        anyhow::bail!(
            "--stream-max-bytes {} is less than four times --audit-segment-mb {} MiB: a replica \
             joining from the copies of the sealed trail could not read from the stream what \
             follows the newest of them",
            a.stream_max_bytes,
            a.audit_segment_mb
        );
    }
    let graph = ServiceGraph::from_files(&a.graph, a.overlay.as_deref())?;
    let loaded = super::load_intents(&a.intents)?;
    let approvers = loaded.approvers;
    let mut coordinator = Coordinator::new(graph, IntentSet::new(loaded.intents), loaded.roles);
    coordinator.max_lifetime_ms = a.max_proposal_lifetime_s as i64 * 1000;
    let http = std::net::TcpListener::bind(&a.http)
        .with_context(|| format!("binding the HTTP API to {}", a.http))?;
    let http_addr = http.local_addr()?;
    // The trail's directory, like the trail, is made on first start.
    if let Some(dir) = a.audit.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the audit trail's directory {}", dir.display()))?;
    }
    let cfg = ServeConfig {
        url: a.nats.clone(),
        window: Duration::from_millis(a.window_ms),
        max_window: a.max_window as usize,
        shed_above: a.shed_above,
        rollback_watch: Duration::from_secs(a.rollback_watch_s),
        audit: Some(a.audit),
        segment_bytes: a.audit_segment_mb << 20,
        retention: arbiter::service::Retention {
            keep_bytes: a.audit_keep_mb.map(|mb| mb << 20),
            archive: a.audit_archive.clone(),
        },
        stream_limits: arbiter::service::StreamLimits {
            max_bytes: a.stream_max_bytes as i64,
            max_age: Duration::from_secs(a.stream_max_age_s),
        },
        intents_dir: Some(a.intents.clone()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_park(crate::collect_freed_memory)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let url = arbiter::bus::nats::redact(&a.nats);
    // The binary owns the process-wide metrics recorder; the library only records into it.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let ready = || {
        println!("ready: deciding proposals from arbiter.proposals.> on {url}; HTTP API on http://{http_addr}");
        let _ = std::io::stdout().flush();
    };
    match a.replica {
        None => runtime.block_on(serve(
            cfg,
            coordinator,
            approvers,
            Some(http),
            Some(metrics),
            ready,
        ))?,
        Some(name) => {
            let replica = ReplicaConfig {
                name: name.clone(),
                lease: Duration::from_millis(a.lease_ms),
            };
            let following = |leader: Option<&str>| {
                println!(
                    "standby: replica {name} follows the audit trail on {url} ({}); HTTP API on http://{http_addr}",
                    leader.map_or("no leader yet".to_string(), |l| format!("{l} leads"))
                );
                let _ = std::io::stdout().flush();
            };
            runtime.block_on(serve_replica(
                cfg,
                replica,
                coordinator,
                approvers,
                Some(http),
                Some(metrics),
                following,
                ready,
            ))?
        }
    }
    Ok(ExitCode::SUCCESS)
}
