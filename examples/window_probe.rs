//! Prints how a synthetic window decomposes and how long each stage takes.
use arbiter::contract::Timestamp;
use arbiter::engine::{decide_window, Context, Ledger, SolverConfig};
use arbiter::synthetic;
use arbiter::world::World;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (services, proposals) = (args[0], args[1]);
    let graph = synthetic::graph(services, 42);
    let world = World::observed(&graph, &synthetic::surge(&graph, 1.5)).unwrap();
    let spend: f64 = graph
        .services()
        .iter()
        .zip(&world.services)
        .map(|(a, s)| a.cost_per_replica_hour * s.replicas as f64)
        .sum();
    let blast: f64 = std::env::var("BLAST")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(0.5);
    let intent = synthetic::intent(&graph, &world, spend * 2.0, blast);
    let roles = synthetic::roles();
    let subs: Vec<_> = synthetic::realistic_window(&graph, proposals, 7)
        .into_iter()
        .map(Ok)
        .collect();
    let ctx = Context {
        graph: &graph,
        world: &world,
        intent: Some(&intent),
        roles: &roles,
        in_flight: &[],
        now: Timestamp::parse("2026-11-27T10:00:00Z").unwrap(),
    };
    let repeat: usize = std::env::var("REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    for _ in 1..repeat {
        decide_window(&ctx, &subs, &Ledger::default(), &SolverConfig::default());
    }
    let t = Instant::now();
    let out = decide_window(&ctx, &subs, &Ledger::default(), &SolverConfig::default());
    let took = t.elapsed();
    let mut sizes: Vec<usize> = out.components.iter().map(|c| c.proposals.len()).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    println!(
        "{took:?}; {} components, largest {:?}",
        sizes.len(),
        &sizes[..sizes.len().min(8)]
    );
    let bytes: usize = out
        .decisions
        .iter()
        .map(|d| serde_json::to_string(d).unwrap().len())
        .sum();
    println!("output {bytes} bytes");
}
