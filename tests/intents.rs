//! Intent files: every problem is reported with file, line and column; the intent in force
//! is the most specific one; the shipped intents load.

mod common;

use arbiter::contract::Timestamp;
use arbiter::intent::{load_dir, parse_intent, parse_roles, IntentSet, Objective, Zone};
use common::repo;

fn errors(text: &str) -> Vec<String> {
    parse_intent("intents/x.toml", text)
        .expect_err("the text has errors")
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn each_problem_names_file_line_column_and_field() {
    let text = "name = \"bf\"\npriorities = [\"availability\", \"speed\"]\n\n[capacity]\nheadroom = 0.5\n\n[window]\nstart = 2026-11-28T00:00:00Z\nend = 2026-11-27T00:00:00Z\n\n[autonomy]\ncost = { critical = \"yolo\" }\nfinance = { \"*\" = \"observe\" }\n\n[[freeze]]\nname = \"f\"\nstart = 2026-11-27T00:00:00Z\nend = 2026-11-28T00:00:00Z\nkinds = [\"deploy\"]\n";
    let e = errors(text);
    let expect = [
        "intents/x.toml:2:31: priorities[1]: unknown objective `speed`",
        "intents/x.toml:5:12: capacity.headroom: must be within [1, 10], got 0.5",
        "intents/x.toml:9:7: window.end: must be after start",
        "intents/x.toml:12:8: autonomy.cost.critical: `yolo` is not a zone",
        "intents/x.toml:13:11: autonomy.finance: unknown domain",
        "intents/x.toml:19:10: freeze[0].kinds: unknown action kind `deploy`",
    ];
    for want in expect {
        assert!(
            e.iter().any(|got| got.starts_with(want)),
            "missing `{want}` in:\n{}",
            e.join("\n")
        );
    }
    assert_eq!(e.len(), expect.len(), "{}", e.join("\n"));
}

#[test]
fn syntax_errors_and_typos_point_at_the_spot() {
    let e = errors("name = \"bf\"\nprioritys = [\"cost\"]\n");
    assert!(
        e[0].starts_with("intents/x.toml:2:1: prioritys: unknown field `prioritys`"),
        "{e:?}"
    );
    // A value of the wrong type names its field, not only its place.
    let e = errors("name = \"bf\"\n[blast_radius]\nmax_changes_per_service = \"two\"\n");
    assert!(
        e[0].starts_with("intents/x.toml:3:27: blast_radius.max_changes_per_service: invalid type"),
        "{e:?}"
    );
    let e = errors("name = \"bf\n");
    assert!(e[0].starts_with("intents/x.toml:1:"), "{e:?}");
    let e = errors("name = \"bf\"\n[window]\nstart = \"tomorrow\"\nend = 2026-11-27T00:00:00Z\n");
    assert!(
        e[0].starts_with("intents/x.toml:3:9: window.start: `tomorrow` is not a full date-time"),
        "{e:?}"
    );
    let e = errors("name = \"bf\"\n[window]\nstart = 2026-11-27\nend = 2026-11-28T00:00:00Z\n");
    assert!(
        e[0].contains("window.start"),
        "a date without a time zone is refused: {e:?}"
    );
}

#[test]
fn unlisted_objectives_follow_in_default_order() {
    let i = parse_intent("x.toml", "name = \"x\"\npriorities = [\"cost\"]\n").unwrap();
    assert_eq!(
        i.priorities,
        vec![
            Objective::Cost,
            Objective::Availability,
            Objective::Latency,
            Objective::Security
        ]
    );
    assert_eq!(i.priority_clause(Objective::Cost), "priorities[0]=cost");
    assert_eq!(
        i.priority_clause(Objective::Latency),
        "default order: latency"
    );
}

#[test]
fn zones_resolve_tier_then_star_then_default() {
    let i = parse_intent(
        "x.toml",
        "name = \"x\"\n[autonomy]\ndefault = \"observe\"\ncost = { critical = \"approve\", \"*\" = \"autonomous\" }\n",
    )
    .unwrap();
    use arbiter::contract::Domain;
    assert_eq!(i.zone(Domain::Cost, "critical"), Zone::Approve);
    assert_eq!(i.zone(Domain::Cost, "standard"), Zone::Autonomous);
    assert_eq!(i.zone(Domain::Security, "critical"), Zone::Observe);
}

#[test]
fn the_most_specific_window_is_in_force() {
    let dir = load_dir(&repo("intents")).expect("shipped intents are valid");
    let set = IntentSet::new(dir.intents);
    let at = |t: &str| {
        set.in_force(Timestamp::parse(t).unwrap())
            .map(|i| i.name.clone())
    };
    assert_eq!(
        at("2026-11-28T12:00:00Z").as_deref(),
        Some("black-friday-2026")
    );
    assert_eq!(at("2026-12-05T12:00:00Z").as_deref(), Some("baseline"));
    let narrow = parse_intent(
        "n.toml",
        "name = \"n\"\n[window]\nstart = 2026-11-28T00:00:00Z\nend = 2026-11-28T06:00:00Z\n",
    )
    .unwrap();
    let mut all = set.all().to_vec();
    all.push(narrow);
    let set = IntentSet::new(all);
    assert_eq!(
        set.in_force(Timestamp::parse("2026-11-28T01:00:00Z").unwrap())
            .unwrap()
            .name,
        "n"
    );
    assert_eq!(
        set.in_force(Timestamp::parse("2026-11-28T07:00:00Z").unwrap())
            .unwrap()
            .name,
        "black-friday-2026"
    );
}

#[test]
fn a_directory_without_roles_or_with_twin_windows_is_refused() {
    let dir = std::env::temp_dir().join(format!("arbiter-intents-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.toml"), "name = \"a\"\n").unwrap();
    std::fs::write(dir.join("b.toml"), "name = \"b\"\n").unwrap();
    let e: Vec<String> = load_dir(&dir)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        e.iter()
            .any(|m| m.contains("agents.toml") && m.contains("missing")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("b.toml") && m.contains("same active window")),
        "{e:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn roles_are_checked_too() {
    let e = parse_roles(
        "agents.toml",
        "[agents.x]\ndomains = [\"money\"]\nkinds = [\"nuke\"]\n",
    )
    .unwrap_err();
    let text: Vec<String> = e.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("agents.x.domains") && t.contains("money")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("agents.x.kinds") && t.contains("nuke")),
        "{text:?}"
    );
    let r = parse_roles(
        "agents.toml",
        "[agents.x]\ndomains = [\"cost\"]\nservices = [\"shop-*\", \"db\"]\n",
    )
    .unwrap();
    let role = &r.agents["x"];
    assert!(
        role.allows_service("shop-cart")
            && role.allows_service("db")
            && !role.allows_service("dbx")
    );
}
