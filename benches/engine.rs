//! Decision-window latency: windows of 10, 100 and 1 000 proposals on synthetic graphs of 100,
//! 1 000 and 10 000 services with realistic locality, one dense conflict group of 100, the
//! cost of parsing one proposal, and of the service's look for short services (the world
//! built from telemetry, then every service against its planned capacity). Figures are
//! recorded in BENCHMARKS.md.

use arbiter::contract::{parse_proposal, Proposal};
use arbiter::engine::{decide, Ledger, SolverConfig, Submission};
use arbiter::synthetic::{self, Fleet};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;

fn run(f: &Fleet, subs: &[Submission], cfg: &SolverConfig) -> usize {
    decide(&f.context(), subs, &Ledger::default(), cfg).len()
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
        let s = Fleet::new(services, 42, 2.0, 0.5);
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
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(6));
    let s = Fleet::new(1_000, 42, 1.01, 0.1);
    let cfg = SolverConfig::default();
    for proposals in [100, 300] {
        let subs = wrap(synthetic::dense_window(&s.graph, proposals, 7));
        group.bench_with_input(
            BenchmarkId::new("1000-services", proposals),
            &subs,
            |b, subs| b.iter(|| run(&s, subs, &cfg)),
        );
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

fn shortfalls(c: &mut Criterion) {
    let mut group = c.benchmark_group("asks/shortfalls");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    for services in [1_000, 10_000] {
        let s = Fleet::new(services, 42, 2.0, 0.5);
        let telemetry = synthetic::surge(&s.graph, 1.5);
        group.bench_function(BenchmarkId::new("services", services), |b| {
            b.iter(|| {
                let world = arbiter::world::World::observed(&s.graph, &telemetry).unwrap();
                let ctx = arbiter::engine::Context {
                    world: &world,
                    ..s.context()
                };
                arbiter::engine::shortfalls(&ctx, &s.intent).len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, realistic, dense, shortfalls);
criterion_main!(benches);
