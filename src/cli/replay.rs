//! `arbiter replay`: the recorded history decided again under other intents.

use anyhow::Context;
use arbiter::graph::ServiceGraph;
use arbiter::intent::IntentSet;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ReplayArgs {
    /// The audit trail to replay: a file, or a NATS URL for the replicated trail.
    audit: String,
    /// The intents to replay under (a directory of intent files and agents.toml).
    #[arg(long)]
    intents: PathBuf,
    /// The service graph the history was decided on: Jaeger dependency links (JSON).
    #[arg(long)]
    graph: PathBuf,
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// Print each change as a JSON line instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let trail = super::audit::Trail::open(&a.audit)?;
    trail
        .verify()
        .context("the audit trail does not verify; refusing to replay it")?;
    let graph = ServiceGraph::from_files(&a.graph, a.overlay.as_deref())?;
    let loaded = super::load_intents(&a.intents)?;
    let names: Vec<String> = loaded
        .intents
        .iter()
        .map(|i| format!("{} {}", i.name, i.version))
        .collect();
    let mut replayer =
        arbiter::replay::Replayer::new(graph, IntentSet::new(loaded.intents), loaded.roles);
    arbiter::audit::for_each(trail.path(), |r| replayer.read(&r))?;
    let result = replayer.finish();
    if a.json {
        for c in &result.changes {
            println!("{}", serde_json::to_string(c)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "replayed {} decisions of {} under {} ({}): {} would change",
        result.decisions,
        trail.name(),
        a.intents.display(),
        names.join(", "),
        result.changes.len()
    );
    for v in &result.other_graphs {
        println!("note: part of the history was decided on another graph ({v})");
    }
    for c in &result.changes {
        println!(
            "{}/{}  {}  {} -> {}  [{}]\n    {}",
            c.agent,
            c.proposal_id,
            c.decided_at,
            c.recorded.as_str(),
            c.replayed.as_str(),
            c.codes.join(", "),
            c.explanation
        );
    }
    Ok(ExitCode::SUCCESS)
}
