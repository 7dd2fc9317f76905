//! The published JSON Schemas (`schema/*.json`) are generated from the wire types; this test
//! fails when a type changes and the files were not regenerated with `arbiter schema`.

use arbiter::contract::schema;

#[test]
fn published_schemas_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    for (name, generated) in schema::all() {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `cargo run -- schema`", path.display()));
        let published: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            published, generated,
            "{name} is stale: run `cargo run -- schema`"
        );
    }
}

#[test]
fn the_proposal_schema_refuses_unknown_fields_and_names_every_kind() {
    let s = schema::proposal();
    let text = s.to_string();
    assert_eq!(s["additionalProperties"], serde_json::json!(false));
    for kind in [
        "scale",
        "rollback",
        "restart",
        "rate_limit",
        "waf_rule",
        "reroute",
        "feature_flag",
        "config",
        "isolate",
        "rotate_credentials",
    ] {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "schema lacks action kind {kind}"
        );
    }
}
