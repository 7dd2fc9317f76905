//! Decision-window latency: windows of 10, 100 and 1 000 proposals on synthetic graphs of 100,
//! 1 000 and 10 000 services with realistic locality, one dense conflict group of 100, and
//! the cost of parsing one proposal. Figures are recorded in BENCHMARKS.md.

use arbiter::contract::{parse_proposal, Proposal, Timestamp};
use arbiter::engine::{decide, Context, Ledger, SolverConfig, Submission};
use arbiter::graph::ServiceGraph;
use arbiter::intent::{Intent, Roles};
use arbiter::synthetic;
use arbiter::world::World;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;

struct Setup {
    graph: ServiceGraph,
    world: World,
    intent: Intent,
    roles: Roles,
}

fn setup(services: usize, budget_factor: f64, blast: f64) -> Setup {
    let graph = synthetic::graph(services, 42);
    let world = World::observed(&graph, &synthetic::surge(&graph, 1.5)).unwrap();
    let spend: f64 = graph
        .services()
        .iter()
        .zip(&world.services)
        .map(|(a, s)| a.cost_per_replica_hour * s.replicas as f64)
        .sum();
    let intent = synthetic::intent(&graph, &world, spend * budget_factor, blast);
    Setup {
        graph,
        world,
        intent,
        roles: synthetic::roles(),
    }
}

fn run(s: &Setup, subs: &[Submission], cfg: &SolverConfig) -> usize {
    let ctx = Context {
        graph: &s.graph,
        world: &s.world,
        intent: Some(&s.intent),
        roles: &s.roles,
        in_flight: &[],
        now: Timestamp::parse("2026-11-27T10:00:00Z").unwrap(),
    };
    decide(&ctx, subs, &Ledger::default(), cfg).len()
}

fn wrap(ps: Vec<Proposal>) -> Vec<Submission> {
    ps.into_iter().map(Ok).collect()
}

fn realistic(c: &mut Criterion) {
    let mut group = c.benchmark_group("window/realistic");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    let cfg = SolverConfig::default();
    for services in [100, 1_000, 10_000] {
        let s = setup(services, 2.0, 0.5);
        for proposals in [10, 100, 1_000] {
            let subs = wrap(synthetic::realistic_window(&s.graph, proposals, 7));
            group.bench_with_input(
                BenchmarkId::new(format!("{services}-services"), proposals),
                &subs,
                |b, subs| b.iter(|| run(&s, subs, &cfg)),
            );
        }
    }
    group.finish();
}

fn dense(c: &mut Criterion) {
    let mut group = c.benchmark_group("window/dense");
    group.sample_size(10).measurement_time(Duration::from_secs(6));
    let s = setup(1_000, 1.01, 0.1);
    let cfg = SolverConfig::default();
    for proposals in [100, 300] {
        let subs = wrap(synthetic::dense_window(&s.graph, proposals, 7));
        group.bench_with_input(BenchmarkId::new("1000-services", proposals), &subs, |b, subs| {
            b.iter(|| run(&s, subs, &cfg))
        });
    }
    group.finish();
}

fn parse(c: &mut Criterion) {
    let payload =
        std::fs::read_to_string("scenarios/online-boutique/proposals-surge.jsonl").unwrap();
    let line = payload.lines().next().unwrap().as_bytes().to_vec();
    c.bench_function("contract/parse_proposal", |b| {
        b.iter(|| parse_proposal(&line).is_ok())
    });
}

criterion_group!(benches, parse, realistic, dense);
criterion_main!(benches);
