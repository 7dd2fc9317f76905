//! `arbiter loadgen`: drives proposals through NATS at a set rate and measures the time from
//! publishing a proposal to receiving its decision, beside the floor that NATS itself sets:
//! a request-reply round trip through the same server, at the same rate, with payloads of
//! the same size, answered by an echo responder with its own connection and thread. A second
//! floor, the JetStream round trip, is the arbiter's transport (stored, pulled by a durable
//! consumer, stored again) without the arbiter's work.
//!
//! Sending is paced against the clock (the number due by now is sent each millisecond), so a
//! slow arbiter does not slow the sender down: latency includes any queueing, as an agent
//! would see it.

mod mix;

pub use mix::{Mix, NoSender};

use futures_util::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Connect(#[from] crate::bus::nats::NatsError),
    #[error("NATS: {0}")]
    Nats(String),
}

fn nats<E: std::fmt::Display>(e: E) -> LoadError {
    LoadError::Nats(e.to_string())
}

#[derive(Clone, Debug)]
pub struct Load {
    /// Messages per second.
    pub rate: u64,
    pub duration: Duration,
    /// How long to wait for answers after the last message was sent.
    pub drain: Duration,
}

/// What one run measured. Latencies are in microseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Measured {
    pub sent: u64,
    pub answered: u64,
    /// Sent but not answered before the drain time ran out.
    pub missing: u64,
    /// The numbers of the first of those (a proposal's id ends in `-<number>`), so that
    /// one can look for them in the audit trail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unanswered: Vec<u64>,
    /// Answers per second, from the first send to the last answer.
    pub throughput: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// The value at quantile `q` of sorted samples (nearest rank).
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Send times, in nanoseconds after the start (0: not sent yet), indexed by message number.
struct Clock {
    start: Instant,
    sent_at: Vec<AtomicU64>,
}

impl Clock {
    fn new(n: u64) -> Clock {
        Clock {
            start: Instant::now(),
            sent_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn since_start(&self) -> u64 {
        (self.start.elapsed().as_nanos() as u64).max(1)
    }
}

/// Collects one answer per message number (the first; an escalation's later final decision
/// is not a second answer) until all have come or `deadline` passes.
async fn collect<P: AsRef<[u8]>>(
    mut answers: impl futures_util::Stream<Item = P> + Unpin,
    clock: Arc<Clock>,
    number_of: impl Fn(&[u8]) -> Option<u64>,
    deadline: Arc<AtomicU64>,
) -> (Vec<u64>, u64, Vec<u64>) {
    let n = clock.sent_at.len();
    let mut seen = vec![false; n];
    let mut latencies = Vec::with_capacity(n);
    let mut last = 0;
    loop {
        // Short waits, so a deadline set while waiting is seen.
        let limit = deadline.load(Ordering::Acquire);
        let wait = Duration::from_nanos(limit.saturating_sub(clock.since_start()))
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        let m = match tokio::time::timeout(wait, answers.next()).await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) if clock.since_start() >= deadline.load(Ordering::Acquire) => break,
            Err(_) => continue,
        };
        let now = clock.since_start();
        let Some(i) = number_of(m.as_ref()).filter(|&i| (i as usize) < n) else {
            continue;
        };
        let sent = clock.sent_at[i as usize].load(Ordering::Acquire);
        if sent == 0 || std::mem::replace(&mut seen[i as usize], true) {
            continue;
        }
        // Sent before it was answered (the time is taken before the send): never negative.
        latencies.push(now.saturating_sub(sent));
        last = now;
        if latencies.len() == n {
            break;
        }
    }
    let unanswered = (0..n as u64)
        .filter(|&i| !seen[i as usize])
        .take(UNANSWERED_NAMED)
        .collect();
    (latencies, last, unanswered)
}

/// How many unanswered messages a run names.
const UNANSWERED_NAMED: usize = 20;

