//! The layout's dependency rules, read from the source: which top-level module of `src/`
//! names which (`crate::<module>` outside comments). A cycle between modules is what makes a
//! module impossible to change, test or read on its own, so none is allowed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Uses = BTreeMap<String, BTreeSet<String>>;

fn uses() -> Uses {
    let mut uses = Uses::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel.components().next().unwrap().as_os_str();
            let module = first.to_str().unwrap().trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let named = uses.entry(module.clone()).or_default();
            for line in text.lines() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        named.insert(name);
                    }
                }
            }
        }
    }
    uses
}

/// Every pair of modules that reach each other, directly or through others.
fn cycles(uses: &Uses) -> Vec<(String, String)> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for next in uses.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let mut found = Vec::new();
    for a in uses.keys() {
        let from_a = reaches(a);
        for b in uses.keys().filter(|b| *b > a) {
            if from_a.contains(b) && reaches(b).contains(a) {
                found.push((a.clone(), b.clone()));
            }
        }
    }
    found
}

#[test]
fn no_two_modules_depend_on_each_other() {
    let uses = uses();
    assert!(uses.len() > 10, "read too little of src/: {uses:?}");
    let found = cycles(&uses);
    assert!(found.is_empty(), "modules that reach each other: {found:?}");
}

#[test]
fn the_transport_and_the_api_know_nothing_of_the_service() {
    let uses = uses();
    for (module, forbidden) in [
        ("bus", &["service", "coordinator", "api", "engine"][..]),
        ("api", &["service", "bus", "coordinator"][..]),
        (
            "contract",
            &["service", "bus", "api", "engine", "audit", "intent"][..],
        ),
        (
            "engine",
            &["service", "bus", "api", "audit", "coordinator"][..],
        ),
    ] {
        let named = &uses[module];
        for f in forbidden {
            assert!(!named.contains(*f), "{module} uses {f}: {named:?}");
        }
    }
}

#[test]
fn the_check_sees_a_cycle_when_there_is_one() {
    let mut uses = Uses::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        uses.entry(a.into()).or_default().insert(b.into());
        uses.entry(b.into()).or_default();
    }
    uses.entry("d".into()).or_default();
    let found = cycles(&uses);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(!found.iter().any(|(a, b)| a == "d" || b == "d"));
}
