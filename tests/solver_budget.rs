//! A dense conflict group larger than the solver may explore: the decision says so, with the
//! gap when known, and a node budget (unlike a deadline) keeps the answer deterministic.

use arbiter::contract::Timestamp;
use arbiter::engine::{decide_window, Context, Ledger, SolveStatus, SolverConfig};
use arbiter::synthetic;
use arbiter::world::World;
use std::time::Duration;

#[test]
fn a_search_cut_short_is_recorded_in_every_decision_of_the_group() {
    let graph = synthetic::graph(300, 3);
    let world = World::observed(&graph, &synthetic::surge(&graph, 1.5)).unwrap();
    let spend: f64 = graph
        .services()
        .iter()
        .zip(&world.services)
        .map(|(a, s)| a.cost_per_replica_hour * s.replicas as f64)
        .sum();
    let intent = synthetic::intent(&graph, &world, spend * 1.01, 0.1);
    let roles = synthetic::roles();
    let subs: Vec<_> = synthetic::dense_window(&graph, 60, 11).into_iter().map(Ok).collect();
    let ctx = Context {
        graph: &graph,
        world: &world,
        intent: Some(&intent),
        roles: &roles,
        in_flight: &[],
        now: Timestamp::parse("2026-11-27T10:00:00Z").unwrap(),
    };
    let tight = SolverConfig {
        node_limit: 2,
        deadline: Duration::from_secs(60),
        ..SolverConfig::default()
    };
    let a = decide_window(&ctx, &subs, &Ledger::default(), &tight);
    let big = a.components.iter().max_by_key(|c| c.proposals.len()).unwrap();
    assert_eq!(big.proposals.len(), 60, "the dense window is one conflict group");
    assert!(
        matches!(big.status, SolveStatus::Incomplete { budget: "node_limit", .. }),
        "{:?}",
        big.status
    );
    for d in &a.decisions {
        assert!(
            d.reasons.iter().any(|r| r.code == "solver_incomplete"),
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
    let big = c.components.iter().max_by_key(|c| c.proposals.len()).unwrap();
    assert_eq!(big.status, SolveStatus::Optimal);
}
