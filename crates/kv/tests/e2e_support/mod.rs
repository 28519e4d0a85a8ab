//! End-to-end harness: real `quorate serve` processes on loopback, driven
//! over HTTP/1.1 with a tiny blocking client that never follows redirects
//! (the tests check them).
//!
//! Every wait polls an endpoint until a deadline; nothing sleeps for a
//! fixed time hoping a condition holds. Processes are killed when their
//! [`Server`] guard drops, so a failing test leaves nothing behind.

// The harness runs real processes on the wall clock.
#![allow(clippy::disallowed_methods, dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for any condition (elections, catch-up, start-up).
pub const WAIT: Duration = Duration::from_secs(20);
/// Pause between two polls of a condition.
pub const POLL: Duration = Duration::from_millis(25);

/// A free loopback port: bound, read, released.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds port 0");
    listener.local_addr().expect("local addr").port()
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to `base` (`http://host:port`); `None` when the
/// connection fails.
pub fn try_http(
    method: &str,
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(WAIT)).ok()?;
    exchange(&mut stream, method, host, path, headers, body)
}

/// Writes one request on `stream` (`Connection: close`) and reads the
/// whole answer.
pub fn exchange(
    stream: &mut (impl Read + Write),
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify after a whole answer.
    if stream.read_to_end(&mut raw).is_err() && raw.is_empty() {
        return None;
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

pub fn http(method: &str, base: &str, path: &str, body: &[u8]) -> Reply {
    try_http(method, base, path, &[], body)
        .unwrap_or_else(|| panic!("{method} {base}{path}: no answer"))
}

/// Sends until the answer is not 503 (refused before it was proposed, so
/// resending is safe), as a client honouring Retry-After would.
pub fn http_until_accepted(method: &str, base: &str, path: &str, body: &[u8]) -> Reply {
    wait_for(&format!("{method} {path} to be accepted"), || {
        let reply = try_http(method, base, path, &[], body)?;
        (reply.status != 503).then_some(reply)
    })
}

/// Polls `check` until it returns `Some`, or panics naming `what`.
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::park_timeout(POLL);
    }
}

/// The `quorate` binary under test.
pub fn quorate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quorate"))
}

/// Runs `quorate` to completion; returns (success, stderr).
pub fn run_to_end(args: &[&str]) -> (bool, String) {
    let output = quorate()
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs quorate");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running `quorate serve`; killed on drop.
pub struct Server {
    pub id: u64,
    pub client_url: String,
    pub peer_addr: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts `quorate serve` with `extra` flags after the common ones.
    pub fn start(id: u64, root: &Path, peer_port: u16, client_port: u16, extra: &[&str]) -> Server {
        let data_dir = root.join(format!("node-{id}"));
        let log = root.join(format!("node-{id}.log"));
        let peer_addr = format!("127.0.0.1:{peer_port}");
        let client_addr = format!("127.0.0.1:{client_port}");
        let mut server = Server {
            id,
            client_url: format!("http://{client_addr}"),
            peer_addr,
            data_dir,
            log,
            child: None,
        };
        server.spawn(&client_addr, extra);
        server
    }

    fn spawn(&mut self, client_addr: &str, extra: &[&str]) {
        let log = std::fs::File::create(&self.log).expect("log file");
        let child = quorate()
            .args(["serve", "--node-id", &self.id.to_string()])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen-peer", &self.peer_addr])
            .args(["--listen-client", client_addr])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawns quorate serve");
        self.child = Some(child);
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit; true when it exited with 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with a pid this guard spawned and has not reaped.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM not delivered");
        child.wait().is_ok_and(|status| status.success())
    }

    /// Starts the process again on the same ports and data directory.
    pub fn restart(&mut self, extra: &[&str]) {
        self.kill();
        let client_addr = self.client_url.trim_start_matches("http://").to_owned();
        self.spawn(&client_addr, extra);
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_ready(&self) -> bool {
        try_http("GET", &self.client_url, "/ready", &[], b"").is_some_and(|r| r.status == 200)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster of `quorate serve` processes in one temporary directory.
pub struct Cluster {
    pub root: tempfile::TempDir,
    pub nodes: BTreeMap<u64, Server>,
}

impl Cluster {
    /// Starts voters `1..=size` from one `--initial-cluster` and waits
    /// until every one is ready.
    pub fn start(size: u64) -> Cluster {
        Cluster::start_with(size, &|_| Vec::new())
    }

    /// Like [`Cluster::start`], with extra flags for each node.
    pub fn start_with(size: u64, flags: &dyn Fn(u64) -> Vec<String>) -> Cluster {
        let root = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u64, u16, u16)> = (1..=size)
            .map(|id| (id, free_port(), free_port()))
            .collect();
        let initial = ports
            .iter()
            .map(|(id, peer, _)| format!("{id}=127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = ports
            .iter()
            .map(|&(id, peer, client)| {
                let mut extra = vec!["--initial-cluster".to_owned(), initial.clone()];
                extra.extend(flags(id));
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                (id, Server::start(id, root.path(), peer, client, &extra))
            })
            .collect();
        let cluster = Cluster { root, nodes };
        cluster.wait_ready();
        cluster
    }

    pub fn wait_ready(&self) {
        for server in self.nodes.values() {
            wait_for(&format!("node {} ready", server.id), || {
                server.is_ready().then_some(())
            });
        }
    }

    pub fn url(&self, id: u64) -> &str {
        &self.nodes[&id].client_url
    }

    /// The leader every running node agrees on, once they do.
    pub fn leader(&self) -> u64 {
        wait_for("an agreed leader with its client URL", || {
            let running = self.nodes.values().filter(|s| s.child.is_some());
            let mut leaders = running.map(|server| {
                let status = try_http("GET", &server.client_url, "/v1/cluster", &[], b"")?;
                let status = status.json();
                let leader = status["leader_id"].as_u64()?;
                let known = status["members"]
                    .as_array()?
                    .iter()
                    .any(|m| m["id"] == leader && m["client_url"].is_string());
                known.then_some(leader)
            });
            let first = leaders.next()??;
            leaders.all(|other| other == Some(first)).then_some(first)
        })
    }

    /// A running node other than `leader`.
    pub fn follower(&self, leader: u64) -> u64 {
        *self
            .nodes
            .iter()
            .find(|(&id, server)| id != leader && server.child.is_some())
            .expect("a follower")
            .0
    }
}
