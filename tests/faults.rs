//! The fault campaign: `arbiter serve` under steady load against a real nats-server while the
//! arbiter or the server is killed and restarted, its disk fills, and agents misbehave. Every
//! case checks the same promise from the agent's side: each proposal gets exactly one first
//! decision, delivered, and the audit trail verifies.

mod common;

use common::service::*;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The load runs one at a time: two cores cannot carry two of them and a restart in time.
static LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const RATE: u64 = 1_000;
const AGENT: &str = "app-tuner-1";
const SUBJECT: &str = "arbiter.proposals.application.app-tuner-1";

fn flag(id: &str, i: u64) -> Vec<u8> {
    let services = [
        "adservice",
        "recommendationservice",
        "emailservice",
        "currencyservice",
    ];
    proposal(
        id,
        AGENT,
        "application",
        serde_json::json!({"kind": "feature_flag", "service": services[(i % 4) as usize],
            "flag": format!("f{i}"), "enabled": true}),
    )
}

/// Publishes `n` proposals at [`RATE`] per second, each stored by JetStream (the sender
/// retries what the server did not confirm, as an agent would); returns their ids.
fn load(
    js: async_nats::jetstream::Context,
    run: &str,
    n: u64,
) -> tokio::task::JoinHandle<Vec<String>> {
    let run = run.to_string();
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut ids = Vec::new();
        let mut acks = Vec::new();
        for i in 0..n {
            tokio::time::sleep_until(start + Duration::from_micros(i * 1_000_000 / RATE)).await;
            let id = format!("{run}-{i}");
            let ack = js
                .publish(SUBJECT, flag(&id, i).into())
                .await
                .expect("publish");
            acks.push((id.clone(), i, ack));
            ids.push(id);
        }
        for (id, i, ack) in acks {
            if ack.await.is_err() {
                // Not confirmed (the server was restarting): send again until it is.
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    assert!(Instant::now() < deadline, "{id} never stored");
                    if let Ok(f) = js.publish(SUBJECT, flag(&id, i).into()).await {
                        if f.await.is_ok() {
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        ids
    })
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

/// Proposals the decisions stream holds a decision for, with how many.
async fn stored_by_id(js: &async_nats::jetstream::Context) -> BTreeMap<String, usize> {
    let stream = js.get_stream("ARBITER_DECISIONS").await.unwrap();
    let total = stream.get_info().await.unwrap().state.messages as usize;
    let reader = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ids = BTreeMap::new();
    let mut got = 0;
    while got < total {
        let mut batch = reader
            .fetch()
            .max_messages(5_000)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        let before = got;
        while let Some(Ok(m)) = batch.next().await {
            let d: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            *ids.entry(d["proposal_id"].as_str().unwrap().to_string())
                .or_default() += 1;
            got += 1;
        }
        if got == before {
            break;
        }
    }
    ids
}

fn assert_trail_verifies(h: &Harness, case: &str) -> u64 {
    match arbiter::audit::verify(&h.dir.join("audit.jsonl")) {
        Ok(v) => v.records,
        Err(e) => panic!("{case}: the audit trail does not verify: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_arbiter_restarted_after_any_delay_loses_no_proposal_and_decides_none_twice() {
    let _one = LOAD.lock().await;
    for (k, delay_ms) in [0u64, 500, 1_000, 2_000, 7_000].into_iter().enumerate() {
        let case = format!("kill -9, restart after {delay_ms} ms");
        let mut h = Harness::start(&format!("kill-{k}"));
        h.arbiter();
        let client = async_nats::connect(&h.url).await.unwrap();
        let js = async_nats::jetstream::new(client.clone());
        let mut sub = client
            .subscribe("arbiter.decisions.application.app-tuner-1")
            .await
            .unwrap();
        client.flush().await.unwrap();
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
