//! A real nats-server and `arbiter serve` for the tests that need the service: the server is
//! started on a free loopback port with its own JetStream directory (installed by
//! scripts/ensure-nats-server.sh when missing), and both are killed when the test ends.

use super::{repo, SHOP};
use futures_util::StreamExt;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Installed once per test run (the script itself also takes a lock).
pub fn nats_server_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| PathBuf::from(&super::ensure("ensure-nats-server.sh")[0]))
        .clone()
}

/// Children killed when the test ends, however it ends.
pub struct Running(pub Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct Harness {
    pub url: String,
    pub port: u16,
    pub dir: PathBuf,
    pub procs: Running,
    /// Index of the nats-server in `procs`.
    pub server: usize,
    /// host:port of the arbiter's HTTP API.
    pub http: String,
}

pub fn start_server(port: u16, store: &std::path::Path, config: Option<&std::path::Path>) -> Child {
    let mut cmd = Command::new(nats_server_binary());
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store);
    if let Some(c) = config {
        cmd.arg("-c").arg(c);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    // Ready when it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server did not come up on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Harness {
    pub fn start(name: &str) -> Harness {
        Harness::start_with(name, None)
    }

    /// A server with its own store, and a configuration file if given.
    pub fn start_with(name: &str, config: Option<&str>) -> Harness {
        let dir = std::env::temp_dir().join(format!("arbiter-nats-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("js")).unwrap();
        let config_path = config.map(|text| {
            let p = dir.join("server.conf");
            std::fs::write(&p, text).unwrap();
            p
        });
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = start_server(port, &dir.join("js"), config_path.as_deref());
        Harness {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            dir,
            procs: Running(vec![server]),
            server: 0,
            http: String::new(),
        }
    }

    /// Kills the server and starts it again on the same port with the same store.
    pub fn restart_server(&mut self) {
        self.kill_server();
        self.start_server_again();
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it.
    pub fn kill_server(&mut self) {
        let old = &mut self.procs.0[self.server];
        old.kill().unwrap();
        old.wait().unwrap();
    }

    /// Starts the server killed by [`Harness::kill_server`] on its port, store and
    /// configuration.
    pub fn start_server_again(&mut self) {
        let conf = self.dir.join("server.conf");
        let conf = conf.exists().then_some(conf);
        self.procs.0[self.server] = start_server(self.port, &self.dir.join("js"), conf.as_deref());
    }

    /// The audit trail's story of one proposal.
    pub fn story(&self, proposal_id: &str) -> String {
        arbiter::audit::narrative(&self.dir.join("audit.jsonl"), proposal_id)
            .unwrap()
            .unwrap_or_else(|| panic!("no record of {proposal_id}"))
    }

    /// Kills the arbiter started last with SIGKILL, as a crash would, and waits for it.
    pub fn kill_arbiter(&mut self) {
        let mut arbiter = self.procs.0.pop().expect("an arbiter was started");
        arbiter.kill().unwrap();
        arbiter.wait().unwrap();
    }

    /// Starts `arbiter serve` and waits for its ready line.
    pub fn arbiter(&mut self) {
        let url = self.url.clone();
        self.arbiter_at(&url);
    }

    pub fn arbiter_at(&mut self, url: &str) {
        let intents = self.intents();
        self.arbiter_with(url, &intents);
    }

    /// The shipped intents without the dated one (Black Friday): the service decides by the
    /// intent in force at the real time, and a test's verdicts must not depend on the day it
    /// runs. Copied once into the test's directory, where a test may also edit them (and a
    /// restarted arbiter finds the edits).
    pub fn intents(&self) -> PathBuf {
        undated_intents(&self.dir)
    }

    pub fn arbiter_with(&mut self, url: &str, intents: &std::path::Path) {
        self.arbiter_args(url, intents, &[]);
    }

    pub fn arbiter_args(&mut self, url: &str, intents: &std::path::Path, extra: &[&str]) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .current_dir(repo(""))
            .args(["serve", "--nats", url])
            .args(SHOP)
            .arg("--intents")
            .arg(intents)
            .args(["--http", "127.0.0.1:0"])
            // The test's own trail, unless the test names another.
            .args(
                (!extra.contains(&"--audit"))
                    .then(|| {
                        [
                            "--audit".into(),
                            self.dir.join("audit.jsonl").into_os_string(),
                        ]
                    })
                    .into_iter()
                    .flatten(),
            )
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("arbiter serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("ready"), "arbiter serve said: {line:?}");
        self.http = line
            .split("http://")
            .nth(1)
            .map(|a| a.trim().to_string())
            .unwrap_or_default();
        self.procs.0.push(child);
    }
}

/// The shipped intents without the dated one, copied once into `under/intents` (see
/// [`Harness::intents`]).
pub fn undated_intents(under: &std::path::Path) -> PathBuf {
    let dir = under.join("intents");
    if !dir.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["agents.toml", "approvers.toml", "baseline.toml"] {
            std::fs::copy(repo("intents").join(f), dir.join(f)).unwrap();
        }
    }
    dir
}

pub fn proposal(id: &str, agent: &str, domain: &str, action: serde_json::Value) -> Vec<u8> {
    let now = chrono::Utc::now();
    serde_json::json!({
        "v": 1, "id": id, "agent": agent, "domain": domain, "action": action,
        "confidence": 0.9, "reversible": true, "rationale": "test",
        "created_at": now.to_rfc3339(), "expires_at": (now + chrono::Duration::minutes(5)).to_rfc3339(),
    })
    .to_string()
    .into_bytes()
}

/// The cost agent's scale-down of emailservice with confidence 0.5: the arbiter would approve
/// it, but the confidence is too low to act alone, so it waits for a person.
#[allow(dead_code)]
pub fn unsure(id: &str) -> String {
    let mut p: serde_json::Value = serde_json::from_slice(&proposal(
        id,
        "cost-optimizer-1",
        "cost",
        serde_json::json!({"kind": "scale", "service": "emailservice", "replicas": -1}),
    ))
    .unwrap();
    p["confidence"] = serde_json::json!(0.5);
    p.to_string()
}

/// A plain HTTP/1.1 request; returns status and body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// What the API shows of the service's state — figures, agents' records, kill switches,
/// escalations waiting, the latest decisions — without what belongs to one process or one
/// second (`audit_completeness`, `seconds_left`, the feed's own numbering). Two processes that
/// folded the same trail show the same: a restarted one what it showed before, a standby what
/// its leader shows.
#[allow(dead_code)]
pub fn api_state(addr: &str) -> serde_json::Value {
    let get = |path: &str| {
        let (status, body) = http(addr, "GET", path, Some("sre-oncall-token"), "");
        assert_eq!(status, 200, "GET {path} on {addr}: {body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let mut summary = get("/api/summary");
    summary
        .as_object_mut()
        .unwrap()
        .remove("audit_completeness");
    let mut escalations = get("/api/escalations?limit=1000");
    for e in escalations.as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("seconds_left");
    }
    let mut decisions = get("/api/decisions?limit=200");
    let entries = decisions["entries"]
        .as_array_mut()
        .expect("a page of decisions");
    for d in entries.iter_mut() {
        d.as_object_mut().unwrap().remove("seq");
    }
    serde_json::json!({
        "summary": summary,
        "agents": get("/api/agents"),
        "control": get("/api/control"),
        "escalations": escalations,
        "decisions": decisions["entries"],
        "matching": decisions["matching"],
    })
}

/// Connects as the cost agent would: a client, its JetStream context, and a subscription to
/// its decisions, flushed so nothing published afterwards is missed.
pub async fn cost_agent(
    url: &str,
) -> (
    async_nats::Client,
    async_nats::jetstream::Context,
    async_nats::Subscriber,
) {
    agent_at(url, "arbiter.decisions.cost.cost-optimizer-1").await
}

/// Connects as an agent whose decisions come on `decisions`: a client, its JetStream
/// context, and that subscription, flushed so nothing published afterwards is missed.
pub async fn agent_at(
    url: &str,
    decisions: &str,
) -> (
    async_nats::Client,
    async_nats::jetstream::Context,
    async_nats::Subscriber,
) {
    let js = jetstream_at(url).await;
    let client = js.client();
    let sub = subscribed(&client, decisions).await;
    (client, js, sub)
}

/// A JetStream context on its own connection to the server at `url`.
pub async fn jetstream_at(url: &str) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(async_nats::connect(url).await.unwrap())
}

/// A subscription in place on the server before anything else is published.
pub async fn subscribed(client: &async_nats::Client, subject: &str) -> async_nats::Subscriber {
    let sub = client.subscribe(subject.to_string()).await.unwrap();
    client.flush().await.unwrap();
    sub
}

/// Publishes on a subject a stream captures and waits until the stream has stored it.
pub async fn store(
    js: &async_nats::jetstream::Context,
    subject: &str,
    payload: impl Into<Vec<u8>>,
) {
    js.publish(subject.to_string(), payload.into().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// The next message on a subscription, as JSON; `what` names it in a failure.
pub async fn next_json(sub: &mut async_nats::Subscriber, what: &str) -> serde_json::Value {
    let m = tokio::time::timeout(Duration::from_secs(15), sub.next())
        .await
        .unwrap_or_else(|_| panic!("{what} arrives in time"))
        .expect("subscription open");
    serde_json::from_slice(&m.payload).unwrap_or_else(|e| panic!("{what} is JSON: {e}"))
}

pub async fn next_decision(sub: &mut async_nats::Subscriber) -> serde_json::Value {
    next_json(sub, "a decision").await
}

/// Publishes one telemetry observation of `service` on core NATS and flushes it.
pub async fn observe(client: &async_nats::Client, service: &str, observation: serde_json::Value) {
    client
        .publish(
            format!("arbiter.telemetry.{service}"),
            observation.to_string().into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();
}

/// The reason codes of a decision, in order.
pub fn reason_codes(d: &serde_json::Value) -> Vec<&str> {
    d["reasons"]
        .as_array()
        .map(|rs| rs.iter().filter_map(|r| r["code"].as_str()).collect())
        .unwrap_or_default()
}
