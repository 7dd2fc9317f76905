//! The fault campaign: `arbiter serve` under steady load against a real nats-server while the
//! arbiter or the server is killed and restarted, its disk fills, and agents misbehave. Every
//! case checks the same promise from the agent's side: each proposal gets exactly one first
//! decision, delivered, and the audit trail verifies.

mod common;

use common::disk::SmallDisk;
use common::load::*;
use common::service::*;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The load runs one at a time: two cores cannot carry two of them and a restart in time.
static LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The application agent's connection: a client, its JetStream context and its decisions.
async fn tuner(
    h: &Harness,
) -> (
    async_nats::Client,
    async_nats::jetstream::Context,
    async_nats::Subscriber,
) {
    agent_at(&h.url, "arbiter.decisions.application.app-tuner-1").await
}

/// Every decision the agent received, by proposal id, and every decision stored.
struct Received {
    by_id: BTreeMap<String, Vec<serde_json::Value>>,
}

impl Received {
    /// Takes decisions from `sub` until every id in `ids` has one, or `within` passes.
    async fn collect(
        sub: &mut async_nats::Subscriber,
        ids: &[String],
        within: Duration,
    ) -> Received {
        let mut by_id: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + within;
        let wanted: std::collections::BTreeSet<&str> = ids.iter().map(|s| s.as_str()).collect();
        while wanted.iter().any(|id| !by_id.contains_key(*id)) {
            match tokio::time::timeout_at(deadline, sub.next()).await {
                Ok(Some(m)) => {
                    let d: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                    let id = d["proposal_id"].as_str().unwrap_or("").to_string();
                    by_id.entry(id).or_default().push(d);
                }
                _ => break,
            }
        }
        // Anything still on its way is a copy, and copies must agree.
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
            let d: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            let id = d["proposal_id"].as_str().unwrap_or("").to_string();
            by_id.entry(id).or_default().push(d);
        }
        Received { by_id }
    }

    /// Exactly one first decision per proposal: every id answered, every copy the same
    /// decision (same verdict, time and audit record).
    fn assert_one_each(&self, ids: &[String], case: &str) {
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !self.by_id.contains_key(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "{case}: {} of {} proposals got no decision, e.g. {:?}",
            missing.len(),
            ids.len(),
            &missing[..missing.len().min(5)]
        );
        for (id, ds) in &self.by_id {
            let first = &ds[0];
            for d in &ds[1..] {
                assert!(
                    d["verdict"] == first["verdict"]
                        && d["decided_at"] == first["decided_at"]
                        && d["audit"]["seq"] == first["audit"]["seq"],
                    "{case}: {id} was decided twice: {first} and {d}"
                );
            }
        }
    }
}

fn assert_trail_verifies(h: &Harness, case: &str) -> u64 {
    match arbiter::audit::verify(&h.dir.join("audit.jsonl")) {
        Ok(v) => v.records,
        Err(e) => panic!("{case}: the audit trail does not verify: {e}"),
    }
}

