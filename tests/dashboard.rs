//! The dashboard end to end: a real headless Chromium against a running `arbiter serve` on a
//! real nats-server, with an agent on the bus. Screenshots are saved under
//! `target/dashboard-screenshots/`.

mod common;

use common::browser::Browser;
use common::service::*;
use serde_json::{json, Value};
use std::time::Duration;

const AGENT: &str = "cost-optimizer-1";

/// The cost agent: its JetStream context and its decisions, on a runtime that keeps running
/// while the test drives the browser.
struct Agent {
    rt: tokio::runtime::Runtime,
    js: async_nats::jetstream::Context,
    decisions: async_nats::Subscriber,
    _client: async_nats::Client,
}

impl Agent {
    fn connect(url: &str) -> Agent {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (client, js, decisions) = rt.block_on(cost_agent(url));
        Agent {
            rt,
            js,
            decisions,
            _client: client,
        }
    }

    /// Proposes removing a replica of emailservice, with the given confidence.
    fn propose(&self, id: &str, confidence: f64) {
        self.propose_because(id, confidence, "test");
    }

    fn propose_because(&self, id: &str, confidence: f64, rationale: &str) {
        self.propose_on("emailservice", id, confidence, rationale);
    }

    /// Proposes removing a replica of `service`.
    fn propose_on(&self, service: &str, id: &str, confidence: f64, rationale: &str) {
        let mut p: Value = serde_json::from_slice(&proposal(
            id,
            AGENT,
            "cost",
            json!({"kind": "scale", "service": service, "replicas": -1}),
        ))
        .unwrap();
        p["confidence"] = json!(confidence);
        p["rationale"] = json!(rationale);
        self.rt.block_on(async {
            store(
                &self.js,
                "arbiter.proposals.cost.cost-optimizer-1",
                p.to_string(),
            )
            .await;
        });
    }

    fn next_decision(&mut self) -> Value {
        self.rt.block_on(next_decision(&mut self.decisions))
    }
}

