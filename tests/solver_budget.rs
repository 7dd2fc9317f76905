//! A dense conflict group larger than the solver may explore: the decision says so, with the
//! gap when known, and a node budget (unlike a deadline) keeps the answer deterministic.

use arbiter::engine::{decide_window, Ledger, SolveStatus, SolverConfig};
use arbiter::synthetic::{self, Fleet};
use std::time::Duration;

#[test]
fn a_search_cut_short_is_recorded_in_every_decision_of_the_group() {
    let fleet = Fleet::new(300, 3, 1.01, 0.1);
    let subs: Vec<_> = synthetic::dense_window(&fleet.graph, 60, 11)
        .into_iter()
        .map(Ok)
        .collect();
    let ctx = fleet.context();
    let tight = SolverConfig {
        node_limit: 2,
        deadline: Duration::from_secs(60),
        ..SolverConfig::default()
    };
    let a = decide_window(&ctx, &subs, &Ledger::default(), &tight);
    let big = a
        .components
        .iter()
        .max_by_key(|c| c.proposals.len())
        .unwrap();
    assert_eq!(
        big.proposals.len(),
        60,
        "the dense window is one conflict group"
    );
    assert!(
        matches!(
            big.status,
            SolveStatus::Incomplete {
                budget: "node_limit",
                ..
            }
        ),
        "{:?}",
        big.status
    );
    for d in &a.decisions {
        assert!(
            d.reasons
                .iter()
                .any(|r| r.code.as_str() == "solver_incomplete"),
            "{} lacks the solver note: {:?}",
            d.proposal_id,
            d.reasons
        );
    }
    let b = decide_window(&ctx, &subs, &Ledger::default(), &tight);
    assert_eq!(
        serde_json::to_string(&a.decisions).unwrap(),
        serde_json::to_string(&b.decisions).unwrap(),
        "a node budget is deterministic"
    );

    // With room to search, the same group is solved to proven optimality.
    let roomy = SolverConfig {
        node_limit: 1_000_000,
        deadline: Duration::from_secs(60),
        ..SolverConfig::default()
    };
    let c = decide_window(&ctx, &subs, &Ledger::default(), &roomy);
    let big = c
        .components
        .iter()
        .max_by_key(|c| c.proposals.len())
        .unwrap();
    assert_eq!(big.status, SolveStatus::Optimal);
}