/// Sends SIGTERM and waits for the process to end, at most `within`.
fn terminate(mut child: std::process::Child, within: Duration) -> std::process::ExitStatus {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running {within:?} after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_cleanly_and_a_successor_decides_the_rest_once() {
    let _one = LOAD.lock().await;
    let mut h = Harness::start("sigterm");
    h.arbiter();
    let (_client, js, mut sub) = tuner(&h).await;
    let sender = load(js.clone(), "t", 2 * RATE);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let arbiter = h.procs.0.pop().expect("an arbiter");
    let status = terminate(arbiter, Duration::from_secs(10));
    assert!(status.success(), "SIGTERM under load: {status:?}");
    h.arbiter();
    let ids = sender.await.unwrap();
    let got = Received::collect(&mut sub, &ids, Duration::from_secs(60)).await;
    got.assert_one_each(&ids, "SIGTERM");
    let stored = stored_by_id(&js).await;
    assert_eq!(stored.len(), ids.len(), "SIGTERM: decisions stored");
    assert!(
        stored.values().all(|&n| n == 1),
        "SIGTERM: a decision stored twice"
    );
    assert_trail_verifies(&h, "SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_nats_server_is_down_stops_within_its_grace_and_nothing_is_lost() {
    let _one = LOAD.lock().await;
    let case = "SIGTERM with nats-server down";
    let mut h = Harness::start("sigterm-server-down");
    h.arbiter();
    let js = jetstream_at(&h.url).await;
    let sender = load(js.clone(), "d", 3 * RATE);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    h.kill_server();
    let arbiter = h.procs.0.pop().expect("an arbiter");
    // The stop waits 10 s for a server to acknowledge to, then leaves.
    let status = terminate(arbiter, Duration::from_secs(25));
    assert!(status.success(), "{case}: {status:?}");
    h.start_server_again();
    h.arbiter();
    let ids = sender.await.unwrap();
    assert_each_stored_once(&js, &ids, case).await;
    assert_trail_verifies(&h, case);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_arbiter_restarted_after_any_delay_loses_no_proposal_and_decides_none_twice() {
    let _one = LOAD.lock().await;
    for (k, delay_ms) in [0u64, 500, 1_000, 2_000, 7_000].into_iter().enumerate() {
        let case = format!("kill -9, restart after {delay_ms} ms");
        let mut h = Harness::start(&format!("kill-{k}"));
        h.arbiter();
        let (_client, js, mut sub) = tuner(&h).await;
        let sender = load(js.clone(), &format!("k{k}"), 4 * RATE);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        h.kill_arbiter();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        h.arbiter();
        let ids = sender.await.unwrap();
        let got = Received::collect(&mut sub, &ids, Duration::from_secs(60)).await;
        got.assert_one_each(&ids, &case);
        let stored = stored_by_id(&js).await;
        assert_eq!(stored.len(), ids.len(), "{case}: decisions stored");
        assert!(
            stored.values().all(|&n| n == 1),
            "{case}: a decision stored twice"
        );
        let records = assert_trail_verifies(&h, &case);
        assert!(
            records >= ids.len() as u64,
            "{case}: {records} audit records"
        );
    }
}

fn arbiter_alive(h: &mut Harness, case: &str) {
    let arbiter = h.procs.0.last_mut().expect("an arbiter");
    assert!(
        arbiter.try_wait().unwrap().is_none(),
        "{case}: the arbiter exited: {:?}",
        arbiter.try_wait()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_killed_and_restarted_under_load_five_times_ends_nothing_and_loses_nothing() {
    let _one = LOAD.lock().await;
    let case = "nats-server kill -9 and restart";
    let mut h = Harness::start("server-kill");
    h.arbiter();
    let js = jetstream_at(&h.url).await;
    let sender = load(js.clone(), "s", 8 * RATE);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        h.kill_server();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        h.start_server_again();
        arbiter_alive(&mut h, case);
    }
    let ids = sender.await.unwrap();
    assert_each_stored_once(&js, &ids, case).await;
    arbiter_alive(&mut h, case);
    assert_trail_verifies(&h, case);
    let (status, body) = http(&h.http, "GET", "/readyz", None, "");
    assert_eq!((status, body.as_str()), (200, "ready"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_disk_makes_the_service_unready_until_space_returns_and_loses_nothing() {
    let mut h = Harness::start("full-disk");
    let disk = SmallDisk::mount(&h.dir.join("disk"), 4);
    let trail = h.dir.join("disk/audit.jsonl");
    let trail_arg = trail.display().to_string();
    let intents = h.intents();
    let url = h.url.clone();
    h.arbiter_args(&url, &intents, &["--audit", &trail_arg]);
    let (_client, js, mut sub) = tuner(&h).await;
    store(&js, SUBJECT, flag("before-full", 0)).await;
    let _ = next_decision(&mut sub).await;

    let ballast = disk.fill();
    let ids: Vec<String> = (0..50).map(|i| format!("while-full-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        store(&js, SUBJECT, flag(id, i as u64)).await;
    }
    // Unready, saying why, and still running; nothing is answered before it is evidence.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (status, body) = loop {
        let (status, body) = http(&h.http, "GET", "/readyz", None, "");
        if status == 503 || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("audit:") && body.contains(&trail_arg),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    arbiter_alive(&mut h, "full disk");
    // The API does not hang on the stalled loop: metrics are served as they stand, reads
    // from what the loop published last (the decision recorded before the disk filled), and
    // a change, which must be recorded in order with the decisions, says why it cannot be
    // made now.
    let (status, _) = http(&h.http, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    for path in [
        "/api/whoami",
        "/api/escalations",
        "/api/decisions",
        "/api/agents",
        "/api/control",
        "/api/graph",
        "/api/intent",
    ] {
        let (status, body) = http(&h.http, "GET", path, Some("sre-oncall-token"), "");
        assert_eq!(status, 200, "{path} while the loop is stalled: {body}");
    }
    let (status, body) = http(&h.http, "GET", "/api/summary", Some("sre-oncall-token"), "");
    assert_eq!(status, 200, "{body}");
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(summary["decisions"].as_u64() >= Some(1), "{summary}");
    let (status, body) = http(
        &h.http,
        "GET",
        "/api/decisions/app-tuner-1/before-full",
        Some("sre-oncall-token"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("before-full"), "{body}");
    let (status, body) = http(
        &h.http,
        "POST",
        "/api/control",
        Some("sre-oncall-token"),
        r#"{"action": "resume_agent", "target": "app-tuner-1"}"#,
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("unavailable") && body.contains("audit"),
        "{body}"
    );
    // What left was recorded first (a record may still fit in the slack of the trail's last
    // page before the disk refuses one).
    let recorded = arbiter::audit::verify(&trail).unwrap().records;
    let mut early = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
        let d: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let seq = d["audit"]["seq"].as_u64().unwrap_or(u64::MAX);
        assert!(
            seq <= recorded,
            "a decision left before it was recorded: {d}"
        );
        early.push(d);
    }

    std::fs::remove_file(ballast).unwrap();
    let later: Vec<String> = ids
        .iter()
        .filter(|id| !early.iter().any(|d| d["proposal_id"] == id.as_str()))
        .cloned()
        .collect();
    let mut got = Received::collect(&mut sub, &later, Duration::from_secs(30)).await;
    for d in early {
        let id = d["proposal_id"].as_str().unwrap().to_string();
        got.by_id.entry(id).or_default().insert(0, d);
    }
    got.assert_one_each(&ids, "full disk");
    let (status, body) = http(&h.http, "GET", "/readyz", None, "");
    assert_eq!((status, body.as_str()), (200, "ready"));
    let v = arbiter::audit::verify(&trail).unwrap();
    assert_eq!(v.records, 51, "one record per decision, none torn");
    h.kill_arbiter();
}

/// Connects as a user of the sample server configuration, with its own inbox prefix.
async fn as_user(h: &Harness, user: &str, password: &str) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
        .custom_inbox_prefix(format!("_INBOX_{user}"))
        .connect(format!("127.0.0.1:{}", h.port))
        .await
        .unwrap()
}

fn sample_config() -> String {
    std::fs::read_to_string(common::repo("deploy/nats-server.conf")).unwrap()
}

fn arbiter_url(h: &Harness) -> String {
    format!("nats://arbiter:arbiter-secret@127.0.0.1:{}", h.port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_claiming_another_agent_is_answered_to_its_sender_and_cannot_poison_the_other() {
    let mut h = Harness::start_with("forged", Some(&sample_config()));
    let url = arbiter_url(&h);
    h.arbiter_at(&url);
    let cost = as_user(&h, "cost-optimizer-1", "cost-secret").await;
    let security = as_user(&h, "security-guard-1", "security-secret").await;
    let mut cost_decisions = subscribed(&cost, "arbiter.decisions.cost.cost-optimizer-1").await;
    let mut security_decisions =
        subscribed(&security, "arbiter.decisions.security.security-guard-1").await;
    let waf = waf_rule("block-bots");
    // The cost agent, on its own subject, claims to be the security agent, with an id the
    // security agent is about to use.
    let forged = proposal("sec-1", "security-guard-1", "security", waf.clone());
    let cjs = async_nats::jetstream::new(cost.clone());
    store(&cjs, "arbiter.proposals.cost.cost-optimizer-1", forged).await;
    let d = next_decision(&mut cost_decisions).await;
    assert_eq!(
        (
            d["verdict"].as_str(),
            d["reasons"][0]["code"].as_str(),
            d["agent"].as_str()
        ),
        (
            Some("unauthorized"),
            Some("subject_mismatch"),
            Some("cost-optimizer-1")
        ),
        "{d}"
    );
    assert_eq!(d["proposal_id"], "sec-1");
    // The real proposal is decided on its own merits, not answered with the forged refusal.
    let real = proposal("sec-1", "security-guard-1", "security", waf);
    let sjs = async_nats::jetstream::new(security.clone());
    store(&sjs, "arbiter.proposals.security.security-guard-1", real).await;
    let d = next_decision(&mut security_decisions).await;
    assert_eq!(d["proposal_id"], "sec-1");
    assert_eq!(d["agent"], "security-guard-1");
    assert_ne!(d["verdict"], "unauthorized", "{d}");
    // And the security agent was never sent the forged refusal.
    let extra = tokio::time::timeout(Duration::from_millis(500), security_decisions.next()).await;
    assert!(extra.is_err(), "{extra:?}");

    // The same across a restart: what the restarted arbiter reads back from its trail does
    // not file the forged refusal under the security agent either.
    let forged = proposal("sec-2", "security-guard-1", "security", waf_rule("r2"));
    store(&cjs, "arbiter.proposals.cost.cost-optimizer-1", forged).await;
    assert_eq!(
        next_decision(&mut cost_decisions).await["verdict"],
        "unauthorized"
    );
    h.kill_arbiter();
    h.arbiter_at(&url);
    let real = proposal("sec-2", "security-guard-1", "security", waf_rule("r2"));
    store(&sjs, "arbiter.proposals.security.security-guard-1", real).await;
    let d = next_decision(&mut security_decisions).await;
    assert_eq!(
        (d["proposal_id"].as_str(), d["agent"].as_str()),
        (Some("sec-2"), Some("security-guard-1"))
    );
    assert_ne!(d["verdict"], "unauthorized", "{d}");
}

fn waf_rule(rule: &str) -> serde_json::Value {
    serde_json::json!({"kind": "waf_rule", "service": "frontend", "rule": rule,
        "mode": "block", "added_latency_ms": 1.0})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agent_can_read_another_agents_replies_or_the_proposals_delivered_to_the_arbiter() {
    let mut h = Harness::start_with("inbox", Some(&sample_config()));
    let url = arbiter_url(&h);
    h.arbiter_at(&url);
    // The snooper would be told by the server that each subscription is refused.
    let (tx, mut refused) = tokio::sync::mpsc::unbounded_channel();
    let snooper = async_nats::ConnectOptions::with_user_and_password(
        "cost-optimizer-1".into(),
        "cost-secret".into(),
    )
    .custom_inbox_prefix("_INBOX_cost-optimizer-1")
    .event_callback(move |e| {
        let tx = tx.clone();
        async move {
            if let async_nats::Event::ServerError(e) = e {
                let _ = tx.send(e.to_string());
            }
        }
    })
    .connect(format!("127.0.0.1:{}", h.port))
    .await
    .unwrap();
    let mut snooped = Vec::new();
    for subject in [
        "_INBOX.>",
        "_INBOX_arbiter.>",
        "_INBOX_security-guard-1.>",
        ">",
    ] {
        snooped.push(snooper.subscribe(subject).await.unwrap());
    }
    snooper.flush().await.unwrap();
    let mut violations = Vec::new();
    while violations.len() < 4 {
        match tokio::time::timeout(Duration::from_secs(5), refused.recv()).await {
            Ok(Some(e)) => violations.push(e),
            _ => break,
        }
    }
    assert_eq!(violations.len(), 4, "refusals: {violations:?}");
    assert!(
        violations
            .iter()
            .all(|v| v.to_lowercase().contains("permissions violation")),
        "{violations:?}"
    );
    // Traffic flows meanwhile: the security agent proposes and is answered, with the
    // acknowledgement of its publish on its own inbox.
    let security = as_user(&h, "security-guard-1", "security-secret").await;
    let mut answers = subscribed(&security, "arbiter.decisions.security.security-guard-1").await;
    let p = proposal("private", "security-guard-1", "security", waf_rule("r1"));
    let sjs = async_nats::jetstream::new(security.clone());
    store(&sjs, "arbiter.proposals.security.security-guard-1", p).await;
    assert_eq!(next_decision(&mut answers).await["proposal_id"], "private");
    for mut s in snooped {
        let got = tokio::time::timeout(Duration::from_millis(300), s.next()).await;
        assert!(
            !matches!(got, Ok(Some(_))),
            "the snooper read {:?}",
            got.map(|m| m.map(|m| m.subject))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switches_are_scoped_to_the_approvers_domains_and_name_known_targets() {
    let mut h = Harness::start("scoped-switches");
    h.arbiter();
    let finops = Some("finops-lead-token");
    let post = |addr: &str, body: &str| http(addr, "POST", "/api/control", finops, body);
    let addr = h.http.clone();
    for (body, status, code) in [
        (
            r#"{"action": "suspend_agent", "target": "security-guard-1"}"#,
            403,
            "domain_not_allowed",
        ),
        (r#"{"action": "freeze"}"#, 403, "domain_not_allowed"),
        (
            r#"{"action": "suspend_domain", "target": "security"}"#,
            403,
            "domain_not_allowed",
        ),
        (
            r#"{"action": "suspend_agent", "target": "cost-optimizer-1 (by someone-else)"}"#,
            400,
            "bad_control",
        ),
        (
            r#"{"action": "suspend_agent", "target": "cost-optimizer-1\n"}"#,
            400,
            "bad_control",
        ),
        (
            r#"{"action": "suspend_agent", "target": "cost\u0000"}"#,
            400,
            "bad_control",
        ),
        (r#"{"action": "suspend_agent"}"#, 400, "bad_control"),
        (
            r#"{"action": "freeze", "target": "cost"}"#,
            400,
            "bad_control",
        ),
    ] {
        let (got, text) = post(&addr, body);
        assert_eq!(got, status, "{body}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["code"], code, "{body}: {text}");
    }
    let (got, text) = post(
        &addr,
        r#"{"action": "suspend_agent", "target": "cost-optimizer-1"}"#,
    );
    assert_eq!(got, 200, "{text}");
    // What a restart reads back is exactly what was in force, credited to who did it.
    h.kill_arbiter();
    h.arbiter();
    let (_, text) = http(&h.http, "GET", "/api/control", finops, "");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["suspended_agents"],
        serde_json::json!(["cost-optimizer-1"]),
        "{v}"
    );
    assert_eq!(v["frozen"], false);
    let story = std::fs::read_to_string(h.dir.join("audit.jsonl")).unwrap();
    let switches: Vec<serde_json::Value> = story
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event"]["kind"] == "kill_switch")
        .map(|r| r["event"].clone())
        .collect();
    assert_eq!(
        switches,
        vec![
            serde_json::json!({"kind": "kill_switch", "action": "suspend_agent",
            "target": "cost-optimizer-1", "by": "finops-lead"})
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_a_proposal_in_one_window_are_recorded_and_counted_once() {
    let mut h = Harness::start("copies");
    let intents = h.intents();
    let url = h.url.clone();
    // A window long enough that the three copies surely share it.
    h.arbiter_args(&url, &intents, &["--window-ms", "300"]);
    let (client, _js, mut sub) = tuner(&h).await;
    let p = flag("thrice", 1);
    for _ in 0..3 {
        client.publish(SUBJECT, p.clone().into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(next_decision(&mut sub).await);
    }
    assert!(answers.iter().all(|d| d == &answers[0]), "{answers:?}");
    assert!(answers[0]["audit"]["seq"].is_u64(), "{}", answers[0]);
    let trail = std::fs::read_to_string(h.dir.join("audit.jsonl")).unwrap();
    let records = trail.lines().filter(|l| l.contains("\"thrice\"")).count();
    assert_eq!(records, 1, "{trail}");
    let (_, metrics) = http(&h.http, "GET", "/metrics", None, "");
    let decided: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("arbiter_decisions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(decided, 1.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_json_cannot_read_is_refused_with_its_id_and_the_senders_name() {
    let mut h = Harness::start("unreadable");
    h.arbiter();
    let (_client, js, mut sub) = tuner(&h).await;
    let good = String::from_utf8(flag("x", 1)).unwrap();
    for (id, bad) in [
        (
            "huge",
            good.replace("\"confidence\":0.9", "\"confidence\":1e309"),
        ),
        (
            "nan",
            good.replace("\"confidence\":0.9", "\"confidence\":NaN"),
        ),
        (
            "claims",
            good.replace("\"confidence\":0.9", "\"confidence\":NaN")
                .replace("app-tuner-1", "someone-else"),
        ),
    ] {
        let bad = bad.replace("\"id\":\"x\"", &format!("\"id\":\"{id}\""));
        assert_ne!(bad, good, "the payload was altered");
        store(&js, SUBJECT, bad).await;
        let d = next_decision(&mut sub).await;
        assert_eq!(
            (
                d["verdict"].as_str(),
                d["proposal_id"].as_str(),
                d["agent"].as_str()
            ),
            (Some("invalid"), Some(id), Some(AGENT)),
            "{d}"
        );
        assert_eq!(d["reasons"][0]["code"], "malformed_json", "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streams_are_bounded_by_the_declared_limits_even_when_an_earlier_start_left_none() {
    let mut h = Harness::start("stream-limits");
    let js = jetstream_at(&h.url).await;
    // As an earlier version left it: no limits at all.
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "ARBITER_PROPOSALS".into(),
        subjects: vec!["arbiter.proposals.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let intents = h.intents();
    let url = h.url.clone();
    h.arbiter_args(
        &url,
        &intents,
        &[
            "--stream-max-bytes",
            "8388608",
            "--stream-max-age-s",
            "7200",
        ],
    );
    use async_nats::jetstream::stream::DiscardPolicy;
    for (name, discard) in [
        ("ARBITER_PROPOSALS", DiscardPolicy::Old),
        ("ARBITER_DECISIONS", DiscardPolicy::Old),
        // The escalations bucket keeps a marker per escalation ever answered.
        ("KV_ARBITER_ESCALATIONS", DiscardPolicy::New),
    ] {
        let mut s = js.get_stream(name).await.unwrap();
        let c = &s.info().await.unwrap().config;
        assert_eq!(
            (c.max_bytes, c.max_age, c.discard),
            (8_388_608, Duration::from_secs(7200), discard),
            "{name}"
        );
    }
    // And the service works within them.
    let (_client, js, mut sub) = tuner(&h).await;
    store(&js, SUBJECT, flag("bounded", 1)).await;
    assert_eq!(next_decision(&mut sub).await["proposal_id"], "bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_stream_drops_what_was_decided_and_the_service_goes_on() {
    let _one = LOAD.lock().await;
    let mut h = Harness::start("full-stream");
    let intents = h.intents();
    let url = h.url.clone();
    // 1 MiB holds about a thousand proposals; three thousand go through it.
    h.arbiter_args(&url, &intents, &["--stream-max-bytes", "1048576"]);
    let (_client, js, mut sub) = tuner(&h).await;
    let ids = load(js.clone(), "full", 3 * RATE).await.unwrap();
    let got = Received::collect(&mut sub, &ids, Duration::from_secs(60)).await;
    got.assert_one_each(&ids, "full stream");
    let mut s = js.get_stream("ARBITER_PROPOSALS").await.unwrap();
    let state = s.info().await.unwrap().state.clone();
    assert!(state.bytes <= 1_048_576, "{state:?}");
    assert!(
        state.messages < 3 * RATE,
        "the stream dropped nothing: {state:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_a_long_trail_says_it_is_restoring_and_how_far_it_has_got() {
    let h = Harness::start("restoring");
    // A long trail: many records, quick to write.
    let trail = h.dir.join("audit.jsonl");
    let mut log = arbiter::audit::AuditLog::open(&trail).unwrap();
    let at = arbiter::contract::Timestamp::from_datetime(chrono::Utc::now());
    for batch in 0..25 {
        let events = (0..10_000)
            .map(|i| arbiter::audit::Event::Control {
                action: "intents_reloaded".into(),
                detail: format!("baseline sha256:{batch}-{i} {}", "x".repeat(200)),
            })
            .collect();
        log.append_all(at, events).unwrap();
    }
    drop(log);
    let addr = free_addr();
    let mut child = serve_unwatched(&h, &h.url, &addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "never ready; saw {seen:?}");
        if let Some((status, body)) = readyz(&addr) {
            if status == 200 {
                assert_eq!(body, "ready");
                break;
            }
            if !seen.contains(&body) {
                seen.push(body);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let progress: Vec<&String> = seen
        .iter()
        .filter(|b| b.contains("restoring: reading the audit trail"))
        .collect();
    assert!(!progress.is_empty(), "no progress reported: {seen:?}");
    assert!(
        progress
            .iter()
            .any(|b| b.contains("records") && b.contains('%')),
        "{progress:?}"
    );
}

fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// `arbiter serve` on the test's trail and `url`, its API on `addr`, not waited for.
fn serve_unwatched(h: &Harness, url: &str, addr: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .current_dir(common::repo(""))
        .args(["serve", "--nats", url])
        .args(common::SHOP)
        .arg("--intents")
        .arg(h.intents())
        .args(["--http", addr])
        .arg("--audit")
        .arg(h.dir.join("audit.jsonl"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// `/readyz` at `addr`: status and body, if anything answers there.
fn readyz(addr: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).ok()?;
    write!(
        conn,
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    Some((
        status,
        text.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_not_up_yet_is_waited_for_and_said_so() {
    let mut h = Harness::start("late-server");
    // The server goes away before the arbiter starts, and comes back later.
    h.kill_server();
    let addr = free_addr();
    let url = h.url.clone();
    let mut child = serve_unwatched(&h, &url, &addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    let said = loop {
        assert!(
            Instant::now() < deadline,
            "no readiness answer while NATS is down"
        );
        assert!(child.try_wait().unwrap().is_none(), "the arbiter exited");
        match readyz(&addr) {
            Some((503, body)) if body.contains("nats:") => break body,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert!(said.contains("cannot connect"), "{said}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the arbiter exited while waiting"
    );
    h.start_server_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    while readyz(&addr).map(|r| r.0) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "not ready after the server came: {:?}",
            readyz(&addr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_client, js, mut sub) = tuner(&h).await;
    store(&js, SUBJECT, flag("after-wait", 1)).await;
    assert_eq!(next_decision(&mut sub).await["proposal_id"], "after-wait");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_valid_for_longer_than_the_service_accepts_is_refused_with_the_limit() {
    let mut h = Harness::start("lifetime");
    let intents = h.intents();
    let url = h.url.clone();
    h.arbiter_args(&url, &intents, &["--max-proposal-lifetime-s", "600"]);
    let (_client, js, mut sub) = tuner(&h).await;
    store(&js, SUBJECT, flag("five-minutes", 1)).await;
    let d = next_decision(&mut sub).await;
    assert_ne!(d["verdict"], "invalid", "{d}");
    // Within the contract's day, but beyond what this service declared.
    let mut p: serde_json::Value = serde_json::from_slice(&flag("an-hour", 2)).unwrap();
    let now = chrono::Utc::now();
    p["created_at"] = now.to_rfc3339().into();
    p["expires_at"] = (now + chrono::Duration::hours(1)).to_rfc3339().into();
    store(&js, SUBJECT, p.to_string()).await;
    let d = next_decision(&mut sub).await;
    assert_eq!(
        (d["proposal_id"].as_str(), d["verdict"].as_str()),
        (Some("an-hour"), Some("invalid")),
        "{d}"
    );
    let r = &d["reasons"][0];
    assert_eq!(
        (r["code"].as_str(), r["field"].as_str()),
        (Some("out_of_range"), Some("expires_at")),
        "{d}"
    );
    assert!(r["detail"].as_str().unwrap().contains("600 s"), "{d}");
}

fn in_segments(h: &Harness, ext: &str) -> usize {
    std::fs::read_dir(h.dir.join("audit.jsonl.segments"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(ext))
            })
            .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_in_segments_restarts_from_its_checkpoint_with_the_same_state_and_answers() {
    let _one = LOAD.lock().await;
    let mut h = Harness::start("segments");
    let intents = h.intents();
    let args = ["--audit-segment-mb", "1"];
    h.arbiter_args(&h.url.clone(), &intents, &args);
    let (client, js, mut decisions) = tuner(&h).await;
    // A surge nobody scales for: the arbiter asks the resilience agent for capacity, once per
    // short service, and a restart must not ask again (the checkpoint remembers when).
    let mut control = client
        .subscribe("arbiter.control.resilience-1")
        .await
        .unwrap();
    observe(
        &client,
        "frontend",
        serde_json::json!({"load_rps": 300.0, "forecast_rps": 1100.0}),
    )
    .await;
    assert_eq!(
        next_json(&mut control, "a request").await["command"],
        "request"
    );
    let ids = load(js.clone(), "seg", 3_000).await.unwrap();
    let first = Received::collect(&mut decisions, &ids, Duration::from_secs(60)).await;
    first.assert_one_each(&ids, "segments");
    // Sealed, indexed and checkpointed in the background.
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_segments(&h, ".idx") < 3 || in_segments(&h, ".state.json") == 0 {
        assert!(
            Instant::now() < deadline,
            "segments were not indexed and checkpointed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = api_state(&h.http);

    // A crash, and a restart that reads the checkpoint and the records after it.
    h.kill_arbiter();
    h.arbiter_args(&h.url.clone(), &intents, &args);
    assert_eq!(api_state(&h.http), before, "a restart from a checkpoint");
    let read = restored_records(&h);
    assert!(
        read < 1_500,
        "read {read} records: the checkpoint was not used"
    );
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), control.next()).await {
    }
    observe(
        &client,
        "frontend",
        serde_json::json!({"load_rps": 300.0, "forecast_rps": 1100.0}),
    )
    .await;
    let asked_again = tokio::time::timeout(Duration::from_secs(5), control.next()).await;
    assert!(
        asked_again.is_err(),
        "asked again after a restart: {asked_again:?}"
    );
    // An early proposal, sent again, is answered from a sealed segment's index with the
    // decision it was given; its story is found there too.
    let early = &ids[5];
    js.publish(SUBJECT, flag(early, 5).into())
        .await
        .unwrap()
        .await
        .unwrap();
    let again = next_decision(&mut decisions).await;
    let given = &first.by_id[early][0];
    assert_eq!(again["proposal_id"], given["proposal_id"]);
    assert_eq!(again["audit"], given["audit"], "answered anew: {again}");
    assert_eq!(again["verdict"], given["verdict"]);
    let (status, body) = http(
        &h.http,
        "GET",
        &format!("/api/decisions/{AGENT}/{early}"),
        Some("sre-oncall-token"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("app-tuner-1 proposed"), "no story: {body}");

    // Without checkpoints, reading the whole trail rebuilds the same state.
    h.kill_arbiter();
    for e in std::fs::read_dir(h.dir.join("audit.jsonl.segments")).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".state.json") {
            std::fs::remove_file(p).unwrap();
        }
    }
    h.arbiter_args(&h.url.clone(), &intents, &args);
    assert_eq!(api_state(&h.http), before, "a restart from the whole trail");
    let total = assert_trail_verifies(&h, "segments");
    assert!(total >= 3_000);
    assert_eq!(restored_records(&h), total);
}

/// How many audit records the running service read when it started.
fn restored_records(h: &Harness) -> u64 {
    let (_, metrics) = http(&h.http, "GET", "/metrics", None, "");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("arbiter_audit_restored_records "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no arbiter_audit_restored_records in:\n{metrics}")) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_archives_whole_checked_segments_and_the_trail_still_verifies() {
    let _one = LOAD.lock().await;
    let mut h = Harness::start("retention");
    let intents = h.intents();
    let archive = h.dir.join("archive");
    let archive_arg = archive.display().to_string();
    let args = [
        "--audit-segment-mb",
        "1",
        "--audit-keep-mb",
        "2",
        "--audit-archive",
        &archive_arg,
    ];
    h.arbiter_args(&h.url.clone(), &intents, &args);
    let (_client, js, mut decisions) = tuner(&h).await;
    // An escalation waits in the first segment while the trail grows past its limit.
    let (_cost, cost_js, mut cost_decisions) = cost_agent(&h.url).await;
    store(
        &cost_js,
        "arbiter.proposals.cost.cost-optimizer-1",
        unsure("unsure"),
    )
    .await;
    assert_eq!(
        next_decision(&mut cost_decisions).await["verdict"],
        "escalated"
    );
    let ids = load(js.clone(), "ret", 3_000).await.unwrap();
    let first = Received::collect(&mut decisions, &ids, Duration::from_secs(60)).await;
    first.assert_one_each(&ids, "retention");
    // Its segment is retired all the same: the escalation is written again at the head.
    let archived = || std::fs::read_dir(&archive).map_or(0, |d| d.count());
    let deadline = Instant::now() + Duration::from_secs(30);
    while archived() < 2 {
        assert!(
            Instant::now() < deadline,
            "no segment was archived while an escalation waits"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trail = h.dir.join("audit.jsonl");
    let first_segment = archive.join(
        arbiter::audit::Layout::of(&trail)
            .segment(1)
            .file_name()
            .unwrap(),
    );
    assert!(
        first_segment.exists(),
        "the escalation's own segment was retired"
    );
    // A proposal in an archived segment, sent again, gets the decision it was given.
    let early = &ids[3];
    js.publish(SUBJECT, flag(early, 3).into())
        .await
        .unwrap()
        .await
        .unwrap();
    let again = next_decision(&mut decisions).await;
    assert_eq!(again["audit"], first.by_id[early][0]["audit"], "{again}");

    // A restart follows it to where it was written again, and a person still answers it
    // with the first record out of reach (put back afterwards for what follows).
    h.kill_arbiter();
    let aside = h.dir.join("first-segment-aside");
    std::fs::rename(&first_segment, &aside).unwrap();
    h.arbiter_args(&h.url.clone(), &intents, &args);
    let (status, body) = http(
        &h.http,
        "POST",
        "/api/escalations/cost-optimizer-1/unsure",
        Some("sre-oncall-token"),
        r#"{"approve": false, "comment": "not now"}"#,
    );
    assert_eq!(
        status, 200,
        "the escalation was read back to be answered: {body}"
    );
    let answered = next_decision(&mut cost_decisions).await;
    assert_eq!(answered["verdict"], "rejected", "{answered}");
    assert!(
        answered["explanation"]
            .as_str()
            .unwrap()
            .contains("The arbiter had said"),
        "{answered}"
    );
    let (_, story) = http(
        &h.http,
        "GET",
        "/api/decisions/cost-optimizer-1/unsure",
        Some("sre-oncall-token"),
        "",
    );
    assert!(story.contains("written again"), "{story}");
    std::fs::rename(&aside, &first_segment).unwrap();
    let more = load(js.clone(), "ret2", 1_500).await.unwrap();
    Received::collect(&mut decisions, &more, Duration::from_secs(60))
        .await
        .assert_one_each(&more, "retention after the restart");
    // What is kept stays near the setting: the limit, plus the segments a restart reads.
    let kept: u64 = std::fs::read_dir(h.dir.join("audit.jsonl.segments"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(kept <= 4 << 20, "{kept} bytes of segments kept");

    // The trail verifies from its first kept record, vouched for by the retention record.
    let v = arbiter::audit::verify(&trail).unwrap();
    assert!(v.first_seq > 1, "{v:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["audit", "verify"])
        .arg(&trail)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("removed by retention"),
        "{said}"
    );

    // Removing a segment by hand is not retention: the cut is reported.
    h.kill_arbiter();
    let oldest = arbiter::audit::Layout::of(&trail).sealed().unwrap()[0]
        .path
        .clone();
    std::fs::remove_file(&oldest).unwrap();
    match arbiter::audit::verify(&trail) {
        Err(arbiter::audit::AuditError::Broken { problem, .. }) => {
            assert!(problem.contains("no retention record"), "{problem}")
        }
        other => panic!("a trail cut by hand verified: {other:?}"),
    }
}
