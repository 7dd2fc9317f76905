//! `arbiter decide`: one batch, offline, through the same engine as the service.

use anyhow::{bail, Context as _};
use arbiter::audit::{AuditLog, Event};
use arbiter::contract::{parse_proposal, Telemetry, Timestamp};
use arbiter::engine::{self, Context, Ledger, SolverConfig, Submission};
use arbiter::graph::ServiceGraph;
use arbiter::intent::IntentSet;
use arbiter::world::World;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct DecideArgs {
    /// Service graph: Jaeger dependency links (JSON).
    #[arg(long)]
    graph: PathBuf,
    /// Per-service attributes (TOML).
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// Directory of intent files and agents.toml.
    #[arg(long)]
    intents: PathBuf,
    /// Proposals: a JSON array, or one JSON object per line.
    #[arg(long)]
    proposals: PathBuf,
    /// Service observations (JSON); without it the overlay's baseline is used.
    #[arg(long)]
    telemetry: Option<PathBuf>,
    /// Decision time (RFC 3339). Default: the telemetry's `at`, else the latest `created_at`,
    /// so the same input always gives the same output.
    #[arg(long)]
    now: Option<String>,
    /// Branch-and-bound nodes per solve.
    #[arg(long, default_value_t = SolverConfig::default().node_limit)]
    node_limit: u64,
    /// Wall-clock safety net for the solver, in milliseconds.
    #[arg(long, default_value_t = 100)]
    deadline_ms: u64,
    /// `json`: one decision per line, as sent to agents. `text`: verdicts and explanations
    /// for a person.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Append every decision to this audit file (created if absent; it must verify). Decisions
    /// already recorded there are replayed, not decided again.
    #[arg(long)]
    audit: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Text,
}

fn render(d: &arbiter::contract::Decision, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string(d)?,
        Format::Text => {
            let codes: Vec<&str> = d.reasons.iter().map(|r| r.code.as_str()).collect();
            format!(
                "{:<12} {}/{}  [{}]\n             {}\n",
                d.verdict.as_str().to_uppercase(),
                d.agent,
                d.proposal_id,
                codes.join(", "),
                d.explanation
            )
        }
    })
}

pub fn run(a: DecideArgs) -> anyhow::Result<ExitCode> {
    let graph = ServiceGraph::from_files(&a.graph, a.overlay.as_deref())?;
    let loaded = super::load_intents(&a.intents)?;
    let telemetry: Telemetry = match &a.telemetry {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not valid telemetry", p.display()))?
        }
        None => Telemetry::default(),
    };
    let world = World::observed(&graph, &telemetry).with_context(|| {
        a.telemetry
            .as_ref()
            .map_or("overlay".into(), |p| p.display().to_string())
    })?;
    let (raw, subs): (Vec<serde_json::Value>, Vec<Submission>) =
        read_proposals(&a.proposals)?.into_iter().unzip();

    let now = match (&a.now, telemetry.at) {
        (Some(t), _) => Timestamp::parse(t)
            .map_err(anyhow::Error::msg)
            .context("--now")?,
        (None, Some(at)) => at,
        (None, None) => match subs
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .map(|p| p.created_at)
            .max()
        {
            Some(t) => t,
            None => bail!("no decision time: pass --now (no telemetry `at` and no valid proposal)"),
        },
    };
    let intents = IntentSet::new(loaded.intents);
    let ctx = Context {
        graph: &graph,
        world: &world,
        intent: intents.in_force(now),
        roles: &loaded.roles,
        in_flight: &[],
        budget_granted: 0.0,
        now,
    };
    let cfg = SolverConfig {
        node_limit: a.node_limit,
        deadline: Duration::from_millis(a.deadline_ms),
        ..SolverConfig::default()
    };
    let mut ledger = Ledger::default();
    let mut log = match &a.audit {
        Some(path) if super::audit::is_nats_url(&path.to_string_lossy()) => {
            anyhow::bail!(
                "--audit {}: decide writes an audit file; the replicated trail has one writer, \
                 the leading `serve --replica` (read it with `arbiter audit export`)",
                path.display()
            )
        }
        Some(path) => {
            // One pass: the chain is checked and the decisions already given remembered.
            let mut log = AuditLog::open_visiting(path, |r, _| {
                if let Some(d) = r.decision() {
                    ledger.record(&d);
                }
            })?;
            if telemetry != Telemetry::default() {
                log.stage(Event::Observed {
                    telemetry: telemetry.clone(),
                    changes: false,
                });
            }
            Some(log)
        }
        None => None,
    };
    let mut decisions = engine::decide(&ctx, &subs, &ledger, &cfg);
    if let Some(log) = log.as_mut() {
        for (i, d) in decisions.iter_mut().enumerate() {
            // A replay carries the reference of the record that already holds it.
            if d.audit.is_some() {
                continue;
            }
            let knew = subs[i]
                .as_ref()
                .ok()
                .and_then(|p| graph.index_of(p.action.service()))
                .map(|s| std::sync::Arc::new(world.knew(&graph, s)))
                .unwrap_or_default();
            let event = Event::Decision {
                proposal: arbiter::audit::Payload::of(&raw[i]),
                knew,
                decision: Box::new(d.clone()),
                subject: None,
            };
            d.audit = Some(log.append(now, event)?);
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for d in decisions {
        if let Err(e) = writeln!(out, "{}", render(&d, a.format)?) {
            // A reader that stops early (`| head`) is not an error of ours.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e.into());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a JSON array or JSON lines, keeping each payload as received (for the audit trail).
/// A bad line becomes an `invalid` answer for that line only; the others are still decided.
fn read_proposals(path: &PathBuf) -> anyhow::Result<Vec<(serde_json::Value, Submission)>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.trim_start().starts_with('[') {
        let items: Vec<serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON array of proposals", path.display()))?;
        return Ok(items
            .into_iter()
            .map(|v| {
                let sub = parse_proposal(v.to_string().as_bytes());
                (v, sub)
            })
            .collect());
    }
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let raw = serde_json::from_str(l).unwrap_or_else(|_| {
                // Kept as text (bounded) so the record shows what arrived.
                serde_json::Value::String(l.chars().take(4096).collect())
            });
            (raw, parse_proposal(l.as_bytes()))
        })
        .collect())
}
