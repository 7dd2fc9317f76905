//! A runaway agent is slowed down on its own: beyond its role's `max_proposals_per_minute`,
//! its new proposals are answered `deferred` (`agent_rate_limit`) and everyone else is decided
//! as usual.

mod common;

use arbiter::bus::Message;
use arbiter::contract::{Decision, Timestamp, Verdict};
use arbiter::coordinator::Coordinator;
use arbiter::intent::{load_dir, parse_roles, IntentSet};
use arbiter::world::World;
use common::*;

const ROLES: &str = r#"
[agents.cost-optimizer-1]
domains = ["cost"]
kinds = ["scale", "config"]
max_proposals_per_minute = 3

[agents.resilience-1]
domains = ["resilience"]
kinds = ["scale", "restart", "rollback", "reroute"]
"#;

fn coordinator() -> Coordinator {
    let loaded = load_dir(&repo("intents")).expect("the shipped intents load");
    let roles = parse_roles("agents.toml", ROLES).expect("the test's roles parse");
    Coordinator::new(boutique(), IntentSet::new(loaded.intents), roles)
}

/// A proposal of `agent` to change the replicas of a service, on its own subject.
fn scale(agent: &str, domain: &str, id: &str, service: &str, replicas: i64) -> Message {
    let payload = serde_json::json!({
        "v": 1, "id": id, "agent": agent, "domain": domain,
        "action": {"kind": "scale", "service": service, "replicas": replicas},
        "confidence": 0.9, "reversible": true, "rationale": "test",
        "created_at": NOW, "expires_at": "2026-11-27T10:30:00Z",
    });
    Message {
        subject: format!("arbiter.proposals.{domain}.{agent}"),
        payload: payload.to_string().into_bytes(),
    }
}

fn decide(c: &mut Coordinator, at: Timestamp, inbox: &[Message]) -> Vec<Decision> {
    let world = World::baseline(&c.graph);
    c.decide(at, &world, inbox)
        .into_iter()
        .map(|a| a.decision)
        .collect()
}

fn limited(d: &Decision) -> bool {
    d.verdict == Verdict::Deferred
        && d.reasons
            .iter()
            .any(|r| r.code.as_str() == "agent_rate_limit")
}

#[test]
fn an_agent_over_its_limit_is_deferred_and_others_are_not() {
    let mut c = coordinator();
    let t0 = now();
    // Five scale-downs of five different services by the limited agent, then one proposal
    // by an agent without a limit.
    let services = [
        "adservice",
        "emailservice",
        "currencyservice",
        "shippingservice",
        "paymentservice",
    ];
    let mut inbox: Vec<Message> = services
        .iter()
        .enumerate()
        .map(|(i, s)| scale("cost-optimizer-1", "cost", &format!("c{i}"), s, -1))
        .collect();
    inbox.push(scale(
        "resilience-1",
        "resilience",
        "r0",
        "checkoutservice",
        1,
    ));
    let out = decide(&mut c, t0, &inbox);
    let verdicts: Vec<bool> = out.iter().map(limited).collect();
    assert_eq!(
        verdicts,
        [false, false, false, true, true, false],
        "{out:#?}"
    );
    let refused = &out[3];
    assert_eq!(
        refused.reasons[0].field.as_deref(),
        Some("max_proposals_per_minute")
    );
    assert!(
        refused.reasons[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("there is room again at 2026-11-27T10:01:00"),
        "{:?}",
        refused.reasons[0].detail
    );
    assert!(
        refused.explanation.contains("as a new proposal"),
        "{}",
        refused.explanation
    );

    // Within the minute the agent stays limited: its count is full. The same id sent again
    // gets the same answer (the idempotency of the contract), whether it was limited or not.
    let again = decide(
        &mut c,
        t0.plus_millis(30_000),
        &[
            scale("cost-optimizer-1", "cost", "c5", "adservice", -1),
            scale("cost-optimizer-1", "cost", "c3", "shippingservice", -1),
            scale("cost-optimizer-1", "cost", "c0", "adservice", -1),
        ],
    );
    assert!(limited(&again[0]), "{:#?}", again[0]);
    assert_eq!(again[1], out[3]);
    assert_eq!(again[2], out[0]);

    // A minute after the first three, there is room for three more.
    let later = decide(
        &mut c,
        t0.plus_millis(60_000),
        &(6..10)
            .map(|i| {
                scale(
                    "cost-optimizer-1",
                    "cost",
                    &format!("c{i}"),
                    services[i % 5],
                    -1,
                )
            })
            .collect::<Vec<_>>(),
    );
    let verdicts: Vec<bool> = later.iter().map(limited).collect();
    assert_eq!(verdicts, [false, false, false, true], "{later:#?}");
}

#[test]
fn the_same_proposal_twice_in_one_window_is_counted_once_and_answered_alike() {
    let mut c = coordinator();
    let p = |id: &str| scale("cost-optimizer-1", "cost", id, "adservice", -1);
    let out = decide(
        &mut c,
        now(),
        &[p("a"), p("a"), p("b"), p("c"), p("d"), p("d")],
    );
    assert!(!limited(&out[0]) && !limited(&out[2]) && !limited(&out[3]));
    assert_eq!(out[0], out[1], "a copy gets the same decision");
    assert!(limited(&out[4]), "{:#?}", out[4]);
    assert_eq!(out[4], out[5], "a limited copy gets the same answer");
}

#[test]
fn a_limit_that_is_not_a_positive_whole_number_is_refused_with_its_place() {
    for bad in ["0", "-5", "1.5", "\"many\""] {
        let text = format!(
            "[agents.a]\ndomains = [\"cost\"]\n\n[agents.b]\ndomains = [\"cost\"]\nmax_proposals_per_minute = {bad}\n"
        );
        let errors = parse_roles("agents.toml", &text).expect_err(bad);
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            shown
                .iter()
                .any(|e| e.contains("max_proposals_per_minute") && e.starts_with("agents.toml:")),
            "{bad}: {shown:?}"
        );
    }
}
