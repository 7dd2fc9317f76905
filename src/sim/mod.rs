//! Sales-surge simulation: replays agents' collisions on a simulated shop under several
//! coordination strategies.

pub mod actions;
pub mod agents;
pub mod day;
pub mod forecast;
pub mod html;
pub mod model;
pub mod oracle;
pub mod report;
pub mod run;
pub mod scenario;
pub mod suite;
pub mod traffic;

use report::Report;
use scenario::Scenario;

/// Runs the scenario under every strategy; `progress(strategy, tick, ticks)` is called as it
/// goes.
pub fn simulate(sc: &Scenario, mut progress: impl FnMut(&str, u64, u64)) -> Report {
    let strategies: Vec<_> = run::Strategy::ALL
        .iter()
        .map(|&s| run::run(sc, s, |t, n| progress(s.name(), t, n)))
        .collect();
    let baselines = run::Strategy::BASELINES.map(|s| s.name());
    Report {
        scenario: sc.raw.name.clone(),
        seed: sc.raw.seed,
        duration_h: sc.raw.duration_h,
        captured: report::Captured::of(&strategies, &baselines),
        strategies,
    }
}
