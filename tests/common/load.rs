//! A steady load of proposals from one agent, and what the decisions stream holds of them:
//! the promise the fault and replica tests check from the agent's side.

use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const RATE: u64 = 1_000;
pub const AGENT: &str = "app-tuner-1";
pub const SUBJECT: &str = "arbiter.proposals.application.app-tuner-1";
/// Where that agent's decisions come.
pub const DECISIONS: &str = "arbiter.decisions.application.app-tuner-1";

pub fn flag(id: &str, i: u64) -> Vec<u8> {
    let services = [
        "adservice",
        "recommendationservice",
        "emailservice",
        "currencyservice",
    ];
    super::service::proposal(
        id,
        AGENT,
        "application",
        serde_json::json!({"kind": "feature_flag", "service": services[(i % 4) as usize],
            "flag": format!("f{i}"), "enabled": true}),
    )
}

/// Publishes `n` proposals at [`RATE`] per second, each stored by JetStream (the sender
/// sends again what the server did not confirm, as an agent would); returns their ids.
/// Confirmations are awaited as they come, each on its own task: the client holds back new
/// publishes while too many wait unconfirmed.
pub fn load(
    js: async_nats::jetstream::Context,
    run: &str,
    n: u64,
) -> tokio::task::JoinHandle<Vec<String>> {
    load_while(js, run, RATE, move |i| i < n)
}

/// [`load`] at `rate` per second until `stop` is set: for a run whose length depends on how
/// fast the service under test goes (a debug build is several times slower than a release
/// one), so the load never runs out before the faults it should overlap.
pub fn load_until(
    js: async_nats::jetstream::Context,
    run: &str,
    rate: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    load_while(js, run, rate, move |_| {
        !stop.load(std::sync::atomic::Ordering::SeqCst)
    })
}

fn load_while(
    js: async_nats::jetstream::Context,
    run: &str,
    rate: u64,
    go_on: impl Fn(u64) -> bool + Send + Sync + 'static,
) -> tokio::task::JoinHandle<Vec<String>> {
    let run = run.to_string();
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut ids = Vec::new();
        let mut confirmed = Vec::new();
        for i in (0..).take_while(|i| go_on(*i)) {
            tokio::time::sleep_until(start + Duration::from_micros(i * 1_000_000 / rate)).await;
            let id = format!("{run}-{i}");
            let sent = js.publish(SUBJECT, flag(&id, i).into()).await;
            confirmed.push(tokio::spawn(async move {
                match sent {
                    Ok(ack) => ack.await.is_ok(),
                    Err(_) => false,
                }
            }));
            ids.push(id);
        }
        for (i, (id, ok)) in ids.iter().zip(confirmed).enumerate() {
            if ok.await.unwrap() {
                continue;
            }
            // Not confirmed (the server was restarting): send again until it is.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                assert!(Instant::now() < deadline, "{id} never stored");
                if let Ok(f) = js.publish(SUBJECT, flag(id, i as u64).into()).await {
                    if f.await.is_ok() {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        ids
    })
}

/// Proposals the decisions stream holds a decision for, with how many.
pub async fn stored_by_id(js: &async_nats::jetstream::Context) -> BTreeMap<String, usize> {
    // Just after a fault the cluster may take a moment to answer (a new stream leader).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (total, reader) = loop {
        let opened = async {
            let stream = js.get_stream("ARBITER_DECISIONS").await?;
            let total = stream.get_info().await?.state.messages as usize;
            let reader = stream
                .create_consumer(async_nats::jetstream::consumer::pull::Config {
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                    ..Default::default()
                })
                .await?;
            Ok::<_, async_nats::Error>((total, reader))
        };
        match opened.await {
            Ok(opened) => break opened,
            Err(e) => assert!(Instant::now() < deadline, "the decisions stream: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
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

/// Every proposal of `ids` has exactly one decision in the decisions stream, within 90 s.
/// Decisions published while a test's own connection was away are not on its subscription;
/// the stream is where an agent finds them, so that is what is counted.
pub async fn assert_each_stored_once(
    js: &async_nats::jetstream::Context,
    ids: &[String],
    case: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let stored = loop {
        let stored = stored_by_id(js).await;
        if ids.iter().all(|id| stored.contains_key(id)) || Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let missing: Vec<&String> = ids.iter().filter(|id| !stored.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{case}: {} proposals without a decision, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Only the load's own proposals: a person's answer to an escalation is a second,
    // final decision of its proposal, which a case may add.
    let twice: Vec<(&String, usize)> = ids
        .iter()
        .map(|id| (id, stored[id]))
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        twice.is_empty(),
        "{case}: decisions stored more than once, e.g. {:?}",
        &twice[..twice.len().min(5)]
    );
}
