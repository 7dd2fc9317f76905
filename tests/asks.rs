//! A service short of what the intent plans for it, with no one asking to add, is asked for:
//! a `request` to an agent whose role may scale it, repeated while the shortfall lasts but
//! not every window, never under a freeze, never on a load nobody measures.

mod common;

use arbiter::contract::Telemetry;
use arbiter::coordinator::Coordinator;
use arbiter::intent::{load_dir, IntentSet};
use arbiter::world::World;
use common::*;

fn coordinator() -> Coordinator {
    let loaded = load_dir(&repo("intents")).expect("the shipped intents load");
    Coordinator::new(boutique(), IntentSet::new(loaded.intents), loaded.roles)
}

fn world(c: &Coordinator, t: serde_json::Value) -> World {
    let t: Telemetry = serde_json::from_value(t).expect("valid telemetry");
    World::observed(&c.graph, &t).expect("the shop's services")
}

/// A surge forecast: the shop's 300 rps now, 1 100 coming.
fn surge(c: &Coordinator) -> World {
    world(
        c,
        serde_json::json!({"services": {"frontend": {"load_rps": 300.0, "forecast_rps": 1100.0}}}),
    )
}

#[test]
fn a_short_service_is_asked_for_once_per_quarter_hour_from_an_agent_that_may_scale_it() {
    let mut c = coordinator();
    let t0 = now();
    let w = surge(&c);
    let asked = c.requests(t0, &w);
    assert!(!asked.is_empty(), "a 3.7x surge leaves services short");
    for r in &asked {
        // The first agent by name whose role scales the service, in the resilience domain.
        assert_eq!(r.agent, "resilience-1", "{r:?}");
        assert_eq!(r.command["command"], "request");
        assert_eq!(r.command["agent"], "resilience-1");
        assert_eq!(r.command["reason"]["code"], "capacity_short");
        let have = r.command["reason"]["value"].as_f64().unwrap();
        let need = r.command["reason"]["limit"].as_f64().unwrap();
        assert!(need > have, "{r:?}");
        let arbiter::contract::Action::Scale { service, replicas } = &r.action else {
            panic!("a scale-up: {r:?}");
        };
        assert!(*replicas > 0);
        // The replicas asked for close the gap, and no more than one replica beyond it.
        let s = c.graph.index_of(service).unwrap();
        let per = c.graph.service(s).capacity_rps_per_replica;
        let added = *replicas as f64 * per;
        assert!(have + added >= need && have + added < need + per, "{r:?}");
    }
    let checkout = asked
        .iter()
        .any(|r| r.action.service() == "checkoutservice");
    assert!(checkout, "checkout is short for the surge: {asked:?}");
    // Not again while the ask is fresh; again once a quarter of an hour has passed.
    assert!(c.requests(t0.plus_millis(60_000), &w).is_empty());
    let again = c.requests(t0.plus_millis(arbiter::coordinator::asks::ASK_AGAIN_MS), &w);
    assert_eq!(again.len(), asked.len());
}

#[test]
fn nothing_is_asked_for_without_a_shortfall_under_a_freeze_or_on_an_unmeasured_load() {
    let mut c = coordinator();
    let t0 = now();
    // The shop as the overlay sizes it, its load measured: nothing short.
    let quiet = world(
        &c,
        serde_json::json!({"services": {"frontend": {"load_rps": 300.0}}}),
    );
    assert!(c.requests(t0, &quiet).is_empty());
    // Nobody measures the gateway's load and no overlay declares it: a shortfall behind it
    // would rest on a default rate. The same forecast with the load measured is asked for.
    let links = [("gateway".to_string(), "api".to_string(), 1.0)];
    let mut bare = Coordinator::new(graph_from(&links, ""), c.intents.clone(), c.roles.clone());
    let forecast = |load: Option<f64>| {
        let mut o = serde_json::json!({"forecast_rps": 5000.0});
        if let Some(l) = load {
            o["load_rps"] = l.into();
        }
        let t: Telemetry =
            serde_json::from_value(serde_json::json!({"services": {"gateway": o}})).unwrap();
        World::observed(&bare.graph, &t).unwrap()
    };
    let (unmeasured, measured) = (forecast(None), forecast(Some(100.0)));
    assert!(bare.requests(t0, &unmeasured).is_empty());
    assert!(!bare.requests(t0, &measured).is_empty());
    // An intent freezing checkout's scale-ups: checkout is not asked for, the rest are.
    let text = "name = \"freeze-checkout\"\npriorities = [\"availability\"]\n\
                [window]\nstart = 2026-11-27T09:00:00Z\nend = 2026-11-27T11:00:00Z\n\
                [[freeze]]\nname = \"f\"\nstart = 2026-11-27T09:00:00Z\nend = 2026-11-27T11:00:00Z\n\
                kinds = [\"scale\"]\nservices = [\"checkoutservice\"]\n";
    let mut intents = load_dir(&repo("intents")).unwrap().intents;
    intents.push(arbiter::intent::parse_intent("freeze.toml", text).unwrap());
    let mut frozen = Coordinator::new(boutique(), IntentSet::new(intents), c.roles.clone());
    let asked = frozen.requests(t0, &surge(&frozen));
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|r| r.action.service() != "checkoutservice"),
        "{asked:?}"
    );
    // Frozen: whatever was asked would be refused.
    c.controls.frozen = true;
    assert!(c.requests(t0, &surge(&c)).is_empty());
    c.controls.frozen = false;
    // No intent in force: every proposal goes to a person; nothing is asked for.
    let mut none = Coordinator::new(boutique(), IntentSet::default(), c.roles.clone());
    assert!(none.requests(t0, &surge(&none)).is_empty());
}
