//! The quality suite's quick part (the retail shop under every kind of day, budget binding
//! or not): the oracle is the limit in every case, the arbiter is never worse than the best
//! of the baselines a team can run today, and a bad release's rollback is carried out within
//! 15 minutes of being proposed.

mod common;

use arbiter::sim::suite;

#[test]
fn on_the_quick_part_of_the_suite_the_arbiter_is_never_worse_than_the_best_baseline() {
    let dir = std::env::temp_dir().join(format!("arbiter-suite-test-{}", std::process::id()));
    let repo = common::repo("");
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for case in suite::cases(true) {
        let r = suite::run(&case, &repo, &dir).unwrap_or_else(|e| panic!("{case:?}: {e}"));
        let by = |n: &str| r.strategies.iter().find(|s| s.strategy == n).unwrap();
        let (arbiter, oracle) = (by("arbiter"), by("oracle"));
        let baselines = ["uncoordinated", "static-priority", "predictive"].map(by);
        let best_slo = baselines
            .iter()
            .map(|s| s.slo_minutes_total())
            .fold(f64::INFINITY, f64::min);
        let best_lost = baselines
            .iter()
            .map(|s| s.revenue_lost)
            .fold(f64::INFINITY, f64::min);
        if arbiter.slo_minutes_total() > best_slo || arbiter.revenue_lost > best_lost {
            failures.push(format!(
                "{case:?}: arbiter {} SLO min, {:.0} lost; best baseline {best_slo}, {best_lost:.0}",
                arbiter.slo_minutes_total(),
                arbiter.revenue_lost
            ));
        }
        // A bad release's rollback is carried out within 15 minutes of being proposed.
        if let Some(wait) = arbiter.rollback_wait_min() {
            if wait > 15.0 {
                failures.push(format!(
                    "{case:?}: rollback carried out {wait} min after it was proposed"
                ));
            }
        }
        for s in &r.strategies {
            assert!(
                oracle.revenue_lost <= s.revenue_lost
                    && oracle.slo_minutes_total() <= s.slo_minutes_total(),
                "{case:?}: {} beats the oracle",
                s.strategy
            );
        }
        rows.push((case, r));
    }
    std::fs::remove_dir_all(&dir).ok();
    let table = suite::table(&rows);
    assert_eq!(table.lines().count(), rows.len() + 1, "{table}");
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
    // The summary counts as the checks above do.
    let summary = suite::summary(&rows);
    assert!(
        summary.contains(&format!(
            "cases: {}; arbiter worse than the best baseline in 0\n",
            rows.len()
        )) && summary.contains(
            "worse than no arbiter (uncoordinated agents) in 0, than the static rule in 0"
        ),
        "{summary}"
    );
}
