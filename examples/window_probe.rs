//! Decides one synthetic window and prints how it decomposed and how long it took: a quick
//! look before running the criterion benches.
//!
//! `cargo run --release --example window_probe -- SERVICES PROPOSALS`
//! (environment: `BLAST` limit, default 0.5; `REPEAT` warm-up runs, default 1; `DENSE=1`
//! for one dense conflict group under a binding budget, as in the dense bench)
use arbiter::engine::{decide_window, Ledger, SolverConfig};
use arbiter::synthetic::{self, Fleet};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (services, proposals) = match args[..] {
        [s, p] => (s, p),
        _ => {
            eprintln!("usage: window_probe SERVICES PROPOSALS");
            std::process::exit(2);
        }
    };
    let env = |k: &str| std::env::var(k).ok();
    let blast: f64 = env("BLAST").and_then(|b| b.parse().ok()).unwrap_or(0.5);
    let repeat: usize = env("REPEAT").and_then(|r| r.parse().ok()).unwrap_or(1);
    let dense = env("DENSE").is_some();
    let fleet = if dense {
        Fleet::new(services, 42, 1.01, 0.1)
    } else {
        Fleet::new(services, 42, 2.0, blast)
    };
    let window = if dense {
        synthetic::dense_window(&fleet.graph, proposals, 7)
    } else {
        synthetic::realistic_window(&fleet.graph, proposals, 7)
    };
    let subs: Vec<_> = window.into_iter().map(Ok).collect();
    let ctx = fleet.context();
    let cfg = SolverConfig::default();
    for _ in 1..repeat {
        decide_window(&ctx, &subs, &Ledger::default(), &cfg);
    }
    let started = Instant::now();
    let out = decide_window(&ctx, &subs, &Ledger::default(), &cfg);
    let took = started.elapsed();
    for c in out.components.iter().filter(|c| c.proposals.len() > 10) {
        println!("component of {}: {:?}", c.proposals.len(), c.status);
    }
    let mut sizes: Vec<usize> = out.components.iter().map(|c| c.proposals.len()).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let bytes: usize = out
        .decisions
        .iter()
        .map(|d| serde_json::to_string(d).unwrap().len())
        .sum();
    println!(
        "{took:?} for {} proposals on {services} services; {} components, largest {:?}; {bytes} bytes of decisions",
        subs.len(),
        sizes.len(),
        &sizes[..sizes.len().min(5)]
    );
}
