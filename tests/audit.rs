//! The audit trail: a chain that detects any edited, removed or reordered record, replays
//! that record nothing twice, and a narrative a person can read.

mod common;

use arbiter::audit::{
    narrative, verify, AuditError, AuditLog, Event, IndexEntry, Layout, Payload, SegmentIndex,
    TrailIndex,
};
use arbiter::contract::{Decision, Timestamp, Verdict};
use arbiter::engine::Ledger;
use common::{repo, EXAMPLE_WINDOW};
use std::path::{Path, PathBuf};
use std::process::Command;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbiter-audit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("audit.jsonl")
}

/// Decides the shipped example window, recording into `audit`; returns stdout.
fn decide(audit: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .current_dir(repo(""))
        .args(EXAMPLE_WINDOW)
        .arg("--audit")
        .arg(audit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn broken(path: &Path) -> (usize, String) {
    match verify(path) {
        Err(AuditError::Broken { line, problem, .. }) => (line, problem),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn every_decision_is_chained_and_a_replay_records_nothing_new() {
    let audit = temp("chain");
    let first = decide(&audit);
    let records = lines(&audit);
    // What the engine observed, then one record per decision.
    assert_eq!(records.len(), 8);
    assert!(
        records[0].contains("\"kind\":\"observed\""),
        "{}",
        records[0]
    );
    let v = verify(&audit).unwrap();
    assert_eq!(v.records, 8);
    // Each decision carries its place in the chain: seq, own hash, predecessor's hash.
    let decisions: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, d) in decisions.iter().enumerate() {
        assert_eq!(d["audit"]["seq"], i as u64 + 2);
        if i > 0 {
            assert_eq!(d["audit"]["prev"], decisions[i - 1]["audit"]["hash"]);
        }
    }
    assert_eq!(decisions[6]["audit"]["hash"], v.last_hash.as_str());
    // The same proposals again: the recorded answers, byte for byte, and no new records.
    assert_eq!(decide(&audit), first);
    assert_eq!(lines(&audit).len(), 8);
}

#[test]
fn an_edited_removed_or_reordered_record_is_found_where_it_happened() {
    let audit = temp("tamper");
    decide(&audit);
    let good = lines(&audit);
    let write = |ls: &[String]| std::fs::write(&audit, ls.join("\n") + "\n").unwrap();

    let mut edited = good.clone();
    edited[3] = edited[3].replace("\"verdict\":\"merged\"", "\"verdict\":\"approved\"");
    assert_ne!(edited[3], good[3]);
    write(&edited);
    let (line, problem) = broken(&audit);
    assert_eq!(line, 4);
    assert!(problem.contains("edited"), "{problem}");

    // An edit that reads the same is an edit too: the chain covers the bytes as written.
    let mut spaced = good.clone();
    spaced[3] = spaced[3].replacen("\"verdict\":", "\"verdict\": ", 1);
    write(&spaced);
    let (line, problem) = broken(&audit);
    assert_eq!(line, 4);
    assert!(problem.contains("edited"), "{problem}");

    let mut removed = good.clone();
    removed.remove(3);
    write(&removed);
    let (line, problem) = broken(&audit);
    assert_eq!(line, 4);
    assert!(
        problem.contains("removed or the records were reordered"),
        "{problem}"
    );

    let mut swapped = good.clone();
    swapped.swap(2, 3);
    write(&swapped);
    assert_eq!(broken(&audit).0, 3);

    // Appending to a broken chain is refused: it would launder the break.
    assert!(AuditLog::open(&audit).is_err());
    write(&good);
    assert!(verify(&audit).is_ok());
}

#[test]
fn the_narrative_tells_who_asked_what_was_known_and_what_decided() {
    let audit = temp("story");
    decide(&audit);
    let story = narrative(&audit, "cost-2026-11-27T10:00:00Z-checkout")
        .unwrap()
        .unwrap();
    for part in [
        "cost-optimizer-1 proposed (as cost)",
        "because: CPU utilisation 22% over the last hour",
        "The arbiter knew:",
        "\"service\":\"checkoutservice\"",
        "Intent in force: 'black-friday-2026' (sha256:",
        "Service graph: sha256:",
        "Verdict: rejected [outranked, capacity_floor]",
        "Had it been approved",
    ] {
        assert!(story.contains(part), "missing `{part}` in:\n{story}");
    }
    assert!(narrative(&audit, "no-such-proposal").unwrap().is_none());

    // Read while the service appends (the dashboard does): a record still being written is
    // not part of the story yet rather than an error (`audit verify` is what reports it).
    let id = "cost-2026-11-27T10:00:00Z-checkout";
    let whole = std::fs::read_to_string(&audit).unwrap();
    std::fs::write(
        &audit,
        format!("{whole}{{\"seq\":8,\"proposal_id\":\"{id}\""),
    )
    .unwrap();
    assert_eq!(narrative(&audit, id).unwrap().unwrap(), story);
    assert!(verify(&audit).is_err());
}

#[test]
fn a_torn_last_line_from_a_crash_is_cut_and_nothing_else() {
    let audit = temp("torn");
    decide(&audit);
    let good = std::fs::read_to_string(&audit).unwrap();
    std::fs::write(
        &audit,
        format!("{good}{{\"seq\":8,\"at\":\"2026-11-27T10:00:00Z\",\"prev"),
    )
    .unwrap();
    let log = AuditLog::open(&audit).expect("a torn tail does not stop the arbiter");
    drop(log);
    assert_eq!(std::fs::read_to_string(&audit).unwrap(), good);
}

/// A decision record on proposal `id` of `agent`, as the service writes one.
fn decision_event(agent: &str, id: &str, verdict: Verdict) -> Event {
    let at = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
    Event::Decision {
        proposal: Payload::of(&serde_json::json!({"id": id, "agent": agent})),
        knew: std::sync::Arc::new(serde_json::json!({"service": "checkout"})),
        decision: Box::new(Decision::blank(id.into(), agent.into(), verdict, at)),
        subject: None,
    }
}

/// A replica's copy of the replicated trail is flushed in the background rather than at each
/// commit: what it writes, segments and seals included, is the same as a flushed trail's,
/// readable as soon as a commit returns.
#[test]
fn a_copy_flushed_in_the_background_holds_what_a_flushed_trail_holds() {
    let at = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
    let write = |audit: &std::path::Path, background: bool| {
        let mut log = AuditLog::open(audit).unwrap().with_segments(4096);
        if background {
            log = log.flushed_in_background().unwrap();
        }
        for i in 0..60 {
            log.append(
                at,
                decision_event("a", &format!("p-{i}"), Verdict::Approved),
            )
            .unwrap();
            let mut last = 0;
            arbiter::audit::for_each(audit, |r| last = r.seq).unwrap();
            assert_eq!(last, i + 1, "record {} readable once committed", i + 1);
        }
        log.take_sealed().len()
    };
    let (flushed, copy) = (temp("flushed-each"), temp("flushed-behind"));
    let sealed = write(&flushed, false);
    assert!(sealed >= 3, "{sealed} segments");
    assert_eq!(write(&copy, true), sealed);
    let (a, b) = (Layout::of(&flushed), Layout::of(&copy));
    for (x, y) in a.files().unwrap().iter().zip(b.files().unwrap()) {
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(&y).unwrap(),
            "{}",
            y.display()
        );
    }
    assert_eq!(verify(&copy).unwrap().records, 60);
}

/// The service indexes the segments it seals from the records it wrote, as it wrote them:
/// the index is the one reading the sealed segment back would build, byte for byte.
#[test]
fn a_segment_indexed_from_its_records_as_written_matches_one_read_back() {
    let audit = temp("indexed-as-written");
    let at = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
    let mut log = AuditLog::open(&audit).unwrap().with_segments(4096);
    let mut written = Vec::new();
    for i in 0..40 {
        // Staged observations go first in a commit and are records too.
        log.stage(Event::Observed {
            telemetry: Default::default(),
            changes: false,
        });
        let mut events = vec![decision_event("a", &format!("p-{i}"), Verdict::Approved)];
        if i % 3 == 0 {
            events.push(decision_event("b", &format!("q-{i}"), Verdict::Escalated));
        }
        let prepared = log.prepare(at, events);
        log.commit(&prepared).unwrap();
        written.extend(log.committed(prepared));
    }
    let sealed = log.take_sealed();
    assert!(sealed.len() >= 2, "{} segments", sealed.len());
    for (i, s) in sealed.iter().enumerate() {
        let head_first = arbiter::audit::first_record_of(Layout::of(&audit).head())
            .unwrap()
            .map_or(log.position().next_seq, |r| r.seq);
        let next = sealed.get(i + 1).map_or(head_first, |n| n.first_seq);
        let of_segment: Vec<_> = written
            .iter()
            .filter(|(r, _)| (s.first_seq..next).contains(&r.seq))
            .collect();
        let last = of_segment.last().unwrap().0.seq;
        let mut entries: Vec<IndexEntry> = of_segment
            .iter()
            .filter_map(|(r, at)| IndexEntry::of(r, *at))
            .collect();
        assert!(!entries.is_empty());
        let (as_written, read_back) =
            (audit.with_extension("w.idx"), audit.with_extension("r.idx"));
        let w = SegmentIndex::from_entries(s, &as_written, last, &mut entries).unwrap();
        let r = SegmentIndex::build(s, &read_back).unwrap();
        assert_eq!(
            (w.first_seq, w.last_seq, w.entries),
            (r.first_seq, r.last_seq, r.entries)
        );
        assert_eq!(
            std::fs::read(&as_written).unwrap(),
            std::fs::read(&read_back).unwrap()
        );
    }
}

#[test]
fn a_long_trail_is_kept_in_chained_segments_each_indexed_once_sealed() {
    let audit = temp("segments");
    let at = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
    let mut log = AuditLog::open(&audit).unwrap().with_segments(4096);
    for i in 0..120 {
        let mut events = vec![decision_event("a", &format!("p-{i}"), Verdict::Approved)];
        if i % 2 == 1 {
            events.push(Event::Outcome {
                agent: "a".into(),
                proposal_id: format!("p-{}", i / 2),
                status: "succeeded".into(),
                observed: serde_json::json!({}),
            });
        }
        log.append_all(at, events).unwrap();
    }
    let sealed = log.take_sealed();
    drop(log);
    assert!(sealed.len() >= 5, "{} segments", sealed.len());
    let layout = Layout::of(&audit);
    assert_eq!(layout.sealed().unwrap(), sealed);
    // One chain across every file.
    assert_eq!(verify(&audit).unwrap().records, 180);
    let mut seqs = Vec::new();
    arbiter::audit::for_each(&audit, |r| seqs.push(r.seq)).unwrap();
    assert_eq!(seqs, (1..=180).collect::<Vec<u64>>());

    // Stories and resends are found through the indexes of sealed segments, and in the
    // head (or a segment not indexed yet) by reading it.
    for s in &sealed[..3] {
        SegmentIndex::build(s, &layout.index(s.first_seq)).unwrap();
    }
    let story = narrative(&audit, "p-7").unwrap().unwrap();
    assert!(
        story.contains("a proposed") && story.contains("a reported the outcome: succeeded"),
        "{story}"
    );
    let index = std::sync::Arc::new(TrailIndex::open(&audit).unwrap());
    assert_eq!(index.size().segments, 3);
    let ledger = Ledger::recalling(index.clone());
    let first = index.sealed()[0].clone();
    let d = ledger.recall("a", "p-0").expect("found through the index");
    assert_eq!(d.verdict, Verdict::Approved);
    assert_eq!(d.audit.unwrap().seq, 1);
    assert!(ledger.knows("a", "p-1") && !ledger.knows("b", "p-1") && !ledger.knows("a", "q"));
    assert!(first.last_seq >= 2);

    // The chain runs on across a reopening, and an edit in a sealed segment is found there.
    let mut log = AuditLog::open(&audit).unwrap();
    log.append(at, decision_event("a", "late", Verdict::Rejected))
        .unwrap();
    drop(log);
    assert_eq!(verify(&audit).unwrap().records, 181);
    let second = &sealed[1].path;
    let text = std::fs::read_to_string(second).unwrap();
    std::fs::write(second, text.replacen("approved", "rejected", 1)).unwrap();
    match verify(&audit) {
        Err(AuditError::Broken { path, .. }) => assert_eq!(path, second.display().to_string()),
        other => panic!("an edited sealed segment verified: {other:?}"),
    }
}

/// A replica whose segments are cut at other records than the leader's retires only whole
/// segments up to the record the leader's `retention` record names, so it keeps a few records
/// the leader removed: its trail verifies if that record, which it still holds, has the hash
/// the retention record names — and not if it has another.
#[test]
fn a_trail_that_keeps_more_than_its_retention_record_removed_verifies() {
    let audit = temp("overlap");
    let at = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
    let mut log = AuditLog::open(&audit).unwrap().with_segments(4096);
    for i in 0..60 {
        log.append(
            at,
            decision_event("a", &format!("p-{i}"), Verdict::Approved),
        )
        .unwrap();
    }
    let sealed = log.take_sealed();
    assert!(sealed.len() >= 3, "{} segments", sealed.len());
    // The leader removed up to a record inside this trail's second segment.
    let through = sealed[1].first_seq + 1;
    let mut hash = String::new();
    arbiter::audit::for_each(&audit, |r| {
        if r.seq == through {
            hash = r.hash.clone();
        }
    })
    .unwrap();
    let retention = |last_hash: String| Event::Retention {
        through_seq: through,
        last_hash,
        segments: vec![1],
        bytes: 0,
        archived_to: None,
    };
    log.append(at, retention(hash)).unwrap();
    drop(log);
    let copy = temp("overlap-wrong");
    // The same trail with a retention record naming another hash for that record.
    std::fs::remove_dir_all(copy.with_extension("jsonl.segments")).ok();
    {
        let text = std::fs::read_to_string(&audit).unwrap();
        std::fs::create_dir_all(copy.with_extension("jsonl.segments")).unwrap();
        for s in &sealed[1..] {
            std::fs::copy(
                &s.path,
                copy.with_extension("jsonl.segments")
                    .join(s.path.file_name().unwrap()),
            )
            .unwrap();
        }
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let last = lines.pop().unwrap();
        let mut r: arbiter::audit::Record = serde_json::from_str(&last).unwrap();
        if let Event::Retention { last_hash, .. } = &mut r.event {
            *last_hash = "sha256:0000".into();
        }
        r.hash = String::new();
        let body = serde_json::to_string(&r).unwrap();
        let hash = arbiter::hash::sha256_parts(&[r.prev.as_bytes(), b"|", body.as_bytes()]);
        lines.push(body.replacen("\"hash\":\"\"", &format!("\"hash\":\"{hash}\""), 1));
        std::fs::write(&copy, lines.join("\n") + "\n").unwrap();
    }
    // This trail's first segment goes; its second, which holds `through`, stays.
    std::fs::remove_file(&sealed[0].path).unwrap();
    let v = verify(&audit).unwrap();
    assert_eq!(v.first_seq, sealed[1].first_seq);
    match verify(&copy) {
        Err(AuditError::Broken { problem, .. }) => {
            assert!(problem.contains("no retention record"), "{problem}")
        }
        other => panic!("a retention record naming another hash vouched: {other:?}"),
    }
}
