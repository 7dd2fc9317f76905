//! A refusal says when asking again can change the answer: `retry_after` is when the change
//! holding the shared limit settles (or a person answers), a resend before it is answered
//! from memory without the engine, and one after it is decided afresh.

mod common;

use arbiter::bus::Message;
use arbiter::contract::{Decision, Timestamp, Verdict};
use arbiter::coordinator::Coordinator;
use arbiter::intent::{load_dir, IntentSet};
use arbiter::world::World;
use common::*;

fn coordinator() -> Coordinator {
    let loaded = load_dir(&repo("intents")).expect("the shipped intents load");
    Coordinator::new(boutique(), IntentSet::new(loaded.intents), loaded.roles)
}

/// A resilience scale-up of adservice, sent at `at`.
fn scale_up(id: &str, replicas: i64, at: Timestamp) -> Message {
    scale_up_sure(id, replicas, at, 0.9)
}

/// The same, with the agent's `confidence`.
fn scale_up_sure(id: &str, replicas: i64, at: Timestamp, confidence: f64) -> Message {
    let payload = serde_json::json!({
        "v": 1, "id": id, "agent": "resilience-1", "domain": "resilience",
        "action": {"kind": "scale", "service": "adservice", "replicas": replicas},
        "confidence": confidence, "reversible": true, "rationale": "test",
        "created_at": at.to_string(), "expires_at": at.plus_millis(30 * 60 * 1000).to_string(),
    });
    Message {
        subject: "arbiter.proposals.resilience.resilience-1".into(),
        payload: payload.to_string().into_bytes(),
    }
}

/// A surge on its way: adservice short of capacity for the forecast, so scale-ups serve.
fn decide(c: &mut Coordinator, at: Timestamp, m: Message) -> Decision {
    let surge: arbiter::contract::Telemetry = serde_json::from_value(serde_json::json!({
        "services": {"frontend": {"load_rps": 600.0, "forecast_rps": 1100.0}}
    }))
    .expect("valid telemetry");
    let world = World::observed(&c.graph, &surge).expect("the shop's services");
    let mut out = c.decide(at, &world, &[m]);
    out.pop().expect("one answer").decision
}

#[test]
fn a_deferral_names_when_the_change_in_its_way_settles() {
    let mut c = coordinator();
    // The black-friday intent (in force on the shipped day) allows one change per service.
    let t0 = now();
    let first = decide(&mut c, t0, scale_up("first", 1, t0));
    assert_eq!(first.verdict, Verdict::Approved, "{}", first.explanation);
    assert_eq!(
        first.retry_after, None,
        "an approval does not say when to ask again"
    );

    let t1 = t0.plus_millis(60_000);
    let second = decide(&mut c, t1, scale_up("second", 2, t1));
    assert_eq!(second.verdict, Verdict::Deferred, "{}", second.explanation);
    let settles = t0.plus_millis(c.settle_ms);
    assert_eq!(second.retry_after, Some(settles));

    // Asked again once that moment has passed, it is decided on its merits.
    let t2 = settles.plus_millis(1_000);
    let again = decide(&mut c, t2, scale_up("second-again", 2, t2));
    assert_ne!(again.verdict, Verdict::Deferred, "{}", again.explanation);
}

#[test]
fn a_change_sent_again_while_a_person_has_it_waits_for_their_answer() {
    let mut c = coordinator();
    let t0 = now();
    let unsure = |id: &str, at: Timestamp| scale_up_sure(id, 1, at, 0.5);
    let first = decide(&mut c, t0, unsure("ask", t0));
    assert_eq!(first.verdict, Verdict::Escalated, "{}", first.explanation);
    assert_eq!(first.retry_after, Some(c.escalation_deadline(t0)));

    let t1 = t0.plus_millis(60_000);
    let again = decide(&mut c, t1, unsure("ask-again", t1));
    assert_eq!(again.verdict, Verdict::Deferred, "{}", again.explanation);
    assert_eq!(
        again.reasons[0].code.as_str(),
        "asked_before",
        "{:?}",
        again.reasons
    );
    assert!(
        again.explanation.contains("resilience-1/ask"),
        "{}",
        again.explanation
    );
    assert_eq!(again.retry_after, first.retry_after);
    assert_eq!(c.refusals.answered, 1);

    // The person answers: the same change sent again is decided on its merits.
    let asked = arbiter::contract::parse_proposal(&unsure("ask", t0).payload).unwrap();
    c.escalation_answered(&asked);
    let t2 = t1.plus_millis(60_000);
    let after = decide(&mut c, t2, unsure("ask-after", t2));
    assert_eq!(after.verdict, Verdict::Escalated, "{}", after.explanation);
}

#[test]
fn a_change_freeze_says_to_ask_again_when_it_ends_not_after_the_settle_period() {
    let mut c = coordinator();
    let t0 = now();
    let payload = serde_json::json!({
        "v": 1, "id": "frozen", "agent": "cost-optimizer-1", "domain": "cost",
        "action": {"kind": "config", "service": "checkoutservice", "key": "timeout_ms", "value": 900},
        "confidence": 0.9, "reversible": true, "rationale": "test",
        "created_at": t0.to_string(), "expires_at": t0.plus_millis(30 * 60 * 1000).to_string(),
    });
    let m = Message {
        subject: "arbiter.proposals.cost.cost-optimizer-1".into(),
        payload: payload.to_string().into_bytes(),
    };
    let d = decide(&mut c, t0, m);
    assert_eq!(d.verdict, Verdict::Deferred, "{}", d.explanation);
    assert_eq!(d.reasons[0].code.as_str(), "change_freeze");
    // The black-friday intent freezes checkout's configuration until 30 November.
    assert_eq!(
        d.retry_after,
        Some(Timestamp::parse("2026-11-30T00:00:00Z").unwrap())
    );
}
