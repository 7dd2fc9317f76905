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

/// Every reason code and recommendation the arbiter can send is listed in the decision schema,
/// and nothing else: an agent author validating against it meets no surprise.
#[test]
fn the_decision_schema_lists_every_reason_code_and_recommendation() {
    let s = schema::decision();
    let mut listed = Vec::new();
    let codes = &s["$defs"]["ReasonCode"];
    for part in codes["oneOf"]
        .as_array()
        .expect("one entry per code or group")
    {
        if let Some(values) = part["enum"].as_array() {
            listed.extend(values.iter().map(|v| v.as_str().unwrap().to_string()));
        }
        if let Some(value) = part["const"].as_str() {
            listed.push(value.to_string());
        }
    }
    listed.sort();
    let mut sent: Vec<String> = arbiter::contract::ReasonCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    sent.sort();
    assert_eq!(listed, sent);
    assert!(listed.contains(&"accepted_risk:slo_headroom".to_string()));
    assert_eq!(
        s["$defs"]["Reason"]["properties"]["code"]["$ref"],
        "#/$defs/ReasonCode"
    );
    assert_eq!(
        s["$defs"]["Recommendation"]["enum"],
        serde_json::json!(["approve", "deny"])
    );
}
