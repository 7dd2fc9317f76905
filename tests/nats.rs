//! `arbiter serve` against a real nats-server, started by the test on a free loopback port with
//! its own JetStream directory (installed by scripts/ensure-nats-server.sh when missing).

mod common;

use common::service::*;
use common::{repo, SHOP};
use futures_util::StreamExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// The cost agent proposes removing a replica of emailservice, and JetStream stores it.
/// The cost agent's proposal to remove one replica of emailservice.
fn email_down(id: &str) -> Vec<u8> {
    proposal(
        id,
        "cost-optimizer-1",
        "cost",
        serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": -1}),
    )
}

async fn propose_email_down(js: &async_nats::jetstream::Context, id: &str) {
    store(
        js,
        "arbiter.proposals.cost.cost-optimizer-1",
        email_down(id),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_gets_its_decision_and_a_forged_subject_is_refused() {
    let mut h = Harness::start("decide");
    h.arbiter();
    let (client, js, mut decisions) = cost_agent(&h.url).await;

    propose_email_down(&js, "email-down-1").await;
    let d = next_decision(&mut decisions).await;
    assert_eq!(d["proposal_id"], "email-down-1");
    assert_eq!(d["verdict"], "approved", "{d}");
    assert_eq!(d["audit"]["seq"], 1);

    // A cost agent publishing under the security domain's subject: answered to whoever the
    // subject names, never to the agent the payload claims to be.
    let mut sender = client
        .subscribe("arbiter.decisions.security.cost-optimizer-1")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let p = proposal(
        "forged-1",
        "cost-optimizer-1",
        "cost",
        serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": -1}),
    );
    store(&js, "arbiter.proposals.security.cost-optimizer-1", p).await;
    let d = next_decision(&mut sender).await;
    assert_eq!(d["proposal_id"], "forged-1");
    assert_eq!(d["verdict"], "unauthorized");
    assert_eq!(d["reasons"][0]["code"], "subject_mismatch");

    // Both are stored in the decisions stream (core delivery can precede storage: wait for
    // it) and the audit trail verifies.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored_decisions(&js).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the decisions stream never held both"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stored_decisions(&js).await, 2);
    let v = arbiter::audit::verify(&h.dir.join("audit.jsonl")).unwrap();
    assert_eq!(v.records, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_overload_new_proposals_are_deferred_explicitly_and_none_is_lost() {
    const N: usize = 600;
    let mut h = Harness::start("overload");
    let (client, js, mut decisions) = cost_agent(&h.url).await;
    // A backlog is waiting when the arbiter starts: the stream it reads already holds N
    // proposals, far over its shedding limit of 50.
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "ARBITER_PROPOSALS".into(),
        subjects: vec!["arbiter.proposals.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..N {
        let p = proposal(
            &format!("backlog-{i}"),
            "cost-optimizer-1",
            "cost",
            serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": -1}),
        );
        js.publish("arbiter.proposals.cost.cost-optimizer-1", p.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let url = h.url.clone();
    let intents = h.intents();
    h.arbiter_args(
        &url,
        &intents,
        &["--shed-above", "50", "--max-window", "16"],
    );
    let mut answered = std::collections::BTreeMap::new();
    while answered.len() < N {
        let d = next_decision(&mut decisions).await;
        let id = d["proposal_id"].as_str().unwrap().to_string();
        assert!(
            answered.insert(id.clone(), d).is_none(),
            "{id} was answered twice"
        );
    }
    let shed: Vec<&serde_json::Value> = answered
        .values()
        .filter(|d| d["reasons"][0]["code"] == "overloaded")
        .collect();
    assert!(!shed.is_empty(), "nothing was shed under a backlog of {N}");
    for d in &shed {
        assert_eq!(d["verdict"], "deferred", "{d}");
        assert!(d["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("proposals wait"));
    }
    // Once the backlog is under the limit, proposals are decided on their merits again.
    assert!(
        shed.len() < N - 40,
        "only {} of {N} were decided on their merits",
        N - shed.len()
    );
    let metrics = http(&h.http, "GET", "/metrics", None, "").1;
    assert!(metrics.contains("arbiter_shed_windows_total"), "{metrics}");
}

/// How many escalations the durable queue holds.
/// How many escalations the bucket holds once it holds `expected`, or after 10 s: the
/// bucket is a copy written behind the decisions.
async fn waiting_in_bucket(js: &async_nats::jetstream::Context, expected: usize) -> usize {
    let store = js.get_key_value("ARBITER_ESCALATIONS").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = store.keys().await.unwrap().count().await;
        if n == expected || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stored_decisions(js: &async_nats::jetstream::Context) -> u64 {
    let mut s = js.get_stream("ARBITER_DECISIONS").await.unwrap();
    s.info().await.unwrap().state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_no_proposal_and_decides_none_twice() {
    const N: usize = 300;
    let mut h = Harness::start("crash");
    h.arbiter();
    let client = async_nats::connect(&h.url).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    for i in 0..N {
        let p = proposal(
            &format!("p-{i}"),
            "app-tuner-1",
            "application",
            serde_json::json!({"kind": "feature_flag", "service": "adservice", "flag": format!("f{i}"), "enabled": true}),
        );
        store(&js, "arbiter.proposals.application.app-tuner-1", p).await;
    }
    // Kill the arbiter while it is deciding.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored_decisions(&js).await == 0 {
        assert!(Instant::now() < deadline, "no decision before the kill");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    h.kill_arbiter();
    let before = stored_decisions(&js).await;
    assert!(
        before < N as u64,
        "the arbiter finished before it could be killed ({before} decisions)"
    );

    h.arbiter();
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored_decisions(&js).await < N as u64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {N} decided after the restart",
            stored_decisions(&js).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Read back every stored decision: one per proposal, none twice.
    let stream = js.get_stream("ARBITER_DECISIONS").await.unwrap();
    let reader = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut ids = std::collections::BTreeMap::<String, usize>::new();
    let mut batch = reader
        .fetch()
        .max_messages(N + 50)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    while let Some(Ok(m)) = batch.next().await {
        let d: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        *ids.entry(d["proposal_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(ids.len(), N, "every proposal has a decision");
    assert!(
        ids.values().all(|&n| n == 1),
        "a decision was stored twice: {:?}",
        ids.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let v = arbiter::audit::verify(&h.dir.join("audit.jsonl")).unwrap();
    assert_eq!(v.records, N as u64, "one audit record per proposal");
    // The history replayed under the same intents reproduces every verdict.
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .current_dir(repo(""))
        .arg("replay")
        .arg(h.dir.join("audit.jsonl"))
        .arg("--intents")
        .arg(h.intents())
        .args(SHOP)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with(&format!("replayed {N} decisions")) && text.contains(": 0 would change"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_restart_is_survived() {
    let mut h = Harness::start("restart");
    h.arbiter();
    h.restart_server();
    let (_client, js, mut decisions) = cost_agent(&h.url).await;
    propose_email_down(&js, "after-restart").await;
    let d = next_decision(&mut decisions).await;
    assert_eq!(d["proposal_id"], "after-restart");
    assert_eq!(d["verdict"], "approved", "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_publishing_outside_its_permissions_is_refused_by_nats() {
    let config = std::fs::read_to_string(repo("deploy/nats-server.conf")).unwrap();
    let mut h = Harness::start_with("permissions", Some(&config));
    let at = |user: &str, password: &str| format!("nats://{user}:{password}@127.0.0.1:{}", h.port);
    let arbiter_url = at("arbiter", "arbiter-secret");
    let agent_url = at("cost-optimizer-1", "cost-secret");
    h.arbiter_at(&arbiter_url);
    let agent = arbiter::bus::nats::connect_with(
        &agent_url,
        async_nats::ConnectOptions::new().custom_inbox_prefix("_INBOX_cost-optimizer-1"),
    )
    .await
    .unwrap();
    let js = async_nats::jetstream::new(agent.clone());
    let mut decisions = agent
        .subscribe("arbiter.decisions.cost.cost-optimizer-1")
        .await
        .unwrap();
    agent.flush().await.unwrap();

    // Under its own tokens: accepted and decided.
    propose_email_down(&js, "own").await;
    assert_eq!(next_decision(&mut decisions).await["proposal_id"], "own");

    // Under the security domain's tokens: the server refuses it; nothing reaches the arbiter.
    let p = proposal(
        "forged",
        "cost-optimizer-1",
        "cost",
        serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": -1}),
    );
    let accepted = match js
        .publish("arbiter.proposals.security.cost-optimizer-1", p.into())
        .await
    {
        Ok(ack) => tokio::time::timeout(Duration::from_secs(3), ack)
            .await
            .is_ok_and(|r| r.is_ok()),
        Err(_) => false,
    };
    assert!(
        !accepted,
        "NATS accepted a publish outside the agent's permissions"
    );
    // The arbiter sees exactly one proposal in its stream.
    let admin = arbiter::bus::nats::connect(&arbiter_url).await.unwrap();
    let ajs = async_nats::jetstream::new(admin);
    let mut s = ajs.get_stream("ARBITER_PROPOSALS").await.unwrap();
    assert_eq!(s.info().await.unwrap().state.messages, 1);
}

/// Waits until the audit trail mentions `needle` (the service polls its intents directory).
fn wait_for_audit(h: &Harness, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(h.dir.join("audit.jsonl")).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the audit trail never recorded {needle}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_intent_edit_keeps_the_previous_intent_in_force() {
    let mut h = Harness::start("reload");
    let intents = h.intents();
    let url = h.url.clone();
    h.arbiter_with(&url, &intents);
    let (_client, js, mut decisions) = cost_agent(&h.url).await;
    let decide = |id: &'static str| {
        let js = js.clone();
        async move {
            let p = proposal(
                id,
                "cost-optimizer-1",
                "cost",
                serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": -1}),
            );
            store(&js, "arbiter.proposals.cost.cost-optimizer-1", p).await;
        }
    };
    decide("before").await;
    let first = next_decision(&mut decisions).await;
    let version = first["intent"]["version"].clone();
    assert!(version.as_str().unwrap().starts_with("sha256:"));

    // A broken edit is refused; the previous intent stays in force.
    let baseline = intents.join("baseline.toml");
    let good = std::fs::read_to_string(&baseline).unwrap();
    std::fs::write(
        &baseline,
        good.replace("priorities = [", "priorities = [\"speed\", "),
    )
    .unwrap();
    wait_for_audit(&h, "intents_refused");
    decide("during").await;
    let during = next_decision(&mut decisions).await;
    assert_eq!(
        during["intent"]["version"], version,
        "the refused edit must not apply"
    );

    // A valid edit applies.
    std::fs::write(
        &baseline,
        good.replace("Ordinary operation.", "Ordinary operation, revised."),
    )
    .unwrap();
    wait_for_audit(&h, "intents_reloaded");
    decide("after").await;
    let after = next_decision(&mut decisions).await;
    assert_ne!(
        after["intent"]["version"], version,
        "the valid edit applies"
    );
    assert!(arbiter::audit::verify(&h.dir.join("audit.jsonl")).is_ok());
}

#[test]
fn the_python_example_agent_proposes_gets_its_decision_and_reports_the_outcome() {
    let python = common::ensure("ensure-nats-py.sh").remove(0);
    // Under the sample server configuration: the agent logs in as itself and reads replies
    // only on its own inbox prefix.
    let config = std::fs::read_to_string(repo("deploy/nats-server.conf")).unwrap();
    let mut h = Harness::start_with("python", Some(&config));
    let port = h.port;
    let at = |user: &str, password: &str| format!("nats://{user}:{password}@127.0.0.1:{port}");
    h.arbiter_at(&at("arbiter", "arbiter-secret"));
    let run = Command::new(&python)
        .arg(repo("examples/python/agent.py"))
        .arg(at("cost-optimizer-1", "cost-secret"))
        .output()
        .expect("the example agent runs");
    assert!(
        run.status.success(),
        "agent failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let decision: serde_json::Value =
        serde_json::from_slice(&run.stdout).expect("the agent prints the decision");
    assert_eq!(decision["agent"], "cost-optimizer-1");
    assert_eq!(decision["verdict"], "approved", "{decision}");
    let id = decision["proposal_id"].as_str().unwrap().to_string();
    // The outcome reaches the audit trail and joins the proposal's story.
    wait_for_audit(&h, "\"kind\":\"outcome\"");
    let story = h.story(&id);
    assert!(story.contains("reported the outcome: succeeded"), "{story}");
    assert!(arbiter::audit::verify(&h.dir.join("audit.jsonl")).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_is_approved_over_http_and_the_agent_receives_the_final_verdict() {
    let mut h = Harness::start("approve");
    h.arbiter();
    let (_client, js, mut decisions) = cost_agent(&h.url).await;
    // Low confidence: the arbiter would approve, but a human must.
    store(
        &js,
        "arbiter.proposals.cost.cost-optimizer-1",
        unsure("unsure"),
    )
    .await;
    let first = next_decision(&mut decisions).await;
    assert_eq!(first["verdict"], "escalated", "{first}");
    // It waits in the key-value bucket, and survives the arbiter being killed.
    assert_eq!(waiting_in_bucket(&js, 1).await, 1);
    let before = api_state(&h.http);
    h.kill_arbiter();
    h.arbiter();
    assert_eq!(
        api_state(&h.http),
        before,
        "the escalation waiting, after a restart"
    );

    let addr = h.http.clone();
    let path = "/api/escalations/cost-optimizer-1/unsure";
    let answer = r#"{"approve": true, "comment": "fine for tonight"}"#;
    let (status, body) = http(
        &addr,
        "GET",
        "/api/escalations",
        Some("sre-oncall-token"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"proposal_id\":\"unsure\""), "{body}");
    let auth = Some("sre-oncall-token");
    assert_eq!(
        http(&addr, "GET", "/api/escalations?limit=0", auth, "").1,
        "[]"
    );
    let (status, body) = http(&addr, "GET", "/api/escalations?limit=some", auth, "");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad_query"), "{body}");
    assert_eq!(http(&addr, "POST", path, None, answer).0, 401);
    assert_eq!(
        http(&addr, "POST", path, Some("not-a-token"), answer).0,
        401
    );
    // A body that is not an answer is refused with the field and the problem, as the
    // API's JSON error, and answers nothing.
    for (bad, status, says) in [
        (r#"{"approve": "yes"}"#, 422, "approve: invalid type"),
        (r#"{"approve": true"#, 400, "EOF"),
        (
            r#"{"approve": true, "sudo": true}"#,
            422,
            "unknown field `sudo`",
        ),
    ] {
        let (got, body) = http(&addr, "POST", path, Some("sre-oncall-token"), bad);
        assert_eq!(got, status, "{bad}: {body}");
        let err: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(err["code"], "bad_body", "{body}");
        assert!(err["message"].as_str().unwrap().contains(says), "{body}");
    }
    let (status, body) = http(
        &addr,
        "POST",
        "/api/control",
        Some("sre-oncall-token"),
        r#"{"target": "x"}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("bad_body") && body.contains("missing field `action`"),
        "{body}"
    );
    // A comment longer than a decision should carry is refused, and nothing is answered.
    // (Unbounded, one of 600 kB made a final decision larger than the bus carries, and the
    // service waited on its publication for good.)
    let long = serde_json::json!({"approve": true, "comment": "x".repeat(4097)}).to_string();
    let (status, body) = http(&addr, "POST", path, Some("sre-oncall-token"), &long);
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("comment_too_long") && body.contains("4096"),
        "{body}"
    );
    // The FinOps lead operates the cost agent: no self-approval.
    let (status, body) = http(&addr, "POST", path, Some("finops-lead-token"), answer);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("own_agent"), "{body}");
    let (status, body) = http(&addr, "POST", path, Some("sre-oncall-token"), answer);
    assert_eq!(status, 200, "{body}");

    let last = next_decision(&mut decisions).await;
    assert_eq!(last["proposal_id"], "unsure");
    assert_eq!(last["verdict"], "approved", "{last}");
    assert_eq!(
        waiting_in_bucket(&js, 0).await,
        0,
        "answered, so no longer waiting"
    );
    assert_eq!(last["reasons"][0]["code"], "human_approved");
    assert_eq!(last["reasons"][0]["by"], "sre-oncall");
    // Answered once: a second answer finds nothing waiting.
    assert_eq!(
        http(&addr, "POST", path, Some("sre-oncall-token"), answer).0,
        404
    );
    let story = h.story("unsure");
    assert!(
        story.contains("sre-oncall approved it: fine for tonight"),
        "{story}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switches_and_the_global_freeze_refuse_with_clear_codes_and_survive_a_restart() {
    let mut h = Harness::start("controls");
    h.arbiter();
    let (_client, js, mut decisions) = cost_agent(&h.url).await;
    let send = |id: String| {
        let js = js.clone();
        async move {
            let p = proposal(
                &id,
                "cost-optimizer-1",
                "cost",
                serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": -1}),
            );
            store(&js, "arbiter.proposals.cost.cost-optimizer-1", p).await;
        }
    };
    let token = Some("sre-oncall-token");
    let control = |addr: &str, body: &str| http(addr, "POST", "/api/control", token, body);

    let addr = h.http.clone();
    assert_eq!(
        control(
            &addr,
            r#"{"action": "suspend_agent", "target": "cost-optimizer-1"}"#
        )
        .0,
        200
    );
    send("while-suspended".into()).await;
    let d = next_decision(&mut decisions).await;
    assert_eq!(
        (d["verdict"].as_str(), d["reasons"][0]["code"].as_str()),
        (Some("rejected"), Some("agent_suspended")),
        "{d}"
    );

    assert_eq!(
        control(
            &addr,
            r#"{"action": "resume_agent", "target": "cost-optimizer-1"}"#
        )
        .0,
        200
    );
    send("resumed".into()).await;
    assert_eq!(next_decision(&mut decisions).await["verdict"], "approved");

    assert_eq!(control(&addr, r#"{"action": "freeze"}"#).0, 200);
    let (status, body) = control(&addr, r#"{"action": "explode"}"#);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        http(
            &addr,
            "POST",
            "/api/control",
            None,
            r#"{"action": "unfreeze"}"#
        )
        .0,
        401
    );

    // The freeze is evidence in the audit trail: a restarted arbiter keeps it, and shows
    // everything as the one before it did (the same fold of the same trail).
    let before = api_state(&h.http);
    h.kill_arbiter();
    h.arbiter();
    assert_eq!(
        api_state(&h.http),
        before,
        "what a restarted arbiter shows against what it showed before"
    );
    send("while-frozen".into()).await;
    let d = next_decision(&mut decisions).await;
    assert_eq!(
        (d["verdict"].as_str(), d["reasons"][0]["code"].as_str()),
        (Some("deferred"), Some("global_freeze")),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_prometheus_metrics_are_served() {
    let mut h = Harness::start("metrics");
    h.arbiter();
    let addr = h.http.clone();
    assert_eq!(http(&addr, "GET", "/healthz", None, "").0, 200);
    assert_eq!(
        http(&addr, "GET", "/readyz", None, ""),
        (200, "ready".to_string())
    );

    let (_client, js, mut decisions) = cost_agent(&h.url).await;
    propose_email_down(&js, "metered").await;
    assert_eq!(next_decision(&mut decisions).await["verdict"], "approved");

    let (status, text) = http(&addr, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    assert!(
        text.lines()
            .any(|l| l.starts_with("arbiter_decisions_total{")
                && l.contains("verdict=\"approved\"")
                && l.contains("domain=\"cost\"")
                && l.ends_with(" 1")),
        "{text}"
    );
    for name in [
        "arbiter_decision_seconds",
        "arbiter_window_size",
        "arbiter_pending_approvals",
        "arbiter_changes_in_flight",
        "arbiter_refusal_memory_entries",
        "arbiter_queue_depth",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    // Policy adherence and audit completeness.
    assert!(
        text.lines()
            .any(|l| l == "arbiter_policy_total{outcome=\"allowed\"} 1"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "arbiter_audit_completeness 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_payloads_on_the_wire_are_answered_invalid_and_counted() {
    let mut h = Harness::start("hostile");
    h.arbiter();
    let (_client, js, mut decisions) = cost_agent(&h.url).await;
    let subject = "arbiter.proposals.cost.cost-optimizer-1";
    let payloads: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "malformed_json"),
        (vec![b' '; 70 * 1024], "too_large"),
        (br#"{"v":1,"id":"x","agent":"cost-optimizer-1","domain":"cost","action":{"kind":"scale","service":"emailservice","replicas":1},"confidence":7,"reversible":true,"created_at":"2026-11-27T10:00:00Z","expires_at":"2026-11-27T10:05:00Z"}"#.to_vec(), "out_of_range"),
    ];
    for (payload, code) in &payloads {
        store(&js, subject, payload.clone()).await;
        let d = next_decision(&mut decisions).await;
        assert_eq!(d["verdict"], "invalid", "{d}");
        let codes = reason_codes(&d);
        assert!(codes.contains(code), "expected {code}, got {codes:?}");
    }
    // Still serving, and the refusals are counted.
    let p = proposal(
        "after-garbage",
        "cost-optimizer-1",
        "cost",
        serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": -1}),
    );
    store(&js, subject, p).await;
    assert_eq!(next_decision(&mut decisions).await["verdict"], "approved");
    let (_, text) = http(&h.http, "GET", "/metrics", None, "");
    assert!(
        text.lines()
            .any(|l| l.starts_with("arbiter_decisions_total{")
                && l.contains("verdict=\"invalid\"")
                && l.ends_with(" 3")),
        "{text}"
    );

    // Payloads the audit trail must keep on one line and read back: JSON nested past any
    // sane depth, JSON over several lines, and a rationale that imitates the record's own
    // fields. A restarted arbiter reads the trail back and it verifies.
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300)).into_bytes();
    let spread = String::from_utf8(email_down("spread-over-lines"))
        .unwrap()
        .replace(",", ",\n  ");
    let mimic = String::from_utf8(email_down("mimic"))
        .unwrap()
        .replace("\"test\"", "\"\\\"hash\\\":\\\"\\\", \\\"seq\\\": 1}\\n{\"");
    for payload in [deep, spread.into_bytes(), mimic.into_bytes()] {
        store(&js, subject, payload).await;
        next_decision(&mut decisions).await;
    }
    h.kill_arbiter();
    h.arbiter();
    let audit = h.dir.join("audit.jsonl");
    let verified = arbiter::audit::verify(&audit).expect("the trail verifies");
    assert_eq!(
        verified.records as usize,
        std::fs::read_to_string(&audit).unwrap().lines().count()
    );
    assert!(h.story("spread-over-lines").contains("proposed"));
    assert!(h.story("mimic").contains("proposed"));
}

/// Waits for the next command on `arbiter.control.<agent>`.
async fn next_command(sub: &mut async_nats::Subscriber) -> serde_json::Value {
    next_json(sub, "a control command").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_slo_breach_after_an_approved_change_rolls_it_back_and_the_track_record_shows_it() {
    let mut h = Harness::start("rollback");
    h.arbiter();
    let (client, js, mut decisions) = cost_agent(&h.url).await;
    let mut control = client
        .subscribe("arbiter.control.cost-optimizer-1")
        .await
        .unwrap();
    client.flush().await.unwrap();
    propose_email_down(&js, "email-down").await;
    assert_eq!(next_decision(&mut decisions).await["verdict"], "approved");

    // The frontend (which calls checkout, which calls email) within its SLO: nothing.
    let observe = |p99: f64| {
        let client = client.clone();
        async move {
            client
                .publish(
                    "arbiter.telemetry.frontend",
                    serde_json::json!({"p99_ms": p99}).to_string().into(),
                )
                .await
                .unwrap();
            client.flush().await.unwrap();
        }
    };
    observe(300.0).await;
    // Then over its 350 ms SLO: the cost domain is autonomous, so the arbiter undoes it.
    observe(720.0).await;
    let cmd = next_command(&mut control).await;
    assert_eq!(cmd["command"], "rollback", "{cmd}");
    assert_eq!(cmd["proposal_id"], "email-down");
    assert_eq!(
        cmd["action"],
        serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": 1})
    );
    assert_eq!(cmd["reason"]["code"], "slo_breach");
    assert_eq!(cmd["reason"]["value"], 720.0);
    assert_eq!(cmd["reason"]["limit"], 350.0);

    let (status, body) = http(&h.http, "GET", "/api/agents", Some("sre-oncall-token"), "");
    assert_eq!(status, 200, "{body}");
    let agents: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cost = &agents["cost-optimizer-1"];
    assert_eq!(cost["approved"], 1, "{cost}");
    assert_eq!(cost["automatic_rollbacks"], 1, "{cost}");
    assert_eq!(cost["rollback_rate"], 1.0, "{cost}");
    assert_eq!(cost["suspended"], false, "{cost}");
    let metrics = http(&h.http, "GET", "/metrics", None, "").1;
    assert!(
        metrics.contains("arbiter_time_to_rollback_seconds"),
        "{metrics}"
    );
    let story = h.story("email-down");
    assert!(story.contains("rolled back automatically"), "{story}");
    assert!(arbiter::audit::verify(&h.dir.join("audit.jsonl")).is_ok());

    // The dashboard's headline figures count it, and a restarted arbiter tells the same from
    // its audit trail.
    let summary = |addr: &str| -> serde_json::Value {
        let (status, body) = http(addr, "GET", "/api/summary", Some("sre-oncall-token"), "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let live = summary(&h.http);
    assert_eq!(live["rollbacks"], 1, "{live}");
    let seconds = live["mean_time_to_rollback_s"].as_f64().unwrap();
    assert!((0.0..15.0).contains(&seconds), "{live}");
    assert_eq!(live["incidents_per_1000"], 1000.0, "{live}");
    assert_eq!(live["adherence"]["allowed"], 1, "{live}");
    let before = api_state(&h.http);
    h.kill_arbiter();
    h.arbiter();
    assert_eq!(
        api_state(&h.http),
        before,
        "a rollback's record, after a restart"
    );
    let again = summary(&h.http);
    for field in [
        "rollbacks",
        "mean_time_to_rollback_s",
        "incidents_per_1000",
        "adherence",
    ] {
        assert_eq!(again[field], live[field], "{field} after a restart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_its_autonomy_zone_a_rollback_waits_for_a_person_then_is_sent() {
    let mut h = Harness::start("rollback-approve");
    let intents = h.intents();
    // Ordinary days, but every cost change needs a person.
    let baseline = std::fs::read_to_string(repo("intents/baseline.toml"))
        .unwrap()
        .replace(
            "cost = { \"*\" = \"autonomous\" }",
            "cost = { \"*\" = \"approve\" }",
        );
    assert!(baseline.contains("\"approve\""));
    std::fs::write(intents.join("baseline.toml"), baseline).unwrap();
    let url = h.url.clone();
    h.arbiter_with(&url, &intents);
    let (client, js, mut decisions) = cost_agent(&h.url).await;
    let mut control = client
        .subscribe("arbiter.control.cost-optimizer-1")
        .await
        .unwrap();
    client.flush().await.unwrap();
    propose_email_down(&js, "email-down").await;
    assert_eq!(next_decision(&mut decisions).await["verdict"], "escalated");
    let approve = r#"{"approve": true, "comment": "ok"}"#;
    let path = "/api/escalations/cost-optimizer-1/email-down";
    assert_eq!(
        http(&h.http, "POST", path, Some("sre-oncall-token"), approve).0,
        200
    );
    assert_eq!(next_decision(&mut decisions).await["verdict"], "approved");

    client
        .publish(
            "arbiter.telemetry.frontend",
            serde_json::json!({"p99_ms": 900.0}).to_string().into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();
    // The undo is proposed to people, on the agent's behalf, with the arbiter's advice.
    let asked = next_decision(&mut decisions).await;
    assert_eq!(asked["proposal_id"], "email-down.rollback", "{asked}");
    assert_eq!(asked["verdict"], "escalated");
    assert_eq!(asked["recommendation"], "approve");
    assert_eq!(asked["reasons"][0]["code"], "slo_breach");
    let (_, listed) = http(
        &h.http,
        "GET",
        "/api/escalations",
        Some("sre-oncall-token"),
        "",
    );
    assert!(listed.contains("email-down.rollback"), "{listed}");
    // Nothing is sent before a person answers.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), control.next())
            .await
            .is_err(),
        "a rollback was sent without approval"
    );
    let path = "/api/escalations/cost-optimizer-1/email-down.rollback";
    assert_eq!(
        http(&h.http, "POST", path, Some("sre-oncall-token"), approve).0,
        200
    );
    let cmd = next_command(&mut control).await;
    assert_eq!(cmd["proposal_id"], "email-down", "{cmd}");
    assert_eq!(cmd["action"]["replicas"], 1, "{cmd}");
    let story = h.story("email-down");
    assert!(
        story.contains("rolled back after a person's approval"),
        "{story}"
    );
}

/// `arbiter loadgen --json` for one second at `rate` against the harness's server, waiting
/// `drain` seconds for answers: the process's output and its report.
fn loadgen(h: &Harness, rate: &str, drain: &str) -> (std::process::Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .current_dir(repo(""))
        .args(["loadgen", "--nats", &h.url])
        .args([
            "--rate",
            rate,
            "--duration-s",
            "1",
            "--drain-s",
            drain,
            "--json",
        ])
        .args(SHOP)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)));
    (out, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_measures_every_proposal_and_the_floors() {
    let mut h = Harness::start("loadgen");
    h.arbiter();
    let (out, report) = loadgen(&h, "200", "5");
    assert!(out.status.success(), "{report}");
    let arbiter = &report["arbiter"];
    assert_eq!(arbiter["sent"], 200, "{report}");
    assert_eq!(
        arbiter["answered"], 200,
        "every proposal gets its decision: {report}"
    );
    for part in ["arbiter", "raw_round_trip", "jetstream_round_trip"] {
        let m = &report[part];
        let (p50, p99, max) = (
            m["p50_us"].as_f64().unwrap(),
            m["p99_us"].as_f64().unwrap(),
            m["max_us"].as_f64().unwrap(),
        );
        assert!(m["answered"].as_u64().unwrap() > 0, "{part}: {report}");
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{part}: {report}");
    }
    // Every decision it counted is in the audit trail.
    let v = arbiter::audit::verify(&h.dir.join("audit.jsonl")).unwrap();
    assert_eq!(v.records, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_agent_is_held_to_its_rate_limit_and_others_are_not() {
    let mut h = Harness::start("rate-limit");
    let roles = h.intents().join("agents.toml");
    let text = std::fs::read_to_string(&roles).unwrap().replace(
        "operators = [\"finops-lead\"]",
        "operators = [\"finops-lead\"]\nmax_proposals_per_minute = 3",
    );
    std::fs::write(&roles, text).unwrap();
    h.arbiter();
    let (client, js, mut cost) = cost_agent(&h.url).await;
    let mut resilience = client
        .subscribe("arbiter.decisions.resilience.resilience-1")
        .await
        .unwrap();
    client.flush().await.unwrap();

    // The cost agent loops: ten scale-downs at once. Then another agent proposes.
    for i in 0..10 {
        propose_email_down(&js, &format!("loop-{i}")).await;
    }
    let other = proposal(
        "scale-up",
        "resilience-1",
        "resilience",
        serde_json::json!({"kind": "scale", "service": "checkoutservice", "replicas": 1}),
    );
    store(&js, "arbiter.proposals.resilience.resilience-1", other).await;

    let mut limited = 0;
    for _ in 0..10 {
        let d = next_decision(&mut cost).await;
        if d["reasons"][0]["code"] == "agent_rate_limit" {
            assert_eq!(d["verdict"], "deferred", "{d}");
            limited += 1;
        }
    }
    assert_eq!(limited, 7, "three of ten are let through in a minute");
    let d = next_decision(&mut resilience).await;
    assert_ne!(d["reasons"][0]["code"], "agent_rate_limit", "{d}");

    let metrics = http(&h.http, "GET", "/metrics", None, "").1;
    assert!(
        metrics.contains("arbiter_rate_limited_total{agent=\"cost-optimizer-1\"} 7"),
        "{metrics}"
    );
    let (_, body) = http(&h.http, "GET", "/api/agents", Some("sre-oncall-token"), "");
    let agents: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(agents["cost-optimizer-1"]["max_proposals_per_minute"], 3);
    assert!(agents["resilience-1"]["max_proposals_per_minute"].is_null());
    assert!(h.story("loop-9").contains("agent_rate_limit"));

    // A restarted arbiter counts the last minute again from its audit trail: the loop does
    // not get a fresh allowance by crashing the service.
    h.kill_arbiter();
    h.arbiter();
    propose_email_down(&js, "loop-after-restart").await;
    let d = next_decision(&mut cost).await;
    assert_eq!(d["proposal_id"], "loop-after-restart", "{d}");
    assert_eq!(d["reasons"][0]["code"], "agent_rate_limit", "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_names_the_proposals_it_got_no_answer_for() {
    // No arbiter: nothing is answered, and the report says which.
    let h = Harness::start("loadgen-unanswered");
    let (out, report) = loadgen(&h, "30", "1");
    let arbiter = &report["arbiter"];
    assert_eq!(arbiter["answered"], 0, "{report}");
    let named: Vec<u64> = arbiter["unanswered"]
        .as_array()
        .unwrap_or_else(|| panic!("no unanswered list: {report}"))
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(named, (0..20).collect::<Vec<u64>>(), "{report}");
    assert!(!out.status.success(), "nothing answered is a failure");
}

/// A surge forecast leaves services short of what the intent plans, and no agent asks to add:
/// the arbiter asks the resilience agent, on its control subject, and records that it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_short_for_the_forecast_is_asked_for_on_the_agents_control_subject() {
    let mut h = Harness::start("asks");
    h.arbiter();
    let client = async_nats::connect(&h.url).await.unwrap();
    let mut control = client
        .subscribe("arbiter.control.resilience-1")
        .await
        .unwrap();
    client.flush().await.unwrap();
    observe(
        &client,
        "frontend",
        serde_json::json!({"load_rps": 300.0, "forecast_rps": 1100.0}),
    )
    .await;
    let cmd = next_command(&mut control).await;
    assert_eq!(cmd["command"], "request", "{cmd}");
    assert_eq!(cmd["agent"], "resilience-1", "{cmd}");
    assert_eq!(cmd["action"]["kind"], "scale", "{cmd}");
    assert!(cmd["action"]["replicas"].as_i64().unwrap() > 0, "{cmd}");
    assert_eq!(cmd["reason"]["code"], "capacity_short", "{cmd}");
    assert!(
        cmd["reason"]["limit"].as_f64() > cmd["reason"]["value"].as_f64(),
        "{cmd}"
    );
    // Recorded before it was sent: the trail holds it, and still verifies.
    let audit = h.dir.join("audit.jsonl");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let trail = std::fs::read_to_string(&audit).unwrap_or_default();
        if trail.contains("\"kind\":\"request\"")
            && trail.contains(cmd["action"]["service"].as_str().unwrap())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the request is in the trail"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    arbiter::audit::verify(&audit).expect("the trail verifies");
    // Asked once for each short service, not at every turn of the loop.
    let mut services = std::collections::BTreeSet::new();
    services.insert(cmd["action"]["service"].as_str().unwrap().to_string());
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(2500), control.next()).await
    {
        let c: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let s = c["action"]["service"].as_str().unwrap().to_string();
        assert!(services.insert(s.clone()), "{s} asked for twice");
    }
    // The figures count each request, and a restarted arbiter counts them from the trail.
    let requests = |addr: &str| -> serde_json::Value {
        let (status, body) = http(addr, "GET", "/api/summary", Some("sre-oncall-token"), "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["capacity_requests"].clone()
    };
    assert_eq!(requests(&h.http), services.len(), "{services:?}");
    h.kill_arbiter();
    h.arbiter();
    assert_eq!(requests(&h.http), services.len(), "after a restart");
}

/// A budget that binds under a surge: a scale-up only the budget blocks goes to a person with
/// the overspend the plan needs; once approved, the next scale-up within it goes ahead without
/// asking again — also after a restart, which reads the grant back from the trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overspend_a_person_approved_is_asked_once_and_survives_a_restart() {
    let mut h = Harness::start("grant");
    let intents = h.intents();
    let baseline = intents.join("baseline.toml");
    // The shop spends 6.68/h: 0.22/h left, less than any of the scale-ups below.
    let text = std::fs::read_to_string(&baseline)
        .unwrap()
        .replace("max_cost_per_hour = 15.0", "max_cost_per_hour = 6.9");
    std::fs::write(&baseline, text).unwrap();
    h.arbiter();
    let (client, js, mut decisions) =
        agent_at(&h.url, "arbiter.decisions.resilience.resilience-1").await;
    let surge = || {
        observe(
            &client,
            "frontend",
            serde_json::json!({"load_rps": 600.0, "forecast_rps": 1100.0}),
        )
    };
    surge().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let up = |id: &str, service: &str, replicas: i64| {
        proposal(
            id,
            "resilience-1",
            "resilience",
            serde_json::json!({"kind": "scale", "service": service, "replicas": replicas}),
        )
    };
    let subject = "arbiter.proposals.resilience.resilience-1";
    store(&js, subject, up("checkout-up", "checkoutservice", 2)).await;
    let first = next_decision(&mut decisions).await;
    assert_eq!(first["verdict"], "escalated", "{first}");
    let asked = first["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "overspend_asked")
        .unwrap_or_else(|| panic!("the overspend is asked: {first}"));
    assert!(asked["value"].as_f64().unwrap() > 0.3, "{asked}");

    let (status, body) = http(
        &h.http,
        "POST",
        "/api/escalations/resilience-1/checkout-up",
        Some("sre-oncall-token"),
        r#"{"approve": true, "comment": "spend for the surge"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let approved = next_decision(&mut decisions).await;
    assert_eq!(approved["verdict"], "approved", "{approved}");
    let grants = |addr: &str| -> serde_json::Value {
        let (status, body) = http(addr, "GET", "/api/summary", Some("sre-oncall-token"), "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["budget_grants"].clone()
    };
    let running = grants(&h.http);
    assert_eq!(running[0]["per_hour"], asked["value"], "{running}");

    // The grant is evidence: a restarted arbiter applies it as the one that made it did.
    h.kill_arbiter();
    h.arbiter();
    assert_eq!(grants(&h.http), running, "after a restart");
    surge().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    store(&js, subject, up("ads-up", "adservice", 1)).await;
    let next = next_decision(&mut decisions).await;
    assert_eq!(next["verdict"], "approved", "{next}");
    assert!(reason_codes(&next).contains(&"budget_granted"), "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_may_be_named_in_a_directory_that_does_not_exist_yet() {
    let mut h = Harness::start("audit-dir");
    let trail = h.dir.join("state").join("arbiter").join("audit.jsonl");
    let (url, intents) = (h.url.clone(), h.intents());
    h.arbiter_args(&url, &intents, &["--audit", trail.to_str().unwrap()]);
    // Ready, with its trail opened where it was told.
    assert!(trail.exists(), "{} was not created", trail.display());
    arbiter::audit::verify(&trail).unwrap();
}