/// The number an echoed payload carries in its first eight bytes.
fn echoed_number(p: &[u8]) -> Option<u64> {
    p.get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

type Collector = tokio::task::JoinHandle<(Vec<u64>, u64, Vec<u64>)>;

/// A clock for `n` messages, the deadline the sender sets when done, and the collector.
fn start_collecting(
    answers: async_nats::Subscriber,
    n: u64,
    number_of: impl Fn(&[u8]) -> Option<u64> + Send + 'static,
) -> (Arc<Clock>, Arc<AtomicU64>, Collector) {
    let clock = Arc::new(Clock::new(n));
    let deadline = Arc::new(AtomicU64::new(u64::MAX));
    let answers = answers.map(|m| m.payload);
    let collector = tokio::spawn(collect(answers, clock.clone(), number_of, deadline.clone()));
    (clock, deadline, collector)
}

/// Sends `n` messages paced at `rate`, then lets the collector drain.
async fn pace(
    load: &Load,
    clock: &Clock,
    deadline: &AtomicU64,
    mut send: impl AsyncFnMut(u64) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    let n = clock.sent_at.len() as u64;
    let mut sent = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while sent < n {
        tick.tick().await;
        let due = ((clock.start.elapsed().as_secs_f64() * load.rate as f64) as u64 + 1).min(n);
        while sent < due {
            // Noted before the send: an answer can come back before the send returns, and
            // one that found no send time would be dropped as never sent.
            clock.sent_at[sent as usize].store(clock.since_start(), Ordering::Release);
            send(sent).await?;
            sent += 1;
        }
    }
    deadline.store(
        clock.since_start() + load.drain.as_nanos() as u64,
        Ordering::Release,
    );
    Ok(())
}

fn measured(sent: u64, (mut latencies, last, unanswered): (Vec<u64>, u64, Vec<u64>)) -> Measured {
    latencies.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    let answered = latencies.len() as u64;
    Measured {
        sent,
        answered,
        missing: sent - answered,
        unanswered,
        throughput: if last > 0 {
            answered as f64 / (last as f64 / 1e9)
        } else {
            0.0
        },
        p50_us: us(quantile(&latencies, 0.50)),
        p99_us: us(quantile(&latencies, 0.99)),
        p999_us: us(quantile(&latencies, 0.999)),
        max_us: us(latencies.last().copied().unwrap_or(0)),
    }
}

fn count(load: &Load) -> u64 {
    ((load.rate as f64 * load.duration.as_secs_f64()).round() as u64).max(1)
}

type Echo = std::thread::JoinHandle<Result<(), LoadError>>;

/// Runs `task` on a thread of its own with its own runtime, as a separate process would, so
/// an echo responder does not share the sender's scheduler.
fn on_own_thread<F>(
    task: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<Result<(), LoadError>>
where
    F: std::future::Future<Output = Result<(), LoadError>>,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(nats)?
            .block_on(task())
    })
}

/// Waits until the echo responder is listening; if it could not start, its error.
async fn started(echo: Echo, ready: tokio::sync::oneshot::Receiver<()>) -> Result<Echo, LoadError> {
    if ready.await.is_ok() {
        return Ok(echo);
    }
    match echo.join() {
        Ok(Err(e)) => Err(e),
        _ => Err(LoadError::Nats("the echo responder stopped".into())),
    }
}

/// The floor: request-reply round trips through the server at the same rate, with payloads
/// of `size` bytes, answered by an echo responder on its own connection and thread.
pub async fn raw_round_trip(url: &str, load: &Load, size: usize) -> Result<Measured, LoadError> {
    let run = format!("loadgen.{}", nuid());
    let (echo_subject, reply_subject) = (format!("{run}.echo"), format!("{run}.reply"));
    let (ready2, echo_ready) = tokio::sync::oneshot::channel();
    let (url2, subject2) = (url.to_string(), echo_subject.clone());
    let echo = on_own_thread(move || async move {
        let client = crate::bus::nats::connect(&url2).await?;
        let mut requests = client.subscribe(subject2).await.map_err(nats)?;
        client.flush().await.map_err(nats)?;
        let _ = ready2.send(());
        while let Some(m) = requests.next().await {
            let done = m.payload.is_empty(); // the driver's "done"
            if let Some(reply) = m.reply {
                client.publish(reply, m.payload).await.map_err(nats)?;
            }
            if done {
                break;
            }
        }
        client.flush().await.map_err(nats)
    });
    let echo = started(echo, echo_ready).await?;
    let client = crate::bus::nats::connect(url).await?;
    let answers = client
        .subscribe(reply_subject.clone())
        .await
        .map_err(nats)?;
    client.flush().await.map_err(nats)?;
    let n = count(load);
    let (clock, deadline, collector) = start_collecting(answers, n, echoed_number);
    let mut payload = vec![b'x'; size.max(8)];
    pace(load, &clock, &deadline, async |i| {
        payload[..8].copy_from_slice(&i.to_le_bytes());
        client
            .publish_with_reply(
                echo_subject.clone(),
                reply_subject.clone(),
                payload.clone().into(),
            )
            .await
            .map_err(nats)
    })
    .await?;
    let collected = collector.await.map_err(nats)?;
    client
        .publish(echo_subject, Vec::<u8>::new().into())
        .await
        .map_err(nats)?;
    client.flush().await.map_err(nats)?;
    let _ = echo.join();
    Ok(measured(n, collected))
}

