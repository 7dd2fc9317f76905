//! A three-node NATS cluster (routes, JetStream, each node its own store, free loopback
//! ports) and `arbiter serve --replica` processes on it, for the tests of replication.

use super::service::{nats_server_binary, Running};
use super::{repo, SHOP};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Cluster {
    pub dir: PathBuf,
    ports: Vec<u16>,
    /// The nodes, in order; a killed one is `None` until started again.
    nodes: Vec<Option<Child>>,
}

impl Cluster {
    /// Starts three nodes and waits until JetStream answers on the cluster.
    pub async fn start(name: &str) -> Cluster {
        let dir =
            std::env::temp_dir().join(format!("arbiter-cluster-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let all_routes = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(", ");
        for (i, (port, route)) in ports.iter().zip(&routes).enumerate() {
            let store = dir.join(format!("js{i}"));
            std::fs::create_dir_all(&store).unwrap();
            std::fs::write(
                dir.join(format!("n{i}.conf")),
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{port}\n\
                     jetstream {{ store_dir: \"{}\" }}\n\
                     cluster {{ name: arbiter-test, listen: 127.0.0.1:{route}, routes: [{all_routes}] }}\n",
                    store.display()
                ),
            )
            .unwrap();
        }
        let mut cluster = Cluster {
            dir,
            ports,
            nodes: vec![None, None, None],
        };
        for i in 0..3 {
            cluster.start_node(i);
        }
        cluster.wait_for_jetstream().await;
        cluster
    }

    /// Every node's URL, comma-separated, as `--nats` takes them.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn node_url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.ports[i])
    }

    pub fn start_node(&mut self, i: usize) {
        let child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(self.dir.join(format!("n{i}.conf")))
            .stdout(Stdio::null())
            // Kept (appended across restarts of the node): a cluster that never elects its
            // JetStream leader says why here.
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join(format!("n{i}.log")))
                    .unwrap(),
            )
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.ports[i])).is_err() {
            assert!(Instant::now() < deadline, "node {i} did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.nodes[i] = Some(child);
    }

    /// Kills node `i` with SIGKILL, as a crash would.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Waits until the cluster has elected its JetStream leader and takes a replicated
    /// stream.
    async fn wait_for_jetstream(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = async_nats::connect(self.node_url(0)).await.unwrap();
        let js = async_nats::jetstream::new(client);
        loop {
            let made = js
                .create_stream(async_nats::jetstream::stream::Config {
                    name: "READY".into(),
                    subjects: vec!["ready.probe".into()],
                    num_replicas: 3,
                    ..Default::default()
                })
                .await;
            if made.is_ok() {
                let _ = js.delete_stream("READY").await;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster's JetStream never became ready: {:?}; the nodes' logs are in {}",
                made.err(),
                self.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.nodes.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One `arbiter serve --replica` process.
pub struct Replica {
    pub name: String,
    /// host:port of its HTTP API.
    pub http: String,
    pub trail: PathBuf,
    pub proc: Running,
    /// Its standard error, where it logs.
    pub log: PathBuf,
}

/// How long the tests' leases last: short, so a take-over is quick to wait for.
pub const LEASE_MS: u64 = 2_000;

impl Replica {
    /// Starts replica `name` with its own trail under the cluster's directory, and waits
    /// for its first line (`ready` as the leader, `standby` otherwise).
    pub fn start(cluster: &Cluster, name: &str, intents: &std::path::Path) -> (Replica, String) {
        Replica::start_in(cluster, name, intents, &cluster.dir.join(name))
    }

    /// [`Replica::start`] with its trail and log in `home`.
    pub fn start_in(
        cluster: &Cluster,
        name: &str,
        intents: &std::path::Path,
        home: &std::path::Path,
    ) -> (Replica, String) {
        Replica::start_with(cluster, name, intents, home, &[])
    }

    /// [`Replica::start_in`] with more arguments to `arbiter serve` (served the retail shop
    /// unless they name a `--graph`).
    pub fn start_with(
        cluster: &Cluster,
        name: &str,
        intents: &std::path::Path,
        home: &std::path::Path,
        more: &[&str],
    ) -> (Replica, String) {
        std::fs::create_dir_all(home).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = cluster.dir.join(format!("{name}.stderr.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .current_dir(repo(""))
            .args(["serve", "--replica", name, "--nats", &cluster.url()])
            .args(["--lease-ms", &LEASE_MS.to_string()])
            // Small segments: replicas seal, index and checkpoint as they follow, several
            // times a run, and a restart reads at most a couple of megabytes of the trail.
            .args(["--audit-segment-mb", "2"])
            .args(if more.contains(&"--graph") {
                &[][..]
            } else {
                &SHOP[..]
            })
            .arg("--intents")
            .arg(intents)
            .arg("--audit")
            .arg(home.join("audit.jsonl"))
            .args(["--http", &addr])
            .args(more)
            .stdout(Stdio::piped())
            // Appended: a replica started again keeps the log of its earlier lives.
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .expect("arbiter serve starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(
            first.starts_with("ready") || first.starts_with("standby"),
            "replica {name} said: {first:?}"
        );
        // The rest is read as it comes, so the pipe never fills.
        std::thread::spawn(move || for _ in out.lines() {});
        let replica = Replica {
            name: name.to_string(),
            http: addr,
            trail: home.join("audit.jsonl"),
            proc: Running(vec![child]),
            log,
        };
        (replica, first)
    }

    /// `leader` or `standby`, as its API says; `None` while it does not answer.
    /// (A replica that steps down starts again in place: a request may meet the restart.)
    pub fn role(&self) -> Option<String> {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(&self.http).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            conn,
            "GET /api/replica HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        )
        .ok()?;
        let mut response = String::new();
        conn.read_to_string(&mut response).ok()?;
        let body = response.split("\r\n\r\n").nth(1)?;
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v["role"].as_str().map(str::to_string)
    }

    /// Waits until its API says it holds `role`; returns how long that took.
    pub async fn until_role(&self, role: &str, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.role().as_deref() == Some(role) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "replica {} is not {role} after {within:?} (it is {:?}); its log:\n{}",
                self.name,
                self.role(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.0[0].id()
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let c = &mut self.proc.0[0];
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// Whether the process has not exited yet.
    pub fn running(&mut self) -> bool {
        matches!(self.proc.0[0].try_wait(), Ok(None))
    }

    pub fn signal(&self, sig: &str) {
        let sent = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}
