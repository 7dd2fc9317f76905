//! Simulation speed: a 24-hour surge (one-minute ticks, every strategy) on the retail graph
//! and on a synthetic 500-service graph. Figures are recorded in BENCHMARKS.md.

use arbiter::sim::scenario::Scenario;
use arbiter::sim::simulate;
use arbiter::synthetic;
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::Duration;

/// Writes a scenario over a synthetic graph: links, overlay (replicas provisioned as the
/// generator does) and traffic for every entry point.
fn synthetic_scenario(dir: &Path, services: usize) -> std::path::PathBuf {
    let g = synthetic::graph(services, 42);
    std::fs::create_dir_all(dir).unwrap();
    arbiter::sim::suite::write_synthetic(dir, services, 42).unwrap();
    let mut traffic = String::new();
    for s in g.services().iter().filter(|s| s.is_entry) {
        traffic.push_str(&format!(
            "[traffic.{}]\nbaseline_rps = {}\ndiurnal = 0.3\nramp_start_h = 9.0\nramp_h = 1.5\npeak = 3.0\nhold_h = 5.0\ndecay_h = 3.0\nnoise = 0.05\n",
            s.name, s.entry_rps
        ));
    }
    let intents = Path::new(env!("CARGO_MANIFEST_DIR")).join("intents");
    let order = &g.service(g.len() - 1).name;
    let file = dir.join("scenario.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"synthetic-{services}\"\nseed = 3\nduration_h = 24\nstart = \"2026-11-27T00:00:00Z\"\nintents = \"{}\"\n\
             [graph]\nlinks = \"links.json\"\noverlay = \"overlay.toml\"\n[economics]\norder_service = \"{order}\"\n{traffic}",
            intents.display()
        ),
    )
    .unwrap();
    file
}

fn day(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate/24h");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let retail =
        Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sales-surge.toml"))
            .unwrap();
    group.bench_function("retail-11-services", |b| {
        b.iter(|| simulate(&retail, |_, _, _| {}))
    });
    let dir = std::env::temp_dir().join(format!("arbiter-bench-sim-{}", std::process::id()));
    let synthetic = Scenario::load(&synthetic_scenario(&dir, 500)).unwrap();
    group.bench_function("synthetic-500-services", |b| {
        b.iter(|| simulate(&synthetic, |_, _, _| {}))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, day);
criterion_main!(benches);