/// The floor of the durable path: the same messages stored in a JetStream stream, pulled by
/// a durable consumer on another connection and thread that publishes each back into a
/// second stream, whose subject the sender listens to — the arbiter's transport without the
/// arbiter's work. The streams are file-backed and replicated like the arbiter's, and removed
/// afterwards.
pub async fn jetstream_round_trip(
    url: &str,
    load: &Load,
    size: usize,
) -> Result<Measured, LoadError> {
    use async_nats::jetstream::{self, consumer::pull, stream};
    let run = format!("loadgen{}", nuid());
    let (inbound, outbound) = (format!("{run}.in"), format!("{run}.out"));
    let client = crate::bus::nats::connect(url).await?;
    let js = jetstream::new(client.clone());
    // Replicated as the arbiter's own streams are, on a cluster.
    for (name, subject) in [("IN", &inbound), ("OUT", &outbound)] {
        let name = format!("{}_{name}", run.to_uppercase());
        crate::bus::nats::replicated(&js, &name, |replicas| {
            js.get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                num_replicas: replicas,
                ..Default::default()
            })
        })
        .await
        .map_err(nats)?;
    }
    let n = count(load);
    // The echo stops when the sender has all it will get.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let (url2, out2, in_stream) = (
        url.to_string(),
        outbound.clone(),
        format!("{}_IN", run.to_uppercase()),
    );
    let (ready2, echo_ready) = tokio::sync::oneshot::channel();
    let echo = on_own_thread(move || async move {
        let client = crate::bus::nats::connect(&url2).await?;
        let js = jetstream::new(client);
        let consumer: jetstream::consumer::Consumer<pull::Config> = js
            .get_stream(in_stream)
            .await
            .map_err(nats)?
            .get_or_create_consumer(
                "echo",
                pull::Config {
                    durable_name: Some("echo".into()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .await
            .map_err(nats)?;
        let mut messages = consumer.messages().await.map_err(nats)?;
        let _ = ready2.send(());
        let mut echoed = 0;
        while echoed < n {
            let m = tokio::select! {
                _ = &mut stopped => break,
                m = messages.next() => match m {
                    Some(Ok(m)) => m,
                    _ => break,
                },
            };
            js.publish(out2.clone(), m.payload.clone())
                .await
                .map_err(nats)?;
            m.ack().await.map_err(nats)?;
            echoed += 1;
        }
        // What was published last must leave before the connection closes.
        js.client().flush().await.map_err(nats)
    });
    let echo = started(echo, echo_ready).await?;
    let answers = client.subscribe(outbound).await.map_err(nats)?;
    client.flush().await.map_err(nats)?;
    let (clock, deadline, collector) = start_collecting(answers, n, echoed_number);
    let mut payload = vec![b'x'; size.max(8)];
    pace(load, &clock, &deadline, async |i| {
        payload[..8].copy_from_slice(&i.to_le_bytes());
        client
            .publish(inbound.clone(), payload.clone().into())
            .await
            .map_err(nats)
    })
    .await?;
    client.flush().await.map_err(nats)?;
    let collected = collector.await.map_err(nats)?;
    let _ = stop.send(());
    let _ = echo.join();
    for name in ["IN", "OUT"] {
        let _ = js
            .delete_stream(format!("{}_{name}", run.to_uppercase()))
            .await;
    }
    Ok(measured(n, collected))
}

/// Proposals from `mix` to the arbiter at the set rate; an answer is the first decision
/// published for the proposal.
pub async fn through_arbiter(url: &str, load: &Load, mut mix: Mix) -> Result<Measured, LoadError> {
    let client = crate::bus::nats::connect(url).await?;
    let answers = client
        .subscribe(crate::bus::DECISIONS)
        .await
        .map_err(nats)?;
    client.flush().await.map_err(nats)?;
    let n = count(load);
    let prefix = format!("{}-", mix.run());
    let (clock, deadline, collector) = start_collecting(answers, n, move |p: &[u8]| {
        #[derive(serde::Deserialize)]
        struct Answer {
            proposal_id: String,
        }
        let a: Answer = serde_json::from_slice(p).ok()?;
        a.proposal_id.strip_prefix(&prefix)?.parse().ok()
    });
    pace(load, &clock, &deadline, async |i| {
        let (subject, payload) = mix.proposal(i, chrono::Utc::now());
        client.publish(subject, payload.into()).await.map_err(nats)
    })
    .await?;
    let collected = collector.await.map_err(nats)?;
    Ok(measured(n, collected))
}

/// A run identifier unique enough that two runs never share message ids.
pub fn nuid() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:x}{:x}",
        t.as_secs(),
        t.subsec_nanos() ^ std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_that_comes_back_before_its_send_returns_is_counted() {
        let clock = Arc::new(Clock::new(1));
        let deadline = Arc::new(AtomicU64::new(u64::MAX));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let answers = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|v| (v, rx))
        }));
        let collector = tokio::spawn(collect(
            answers,
            clock.clone(),
            echoed_number,
            deadline.clone(),
        ));
        let load = Load {
            rate: 1000,
            duration: Duration::from_millis(1),
            drain: Duration::from_millis(50),
        };
        // The answer is back, and seen, while the send is still in hand.
        let send = async |i: u64| {
            tx.send(i.to_le_bytes().to_vec())
                .expect("collector listening");
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(())
        };
        pace(&load, &clock, &deadline, send).await.unwrap();
        let (latencies, _, unanswered) = collector.await.unwrap();
        assert_eq!((latencies.len(), unanswered), (1, vec![]));
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile(&v, 0.5), 500);
        assert_eq!(quantile(&v, 0.99), 990);
        assert_eq!(quantile(&v, 0.999), 999);
        assert_eq!(quantile(&v, 1.0), 1000);
        assert_eq!(quantile(&[7], 0.999), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