#[test]
fn in_a_real_browser_a_proposal_appears_its_blast_radius_is_drawn_and_escalations_are_answered_by_clicking(
) {
    let browser = Browser::start("dashboard-screenshots");
    let mut h = Harness::start("dashboard");
    h.arbiter();
    let mut agent = Agent::connect(&h.url);
    browser.goto(&format!("http://{}/", h.http));

    // Signing in is done with the keyboard alone: type the token, press Enter.
    let token = browser.find("#token");
    browser.type_into(&token, "sre-oncall-token\u{E007}");
    browser.wait_for(
        "signing in",
        "return document.getElementById('who').textContent === 'sre-oncall'",
        json!([]),
    );

    // The intent in force is shown with its version and the file it came from.
    let intents =
        arbiter::intent::IntentSet::new(arbiter::intent::load_dir(&h.intents()).unwrap().intents);
    let now = arbiter::contract::Timestamp::from_datetime(chrono::Utc::now());
    let in_force = intents.in_force(now).expect("an intent is in force");
    browser.wait_for(
        "the intent in force",
        "const t = document.getElementById('intent-body').textContent; return t.includes(arguments[0]) && t.includes(arguments[1]) && t.includes('Priorities, most important first')",
        json!([in_force.version, in_force.file]),
    );

    // An agent's proposal appears in the feed without a reload.
    agent.propose("dash-approved", 0.9);
    let approved = agent.next_decision();
    assert_eq!(approved["verdict"], "approved", "{approved}");
    let row = "button.entry[data-proposal='dash-approved']";
    browser.wait_for(
        "the proposal in the feed",
        "return !!document.querySelector(arguments[0])",
        json!([row]),
    );
    let shown = browser.script(
        "return document.querySelector(arguments[0]).textContent",
        json!([row]),
    );
    assert!(
        shown.as_str().unwrap().contains("approved"),
        "the row shows its verdict: {shown}"
    );
    browser.screenshot("1-feed");

    // Opening it shows its explanation and story, and draws its target and blast radius.
    browser.click(&browser.find(row));
    browser.wait_for(
        "the decision's audit narrative",
        "const n = document.querySelector('#detail-body .narrative'); return n && n.textContent.includes('cost-optimizer-1 proposed')",
        json!([]),
    );
    let target = browser.wait_for(
        "the target highlighted on the graph",
        "const t = document.querySelector('#graph-svg .node.target'); return t && t.dataset.service",
        json!([]),
    );
    assert_eq!(target, "emailservice");
    let mut lit: Vec<String> = browser
        .script(
            "return [...document.querySelectorAll('#graph-svg .node.blast')].map(n => n.dataset.service)",
            json!([]),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let mut blast: Vec<String> = approved["blast_radius"]["services"]
        .as_array()
        .expect("a scale-down has a blast radius")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    lit.sort();
    blast.sort();
    assert!(
        blast.len() > 1,
        "callers are in the blast radius: {blast:?}"
    );
    assert_eq!(
        lit, blast,
        "the graph lights exactly the decision's blast radius"
    );
    let drawn = browser.script(
        "return document.querySelectorAll('#graph-svg .node').length",
        json!([]),
    );
    assert_eq!(drawn, 11, "every service of the shop is drawn");
    let explanation = browser.script(
        "return document.getElementById('detail-body').textContent",
        json!([]),
    );
    assert!(
        explanation
            .as_str()
            .unwrap()
            .contains(approved["explanation"].as_str().unwrap()),
        "the decision's explanation is shown"
    );
    browser.screenshot("2-decision-and-blast-radius");

    // Unsure of itself, the agent's next proposal waits for a person. Its rationale is
    // hostile markup, which the page must show as text.
    let hostile = "<img src=x onerror=\"window.pwned=1\"><b>trust me</b>";
    agent.propose_because("dash-unsure", 0.5, hostile);
    let escalated = agent.next_decision();
    assert_eq!(escalated["verdict"], "escalated", "{escalated}");
    let card = "article.card[data-proposal='dash-unsure']";
    browser.wait_for(
        "the escalation in the approvals queue",
        "return !!document.querySelector(arguments[0])",
        json!([card]),
    );
    let card_text = browser
        .script(
            "return document.querySelector(arguments[0]).textContent",
            json!([card]),
        )
        .as_str()
        .unwrap()
        .to_string();
    assert!(card_text.contains("Arbiter recommends"), "{card_text}");
    assert!(card_text.contains("approve"), "{card_text}");
    assert!(
        card_text.contains("checkoutservice"),
        "blast radius: {card_text}"
    );
    assert!(card_text.contains(" min "), "time left: {card_text}");
    assert!(card_text.contains(hostile), "shown as text: {card_text}");
    let injected = browser.script(
        "return window.pwned === undefined && !document.querySelector(arguments[0] + ' img, ' + arguments[0] + ' b')",
        json!([card]),
    );
    assert_eq!(injected, true, "the agent's markup is not part of the page");

    // Its operator may not answer it: signed in as the FinOps lead, the buttons are
    // disabled and the card says why. Then back to the on-call SRE.
    let sign_in_as = |token: &str, name: &str| {
        browser.click(&browser.find("#signout"));
        browser.type_into(&browser.find("#token"), &format!("{token}\u{E007}"));
        browser.wait_for(
            "signing in again",
            "return document.getElementById('who').textContent === arguments[0] && !!document.querySelector(arguments[1])",
            json!([name, card]),
        );
    };
    sign_in_as("finops-lead-token", "finops-lead");
    let operator_view = browser.script(
        "const c = document.querySelector(arguments[0]); return [c.querySelector('button.approve').disabled, c.querySelector('button.deny').disabled, c.textContent.includes('someone else must answer')]",
        json!([card]),
    );
    assert_eq!(operator_view, json!([true, true, true]));
    sign_in_as("sre-oncall-token", "sre-oncall");

    // The comment is typed, and Tab moves on to the Approve button.
    let comment = browser.find(&format!("{card} textarea"));
    browser.type_into(&comment, "quiet hour, fine");
    browser.press("\u{E004}");
    let focused = browser.script(
        "return document.activeElement.getAttribute('aria-label')",
        json!([]),
    );
    assert_eq!(focused, "Approve cost-optimizer-1/dash-unsure");
    browser.screenshot("3-approval-waiting");
    browser.click(&browser.find(&format!("{card} button.approve")));

    // The agent receives the final decision, with who approved it.
    answered_by_sre_oncall(
        &agent.next_decision(),
        "dash-unsure",
        "approved",
        "human_approved",
    );
    browser.wait_for(
        "the card to confirm",
        "const c = document.querySelector(arguments[0]); return c && c.textContent.includes('has been sent the final decision')",
        json!([card]),
    );
    assert!(
        h.story("dash-unsure")
            .contains("sre-oncall approved it: quiet hour, fine"),
        "the comment is in the audit trail"
    );
    browser.screenshot("4-approved");

    // Another escalation, denied by clicking: the agent is told no, by whom.
    agent.propose_on("shippingservice", "dash-deny", 0.5, "test");
    let escalated = agent.next_decision();
    assert_eq!(escalated["verdict"], "escalated", "{escalated}");
    let card = "article.card[data-proposal='dash-deny']";
    browser.wait_for(
        "the second escalation",
        "return !!document.querySelector(arguments[0] + ' button.deny')",
        json!([card]),
    );
    browser.type_into(
        &browser.find(&format!("{card} textarea")),
        "not during the sale",
    );
    browser.click(&browser.find(&format!("{card} button.deny")));
    answered_by_sre_oncall(
        &agent.next_decision(),
        "dash-deny",
        "rejected",
        "human_denied",
    );
    assert!(h
        .story("dash-deny")
        .contains("sre-oncall denied it: not during the sale"));

    // The kill switch: suspending the agent from its row refuses its next proposal. A person
    // on the switch stays on it while the table refreshes under them with new figures.
    let suspend = "button[aria-label='Suspend cost-optimizer-1']";
    browser.wait_for(
        "the agents table",
        "return !!document.querySelector(arguments[0])",
        json!([suspend]),
    );
    browser.script(
        "window.killSwitch = document.querySelector(arguments[0]); window.killSwitch.focus()",
        json!([suspend]),
    );
    agent.propose("dash-counted", 0.9);
    agent.next_decision();
    // The figures the page will show are the service's once its snapshot holds that decision.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !http(
        &h.http,
        "GET",
        "/api/decisions",
        Some("sre-oncall-token"),
        "",
    )
    .1
    .contains("dash-counted")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "dash-counted is in the feed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, agents) = http(&h.http, "GET", "/api/agents", Some("sre-oncall-token"), "");
    let agents: Value = serde_json::from_str(&agents).unwrap();
    let proposals = agents["cost-optimizer-1"]["proposals"].as_u64().unwrap();
    browser.wait_for(
        "the agents table to show the new proposal",
        "const row = window.killSwitch.closest('tr'); return row && row.isConnected && row.cells[3].textContent === arguments[0]",
        json!([proposals.to_string()]),
    );
    let kept = browser.script(
        "return document.activeElement === window.killSwitch && window.killSwitch.isConnected",
        json!([]),
    );
    assert_eq!(kept, true, "the refresh left the focus on the kill switch");
    browser.press("\u{E007}");
    browser.wait_for(
        "the agent shown suspended",
        "return !!document.querySelector(\"button[aria-label='Resume cost-optimizer-1']\")",
        json!([]),
    );
    agent.propose("dash-suspended", 0.9);
    let refused = agent.next_decision();
    assert_eq!(
        refused["reasons"][0]["code"], "agent_suspended",
        "{refused}"
    );
    browser.script(
        "document.getElementById('agents').scrollIntoView()",
        json!([]),
    );
    browser.screenshot("5-agents-and-intent");

    // A service on the graph, reached with the keyboard, lists its decisions: none for
    // cartservice here.
    browser.script(
        "document.querySelector(\"#graph-svg .node[data-service='cartservice']\").focus()",
        json!([]),
    );
    browser.press("\u{E007}");
    browser.wait_for(
        "the feed filtered by the graph",
        "return document.querySelector('#filters input[name=service]').value === 'cartservice' && document.getElementById('page-info').textContent === 'no decision matches'",
        json!([]),
    );

    // Every control has a name a screen reader can say, and none is taken out of the tab
    // order.
    let unnamed = browser.script(
        "return [...document.querySelectorAll('button, input, select, textarea, [tabindex]')]
            .filter(e => e.getAttribute('tabindex') === '-1' ||
                !(e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels.length)))
            .map(e => e.outerHTML.slice(0, 120))",
        json!([]),
    );
    assert_eq!(unnamed, json!([]), "controls without a name");

    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// Every entry of the feed for a query, page after page through the API; checks that pages
