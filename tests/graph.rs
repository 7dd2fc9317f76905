//! Loading service graphs: Jaeger exports as they come, overlays with defaults, clear errors.

mod common;

use arbiter::graph::{parse_links_pub as parse_links, GraphError, Overlay, ServiceGraph};
use common::{boutique, graph_from};

#[test]
fn the_retail_shop_loads_with_its_traffic_shares() {
    let g = boutique();
    assert_eq!(g.len(), 11);
    let fe = g.index_of("frontend").unwrap();
    assert_eq!(g.entries(), &[fe]);
    let share = |s: &str| g.traffic_share(g.index_of(s).unwrap());
    assert!((share("frontend") - 1.0).abs() < 1e-9);
    // 1,000 checkouts per 21,000 frontend requests.
    assert!((share("checkoutservice") - 1000.0 / 21000.0).abs() < 1e-9);
    // Currency: 3 calls per request from the frontend, plus 4 per checkout.
    let cur = g.index_of("currencyservice").unwrap();
    assert!((g.visits(0, cur) - (63000.0 + 4000.0) / 21000.0).abs() < 1e-9);
    assert!(
        g.importance(g.index_of("paymentservice").unwrap()) >= 1.0,
        "revenue share counts"
    );
    assert!(g.version().starts_with("sha256:"));
}

#[test]
fn the_version_ignores_record_order_but_not_content() {
    let a = graph_from(
        &[
            ("a".into(), "b".into(), 10.0),
            ("a".into(), "c".into(), 5.0),
        ],
        "",
    );
    let b = graph_from(
        &[
            ("a".into(), "c".into(), 5.0),
            ("a".into(), "b".into(), 10.0),
        ],
        "",
    );
    let c = graph_from(
        &[
            ("a".into(), "c".into(), 6.0),
            ("a".into(), "b".into(), 10.0),
        ],
        "",
    );
    assert_eq!(a.version(), b.version());
    assert_ne!(a.version(), c.version());
}

#[test]
fn a_bare_export_works_with_defaults_and_the_api_envelope_is_accepted() {
    let links = parse_links(
        "g.json",
        r#"{"data": [{"parent": "a", "child": "b", "callCount": 3, "source": "jaeger"}]}"#,
    )
    .unwrap();
    let g = ServiceGraph::from_parts(&links, &Overlay::default()).unwrap();
    let b = g.service(g.index_of("b").unwrap());
    assert_eq!(
        (b.tier.as_str(), b.replicas, b.capacity_rps_per_replica),
        ("standard", 2, 100.0)
    );
}

#[test]
fn bad_files_get_located_errors() {
    let e = parse_links("g.json", "[\n {\"parent\": \"a\",\n  \"child\": }\n]").unwrap_err();
    assert!(e.to_string().starts_with("g.json:3:"), "{e}");
    let e = parse_links(
        "g.json",
        r#"[{"parent": "a", "child": "b", "callCount": -1}]"#,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "g.json: link #0 (callCount): must be a finite count >= 0, got -1"
    );
    let e = parse_links(
        "g.json",
        r#"[{"parent": "a b", "child": "b", "callCount": 1}]"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("link #0 (parent)"), "{e}");

    let dir = std::env::temp_dir().join(format!("arbiter-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let links = dir.join("g.json");
    std::fs::write(&links, r#"[{"parent": "a", "child": "b", "callCount": 1}]"#).unwrap();
    let overlay = dir.join("o.toml");
    std::fs::write(
        &overlay,
        "[services.a]\nreplicas = 2\n\n[services.b]\ncapacity_rps_per_replica = -5.0\n",
    )
    .unwrap();
    let e = ServiceGraph::from_files(&links, Some(&overlay)).unwrap_err();
    assert!(matches!(e, GraphError::Attribute { .. }));
    assert!(
        e.to_string()
            .ends_with("o.toml:4:1: services.b.capacity_rps_per_replica: must be > 0, got -5"),
        "{e}"
    );
    std::fs::write(&overlay, "[services.a]\nreplicaz = 2\n").unwrap();
    let e = ServiceGraph::from_files(&links, Some(&overlay)).unwrap_err();
    assert!(
        e.to_string().contains("o.toml:2:1") && e.to_string().contains("replicaz"),
        "{e}"
    );
    let e = ServiceGraph::from_files(&dir.join("missing.json"), None).unwrap_err();
    assert!(e.to_string().contains("missing.json: cannot read"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_graph_that_is_all_cycle_needs_a_declared_entry() {
    let links = [("a".into(), "b".into(), 1.0), ("b".into(), "a".into(), 1.0)];
    let overlay = "[services.a]\nentry = true\n";
    let g = graph_from(&links, overlay);
    assert!(g.has_cycle());
    let raw: Vec<_> = links
        .iter()
        .map(
            |(p, c, n): &(String, String, f64)| arbiter::graph::LinkRecord {
                parent: p.clone(),
                child: c.clone(),
                call_count: *n,
            },
        )
        .collect();
    let e = ServiceGraph::from_parts(&raw, &Overlay::default()).unwrap_err();
    assert!(matches!(e, GraphError::NoEntry), "{e}");
}
