//! `arbiter loadgen`: proposals at a set rate through a running `arbiter serve`, with the raw
//! NATS round trip measured the same way as the floor.

use anyhow::Context;
use arbiter::graph::ServiceGraph;
use arbiter::loadgen::{self, Load, Measured, Mix};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct LoadgenArgs {
    /// NATS server URL of the arbiter under load; `nats://user:password@host:port` to log in.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Proposals (and, for the floor, round trips) per second.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rate: u64,
    /// Seconds of sending, per measurement.
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Seconds to wait for the last answers.
    #[arg(long, default_value_t = 10.0)]
    drain_s: f64,
    /// The agents to send as: the roles file of this intents directory (what the arbiter runs
    /// with).
    #[arg(long, default_value = "intents")]
    intents: PathBuf,
    /// The services to target: the arbiter's graph.
    #[arg(long, default_value = "scenarios/online-boutique/graph.json")]
    graph: PathBuf,
    #[arg(long)]
    overlay: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds from each proposal's creation to its expiry (the contract allows 24 h).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    lifetime_s: u64,
    /// Skip the floors (the raw NATS round trip and the JetStream round trip).
    #[arg(long)]
    no_floor: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: LoadgenArgs) -> anyhow::Result<ExitCode> {
    // Every message sent is timed in memory: bound the run so that stays reasonable.
    if !(a.duration_s > 0.0 && a.duration_s <= 86_400.0) {
        anyhow::bail!("--duration-s must be more than 0 and at most 86400");
    }
    if !(0.0..=3_600.0).contains(&a.drain_s) {
        anyhow::bail!("--drain-s must be between 0 and 3600");
    }
    if a.rate as f64 * a.duration_s > 50e6 {
        anyhow::bail!("--rate x --duration-s is over 50 million messages; make the run shorter");
    }
    let graph = ServiceGraph::from_files(&a.graph, a.overlay.as_deref())?;
    let roles = super::load_intents(&a.intents)?.roles;
    let mix = Mix::new(&roles, &graph, &format!("lg{}", loadgen::nuid()), a.seed)?
        .with_lifetime(chrono::Duration::seconds(a.lifetime_s as i64));
    let load = Load {
        rate: a.rate,
        duration: Duration::from_secs_f64(a.duration_s),
        drain: Duration::from_secs_f64(a.drain_s),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let (floor, durable, arbiter) = runtime.block_on(async {
        let size = {
            let mut probe = Mix::new(&roles, &graph, "size", a.seed)?;
            probe.proposal(0, chrono::Utc::now()).1.len()
        };
        let (floor, durable) = if a.no_floor {
            (None, None)
        } else {
            (
                Some(loadgen::raw_round_trip(&a.nats, &load, size).await?),
                Some(loadgen::jetstream_round_trip(&a.nats, &load, size).await?),
            )
        };
        let arbiter = loadgen::through_arbiter(&a.nats, &load, mix).await?;
        anyhow::Ok((floor, durable, arbiter))
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"rate": a.rate, "duration_s": a.duration_s, "raw_round_trip": floor, "jetstream_round_trip": durable, "arbiter": arbiter})
        );
    } else {
        println!(
            "{:<22} {:>8} {:>8} {:>8} {:>12} {:>9} {:>9} {:>9} {:>9}",
            "",
            "sent",
            "answered",
            "missing",
            "per second",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs"
        );
        if let Some(f) = &floor {
            row("raw NATS round trip", f);
        }
        if let Some(f) = &durable {
            row("JetStream round trip", f);
        }
        row("arbiter", &arbiter);
        if let Some(f) = floor.as_ref().filter(|f| f.p99_us > 0.0) {
            println!(
                "p99 arbiter / raw round trip: {:.1}x",
                arbiter.p99_us / f.p99_us
            );
        }
    }
    if arbiter.answered == 0 {
        eprintln!(
            "no decision came back: is `arbiter serve` running on {} with the same intents?",
            arbiter::bus::nats::redact(&a.nats)
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn row(name: &str, m: &Measured) {
    println!(
        "{name:<22} {:>8} {:>8} {:>8} {:>12.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
        m.sent, m.answered, m.missing, m.throughput, m.p50_us, m.p99_us, m.p999_us, m.max_us
    );
    if !m.unanswered.is_empty() {
        let numbers: Vec<String> = m.unanswered.iter().map(u64::to_string).collect();
        println!(
            "{:<22} unanswered, by number (ids end in -<number>): {}",
            "",
            numbers.join(", ")
        );
    }
}
