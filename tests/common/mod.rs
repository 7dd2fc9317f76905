//! Fixtures shared by the integration tests: the shipped retail graph, and builders that turn
//! compact TOML case descriptions into real contract payloads.
#![allow(dead_code)]

use arbiter::contract::{parse_proposal, Timestamp};
use arbiter::engine::Submission;
use arbiter::graph::{LinkRecord, Overlay, ServiceGraph};
use std::path::Path;

pub mod browser;
pub mod cluster;
pub mod disk;
pub mod load;
pub mod service;

pub const NOW: &str = "2026-11-27T10:00:00Z";

pub fn now() -> Timestamp {
    Timestamp::parse(NOW).unwrap()
}

pub fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The retail shop's graph, as the commands take it.
pub const SHOP: [&str; 4] = [
    "--graph",
    "scenarios/online-boutique/graph.json",
    "--overlay",
    "scenarios/online-boutique/overlay.toml",
];

/// `arbiter decide` on the shipped example window: the surge's proposals and telemetry on the
/// retail shop, under the shipped intents.
pub const EXAMPLE_WINDOW: [&str; 11] = [
    "decide",
    "--graph",
    "scenarios/online-boutique/graph.json",
    "--overlay",
    "scenarios/online-boutique/overlay.toml",
    "--intents",
    "intents",
    "--proposals",
    "scenarios/online-boutique/proposals-surge.jsonl",
    "--telemetry",
    "scenarios/online-boutique/telemetry-surge.json",
];

/// Runs one of the project's `scripts/ensure-*.sh` (which install what the tests need when
/// it is missing) and returns the lines it prints: the paths of what it installed.
pub fn ensure(script: &str) -> Vec<String> {
    let out = std::process::Command::new("bash")
        .arg(repo("scripts").join(script))
        .output()
        .expect("the install script runs");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

pub fn boutique() -> ServiceGraph {
    ServiceGraph::from_files(
        &repo("scenarios/online-boutique/graph.json"),
        Some(&repo("scenarios/online-boutique/overlay.toml")),
    )
    .unwrap()
}

pub fn graph_from(links: &[(String, String, f64)], overlay: &str) -> ServiceGraph {
    let links: Vec<LinkRecord> = links
        .iter()
        .map(|(p, c, n)| LinkRecord {
            parent: p.clone(),
            child: c.clone(),
            call_count: *n,
        })
        .collect();
    let overlay: Overlay = toml::from_str(overlay).unwrap();
    ServiceGraph::from_parts(&links, &overlay).unwrap()
}

/// Deep-merges `over` into `base` (tables merge, everything else is replaced).
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

pub fn to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

/// A full proposal payload from a compact description: defaults for every field the case
/// does not care about, then through the real parser.
pub fn proposal(spec: &serde_json::Value) -> Submission {
    parse_proposal(payload(spec).to_string().as_bytes())
}

/// The payload [`proposal`] parses.
pub fn payload(spec: &serde_json::Value) -> serde_json::Value {
    let mut p = serde_json::json!({
        "v": 1,
        "confidence": 0.9,
        "reversible": true,
        "rationale": "test",
        "created_at": NOW,
        "expires_at": "2026-11-27T10:05:00Z",
    });
    let obj = p.as_object_mut().unwrap();
    for (k, v) in spec.as_object().unwrap() {
        obj.insert(k.clone(), v.clone());
    }
    p
}
