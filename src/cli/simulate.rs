//! `arbiter simulate SCENARIO`: the sales-surge comparison.

use anyhow::Context;
use arbiter::sim::{scenario::Scenario, simulate};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(scenario: &Path, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let sc = Scenario::load(scenario)?;
    let interactive = std::io::stderr().is_terminal();
    let mut last = (String::new(), 0u64);
    let report = simulate(&sc, |strategy, tick, ticks| {
        // A progress line on long runs when someone is watching.
        if !interactive || ticks == 0 {
            return;
        }
        let pct = tick * 100 / ticks;
        if strategy != last.0 || pct != last.1 {
            last = (strategy.to_string(), pct);
            eprint!(
                "\r{strategy:<16} [{:<25}] {pct:>3}%",
                "#".repeat((pct / 4) as usize)
            );
            let _ = std::io::stderr().flush();
        }
    });
    if interactive {
        eprintln!();
    }
    let mut out_text = std::io::stdout().lock();
    let shown = writeln!(
        out_text,
        "{} (seed {}, {} h)\n\n{}",
        report.scenario,
        report.seed,
        report.duration_h,
        report.table()
    );
    if let Err(e) = shown {
        // A reader that stops early (`| head`) is not an error of ours.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    drop(out_text);
    let mut out_text = std::io::stdout().lock();
    let dir = out.unwrap_or_else(|| PathBuf::from("out").join(&report.scenario));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = dir.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    // SLO lines on the latency plots: the intent in force mid-run.
    let mid = sc
        .start
        .plus_millis((sc.raw.duration_h * 1_800_000.0) as i64);
    let slos: Vec<(String, f64)> = sc
        .intents
        .in_force(mid)
        .map(|i| {
            i.slos
                .iter()
                .filter(|s| {
                    sc.graph
                        .index_of(&s.service)
                        .is_some_and(|x| sc.graph.service(x).is_entry)
                })
                .map(|s| (s.service.clone(), s.p99_latency_ms))
                .collect()
        })
        .unwrap_or_default();
    let html = dir.join("report.html");
    std::fs::write(
        &html,
        arbiter::sim::html::render(&report, &report.table(), &slos),
    )
    .with_context(|| format!("writing {}", html.display()))?;
    let _ = writeln!(out_text, "wrote {} and {}", json.display(), html.display());
    Ok(ExitCode::SUCCESS)
}