/// go from newest to oldest without repeating anything.
fn walk(addr: &str, filter: &str) -> usize {
    let mut seen = 0;
    let mut last = u64::MAX;
    let mut before = String::new();
    loop {
        let path = format!("/api/decisions?limit=500{filter}{before}");
        let (status, body) = http(addr, "GET", &path, Some("sre-oncall-token"), "");
        assert_eq!(status, 200, "{path}: {body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        for e in page["entries"].as_array().unwrap() {
            let seq = e["seq"].as_u64().unwrap();
            assert!(seq < last, "newest first, each once");
            // The feed holds where a decision is recorded; its text is read back from there.
            let explanation = e["explanation"].as_str().unwrap();
            assert!(
                !explanation.is_empty() && !explanation.contains("could not be read back"),
                "{e}"
            );
            last = seq;
            seen += 1;
        }
        match page["older"].as_u64() {
            Some(b) => before = format!("&before={b}"),
            None => return seen,
        }
    }
}

#[test]
fn thousands_of_decisions_page_through_the_api_and_the_browser() {
    const N: usize = 2_000;
    let mut h = Harness::start("dashboard-pages");
    h.arbiter();
    let agent = Agent::connect(&h.url);
    let services = [
        "emailservice",
        "adservice",
        "cartservice",
        "currencyservice",
    ];
    agent.rt.block_on(async {
        let mut acks = Vec::new();
        for i in 0..N {
            let p = proposal(
                &format!("bulk-{i}"),
                AGENT,
                "cost",
                json!({"kind": "scale", "service": services[i % 4], "replicas": -1}),
            );
            let ack = agent
                .js
                .publish("arbiter.proposals.cost.cost-optimizer-1", p.into())
                .await
                .unwrap();
            acks.push(ack);
        }
        for a in acks {
            a.await.unwrap();
        }
    });
    let addr = h.http.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = http(&addr, "GET", "/api/summary", Some("sre-oncall-token"), "");
        let summary: Value = serde_json::from_str(&body).unwrap();
        if summary["decisions"] == N {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "all decided: {summary}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Through the API: every decision once, and the filters split them without loss.
    assert_eq!(walk(&addr, ""), N);
    let by_service: usize = services
        .iter()
        .map(|s| walk(&addr, &format!("&service={s}")))
        .sum();
    assert_eq!(by_service, N);
    let adservice = walk(&addr, "&service=adservice");
    assert_eq!(adservice, N / 4);
    let verdicts = ["approved", "merged", "rejected", "deferred", "escalated"];
    let by_verdict: usize = verdicts
        .iter()
        .map(|v| walk(&addr, &format!("&verdict={v}")))
        .sum();
    assert_eq!(by_verdict, N, "a scale-down is given one of {verdicts:?}");
    // What is new since a given point, for a client that follows the feed.
    let (_, body) = http(
        &addr,
        "GET",
        "/api/decisions?limit=1",
        Some("sre-oncall-token"),
        "",
    );
    let latest = serde_json::from_str::<Value>(&body).unwrap()["latest"]
        .as_u64()
        .unwrap();
    let (_, body) = http(
        &addr,
        "GET",
        &format!("/api/decisions?after={}", latest - 5),
        Some("sre-oncall-token"),
        "",
    );
    let newest: Vec<u64> = serde_json::from_str::<Value>(&body).unwrap()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(newest, (latest - 4..=latest).rev().collect::<Vec<_>>());

    let (status, body) = http(
        &addr,
        "GET",
        "/api/decisions?limit=lots",
        Some("sre-oncall-token"),
        "",
    );
    assert_eq!(status, 400);
    assert!(
        body.contains("bad_query") && body.contains("limit"),
        "{body}"
    );
    let (status, body) = http(
        &addr,
        "GET",
        "/api/decisions?verdict=aproved",
        Some("sre-oncall-token"),
        "",
    );
    assert_eq!(status, 400);
    assert!(body.contains("verdict: unknown value `aproved`"), "{body}");
    assert_eq!(http(&addr, "GET", "/api/decisions", None, "").0, 401);

    // In the browser: pages of 50, and a filter typed in.
    let browser = Browser::start("dashboard-screenshots");
    browser.goto(&format!("http://{addr}/"));
    browser.type_into(&browser.find("#token"), "sre-oncall-token\u{E007}");
    let first = browser.wait_for(
        "the first page",
        "const t = document.getElementById('page-info').textContent; return t.startsWith('1–50 of 2,000') && t",
        json!([]),
    );
    assert!(first.as_str().unwrap().contains("live"), "{first}");
    assert_eq!(
        browser.script(
            "return document.querySelectorAll('#feed-list .entry').length",
            json!([])
        ),
        50
    );
    browser.click(&browser.find("#older"));
    browser.wait_for(
        "the second page",
        "return document.getElementById('page-info').textContent.startsWith('51–100 of 2,000')",
        json!([]),
    );
    browser.type_into(
        &browser.find("#filters input[name=service]"),
        "adservice\u{E007}",
    );
    let filtered = browser.wait_for(
        "the filtered feed",
        "const t = document.getElementById('page-info').textContent; return t.includes('of 500') && t",
        json!([]),
    );
    assert!(
        filtered.as_str().unwrap().starts_with("1–50"),
        "a new filter starts at the newest page: {filtered}"
    );
    let services_shown = browser.script(
        "return [...new Set([...document.querySelectorAll('#feed-list .entry .what')].map(e => e.textContent.split(' · ')[1]))]",
        json!([]),
    );
    assert_eq!(services_shown, json!(["scale adservice"]));
    browser.screenshot("6-thousands-filtered");
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// A final decision on an escalation, as the on-call SRE answered it.
fn answered_by_sre_oncall(d: &serde_json::Value, id: &str, verdict: &str, code: &str) {
    assert_eq!(d["proposal_id"], id);
    assert_eq!(d["verdict"], verdict, "{d}");
    assert_eq!(d["reasons"][0]["code"], code);
    assert_eq!(d["reasons"][0]["by"], "sre-oncall");
}
