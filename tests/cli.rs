//! The `arbiter` binary as a user runs it.

mod common;

use common::{repo, EXAMPLE_WINDOW, SHOP};
use std::process::{Command, Output};

fn arbiter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("the binary runs")
}

#[test]
fn decide_prints_one_decision_per_proposal_and_the_same_bytes_every_time() {
    let a = arbiter(&EXAMPLE_WINDOW);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let b = arbiter(&EXAMPLE_WINDOW);
    assert_eq!(a.stdout, b.stdout, "same input, same bytes");
    let text = String::from_utf8(a.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7);
    let verdicts: Vec<String> = lines
        .iter()
        .map(|l| {
            let d: arbiter::contract::Decision =
                serde_json::from_str(l).expect("a decision per line");
            format!("{}:{}", d.proposal_id, d.verdict.as_str())
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            "cost-2026-11-27T10:00:00Z-checkout:rejected",
            "scale-checkout-up:approved",
            "checkout-plus-2:merged",
            "waf-cred-stuffing:approved",
            "restart-catalog:rejected",
            "email-down:approved",
            "recs-cache:escalated",
        ]
    );
}

#[test]
fn a_bad_line_is_answered_invalid_and_the_rest_still_decided() {
    let dir = std::env::temp_dir().join(format!("arbiter-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good =
        std::fs::read_to_string(repo("scenarios/online-boutique/proposals-surge.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(1, "{\"v\":1,\"id\":\"broken\",\"agent\":\"resilience-1\",");
    let path = dir.join("p.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let mut args = EXAMPLE_WINDOW.to_vec();
    args[8] = path.to_str().unwrap();
    let out = arbiter(&args);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let second: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(second["verdict"], "invalid");
    assert_eq!(second["reasons"][0]["code"], "malformed_json");
    assert_eq!(text.lines().count(), 8);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_accepts_the_shipped_intents_and_locates_errors() {
    let ok = arbiter(&[
        "check",
        "intents",
        "--graph",
        "scenarios/online-boutique/graph.json",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("black-friday-2026"));

    let dir = std::env::temp_dir().join(format!("arbiter-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(repo("intents/agents.toml"), dir.join("agents.toml")).unwrap();
    std::fs::write(
        dir.join("bad.toml"),
        "name = \"x\"\n[budget]\nmax_cost_per_hour = -3.0\n",
    )
    .unwrap();
    let bad = arbiter(&["check", dir.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("bad.toml:3:21: budget.max_cost_per_hour: must be >= 0, got -3"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_inputs_fail_with_the_path_named() {
    let mut args = EXAMPLE_WINDOW.to_vec();
    args[2] = "nowhere/graph.json";
    let out = arbiter(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere/graph.json: cannot read"), "{err}");
    // A mistyped audit trail is an error, not an empty chain that verifies.
    for args in [
        vec!["audit", "verify", "nowhere/audit.jsonl"],
        vec!["audit", "show", "nowhere/audit.jsonl", "some-id"],
        vec![
            "replay",
            "nowhere/audit.jsonl",
            "--intents",
            "intents",
            "--graph",
            "scenarios/online-boutique/graph.json",
        ],
    ] {
        let out = arbiter(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("nowhere/audit.jsonl: no such audit trail"),
            "{err}"
        );
    }
}

#[test]
fn replay_lists_exactly_the_verdicts_other_intents_would_change() {
    let dir = std::env::temp_dir().join(format!("arbiter-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("alt")).unwrap();
    let audit = dir.join("audit.jsonl");
    let mut args = EXAMPLE_WINDOW.to_vec();
    args.extend(["--audit", audit.to_str().unwrap()]);
    assert!(arbiter(&args).status.success());
    // Cost first instead of last.
    for f in ["agents.toml", "approvers.toml", "baseline.toml"] {
        std::fs::copy(repo("intents").join(f), dir.join("alt").join(f)).unwrap();
    }
    let friday = std::fs::read_to_string(repo("intents/black-friday-2026.toml")).unwrap();
    let swapped = friday.replace(
        "priorities = [\"availability\", \"latency\", \"security\", \"cost\"]",
        "priorities = [\"cost\", \"security\", \"availability\", \"latency\"]",
    );
    assert_ne!(friday, swapped);
    std::fs::write(dir.join("alt/black-friday-2026.toml"), swapped).unwrap();

    let replay = |intents: &str| {
        let mut args = vec!["replay", audit.to_str().unwrap(), "--intents", intents];
        args.extend(SHOP);
        args.push("--json");
        let out = arbiter(&args);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    assert!(
        replay("intents").is_empty(),
        "the same intents change nothing"
    );
    let changes = replay(dir.join("alt").to_str().unwrap());
    let summary: Vec<(String, String, String)> = changes
        .iter()
        .map(|c| {
            (
                c["proposal_id"].as_str().unwrap().to_string(),
                c["recorded"].as_str().unwrap().to_string(),
                c["replayed"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect =
        |id: &str, from: &str, to: &str| (id.to_string(), from.to_string(), to.to_string());
    assert_eq!(
        summary,
        vec![
            expect(
                "cost-2026-11-27T10:00:00Z-checkout",
                "rejected",
                "escalated"
            ),
            expect("scale-checkout-up", "approved", "rejected"),
            expect("checkout-plus-2", "merged", "rejected"),
        ]
    );
    // An edited trail is refused rather than replayed.
    let text = std::fs::read_to_string(&audit).unwrap();
    std::fs::write(&audit, text.replacen("\"approved\"", "\"rejected\"", 1)).unwrap();
    let mut args = vec!["replay", audit.to_str().unwrap(), "--intents", "intents"];
    args.extend(SHOP);
    let out = arbiter(&args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn out_of_range_numbers_are_refused_before_anything_runs() {
    for (args, says) in [
        (vec!["loadgen", "--duration-s", "1e300"], "--duration-s"),
        (vec!["loadgen", "--duration-s", "NaN"], "--duration-s"),
        (vec!["loadgen", "--drain-s=-1"], "--drain-s"),
        (vec!["loadgen", "--rate", "0"], "--rate"),
        (
            vec!["loadgen", "--rate", "1000000", "--duration-s", "86400"],
            "50 million",
        ),
        (
            vec![
                "serve",
                "--graph",
                "g.json",
                "--intents",
                "intents",
                "--max-window",
                "18446744073709551615",
            ],
            "--max-window",
        ),
        (
            vec![
                "serve",
                "--graph",
                "g.json",
                "--intents",
                "intents",
                "--rollback-watch-s",
                "18446744073709551615",
            ],
            "--rollback-watch-s",
        ),
    ] {
        let out = arbiter(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn an_error_says_its_cause_once() {
    let out = arbiter(&["simulate", "/nonexistent/scenario.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/scenario.toml: cannot read"),
        "{err}"
    );
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn the_suite_says_where_it_cannot_write() {
    // A file where the cases' directory should be: no directory can be made under it.
    let file = std::env::temp_dir().join(format!("arbiter-keep-{}", std::process::id()));
    std::fs::write(&file, "not a directory").unwrap();
    let keep = file.join("cases");
    let out = arbiter(&["suite", "--quick", "--keep", keep.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().last().unwrap_or_default();
    assert!(
        line.starts_with(&format!("error: {}", keep.display())),
        "{err}"
    );
    assert!(line.contains("cannot write: "), "{err}");
    assert_eq!(line.matches("Not a directory").count(), 1, "{err}");
}

/// `decide --audit` writes a file: given the replicated trail's URL it refuses, saying who
/// writes that trail, and creates nothing (not a file named after the URL).
#[test]
fn decide_refuses_to_append_to_the_replicated_trail() {
    let mut args: Vec<&str> = EXAMPLE_WINDOW.to_vec();
    args.extend(["--audit", "nats://127.0.0.1:4222"]);
    let out = arbiter(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("one writer") && err.contains("audit export"),
        "{err}"
    );
    assert!(!repo("nats:").exists(), "a directory named after the URL");
}
