//! A throwaway cluster of `quorate serve` child processes on loopback, for
//! the demo and the benchmark.
//!
//! Every node is this same binary (`std::env::current_exe()`) started with
//! `serve` and explicit flags, in its own data directory under one
//! temporary directory. The cluster owns its children: dropping it (also
//! while unwinding from a panic) kills every one with SIGKILL and waits for
//! it, and on Linux each child also asks the kernel for SIGKILL when its
//! parent dies, so even a killed demo leaves no orphan servers behind.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Voters in a demo or benchmark cluster: the smallest that survives the
/// loss of one member.
pub const CLUSTER_SIZE: usize = 3;

/// Cluster id the children share, so they refuse peers of any other
/// cluster that happens to reuse a port.
const CLUSTER_ID: &str = "quorate-demo";

/// Bytes of a node's log shown when it fails to start.
const LOG_TAIL_BYTES: usize = 2048;

/// Why the local cluster could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot create a temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("cannot find a free loopback port: {0}")]
    Port(#[source] std::io::Error),
    #[error("port {port} (from --base-port) cannot be used: {source}; pick another --base-port")]
    PortTaken {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("--base-port {base} leaves no room for {count} ports below 65536")]
    PortRange { base: u16, count: usize },
    #[error("cannot find this program's path to start the servers: {0}")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot start node {node_id}: {source}")]
    Spawn {
        node_id: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("node {node_id} exited ({status}); the end of its log:\n{log_tail}")]
    Exited {
        node_id: u64,
        status: String,
        log_tail: String,
    },
    #[error("there is no node {node_id}")]
    UnknownNode { node_id: u64 },
}

/// Timing flags handed to every node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeTimings {
    pub election_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
}

impl Default for NodeTimings {
    fn default() -> NodeTimings {
        NodeTimings {
            election_timeout_ms: quorate_kv::config::ELECTION_TIMEOUT_MS_DEFAULT,
            heartbeat_interval_ms: quorate_kv::config::HEARTBEAT_INTERVAL_MS_DEFAULT,
        }
    }
}

/// One member: its addresses, directory and (while running) process.
#[derive(Debug)]
pub struct LocalNode {
    pub node_id: u64,
    pub listen_peer: SocketAddr,
    pub listen_client: SocketAddr,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    child: Option<Child>,
}

impl LocalNode {
    /// The node's client API base URL, e.g. `http://127.0.0.1:40001`.
    pub fn client_url(&self) -> String {
        format!("http://{}", self.listen_client)
    }

    /// Whether the process was started and has not been killed by us.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// The cluster and the temporary directory that holds its data.
#[derive(Debug)]
pub struct LocalCluster {
    nodes: Vec<LocalNode>,
    initial_cluster: String,
    timings: NodeTimings,
    program: PathBuf,
    /// Removed on drop, after the children are dead.
    root: tempfile::TempDir,
}

impl LocalCluster {
    /// Picks ports and directories for `CLUSTER_SIZE` nodes and starts them
    /// all. Returns once every process is spawned, not once it serves;
    /// poll the client API for that.
    pub fn start(timings: NodeTimings) -> Result<LocalCluster, ClusterError> {
        LocalCluster::start_at(timings, None)
    }

    /// Like [`LocalCluster::start`]; with `base_port`, node N listens for
    /// peers on `base_port + 2(N-1)` and for clients on the port after.
    pub fn start_at(
        timings: NodeTimings,
        base_port: Option<u16>,
    ) -> Result<LocalCluster, ClusterError> {
        let root = tempfile::Builder::new()
            .prefix("quorate-demo-")
            .tempdir()
            .map_err(ClusterError::TempDir)?;
        let program = std::env::current_exe().map_err(ClusterError::CurrentExe)?;
        let ports = match base_port {
            Some(base) => fixed_ports(base, CLUSTER_SIZE * 2)?,
            None => free_ports(CLUSTER_SIZE * 2)?,
        };
        let nodes: Vec<LocalNode> = (0..CLUSTER_SIZE)
            .map(|index| {
                let node_id = index as u64 + 1;
                LocalNode {
                    node_id,
                    listen_peer: ports[index * 2],
                    listen_client: ports[index * 2 + 1],
                    data_dir: root.path().join(format!("node-{node_id}")),
                    log_path: root.path().join(format!("node-{node_id}.log")),
                    child: None,
                }
            })
            .collect();
        let initial_cluster = nodes
            .iter()
            .map(|node| format!("{}={}", node.node_id, node.listen_peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = LocalCluster {
            nodes,
            initial_cluster,
            timings,
            program,
            root,
        };
        for index in 0..cluster.nodes.len() {
            cluster.spawn(index)?;
        }
        Ok(cluster)
    }

    pub fn nodes(&self) -> &[LocalNode] {
        &self.nodes
    }

    /// The temporary directory holding data directories and logs.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Every node's client URL, in node id order.
    pub fn client_urls(&self) -> Vec<String> {
        self.nodes.iter().map(LocalNode::client_url).collect()
    }

    pub fn node(&self, node_id: u64) -> Result<&LocalNode, ClusterError> {
        self.nodes
            .iter()
            .find(|node| node.node_id == node_id)
            .ok_or(ClusterError::UnknownNode { node_id })
    }

    /// Kills node `node_id` with SIGKILL (no clean shutdown, like a power
    /// cut) and waits for it to be gone, so its ports are free again.
    pub fn kill(&mut self, node_id: u64) -> Result<(), ClusterError> {
        let index = self.index(node_id)?;
        if let Some(mut child) = self.nodes[index].child.take() {
            // Kill fails only when the child already exited; wait reaps it
            // either way.
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// Starts node `node_id` again with the same flags and data directory.
    pub fn restart(&mut self, node_id: u64) -> Result<(), ClusterError> {
        let index = self.index(node_id)?;
        self.kill(node_id)?;
        self.spawn(index)
    }

    /// Fails with the node's log tail if any node we started has exited.
    pub fn check_alive(&mut self) -> Result<(), ClusterError> {
        for node in &mut self.nodes {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                node.child = None;
                return Err(ClusterError::Exited {
                    node_id: node.node_id,
                    status: status.to_string(),
                    log_tail: log_tail(&node.log_path),
                });
            }
        }
        Ok(())
    }

    fn index(&self, node_id: u64) -> Result<usize, ClusterError> {
        self.nodes
            .iter()
            .position(|node| node.node_id == node_id)
            .ok_or(ClusterError::UnknownNode { node_id })
    }

    fn spawn(&mut self, index: usize) -> Result<(), ClusterError> {
        let node = &self.nodes[index];
        let node_id = node.node_id;
        let spawn_error = |source| ClusterError::Spawn { node_id, source };
        let log = File::options()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .map_err(spawn_error)?;
        let log_err = log.try_clone().map_err(spawn_error)?;
        let mut command = Command::new(&self.program);
        command
            .arg("serve")
            .arg(format!("--node-id={node_id}"))
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg(format!("--listen-peer={}", node.listen_peer))
            .arg(format!("--listen-client={}", node.listen_client))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg(format!("--cluster-id={CLUSTER_ID}"))
            .arg(format!(
                "--election-timeout-ms={}",
                self.timings.election_timeout_ms
            ))
            .arg(format!(
                "--heartbeat-interval-ms={}",
                self.timings.heartbeat_interval_ms
            ))
            .env_remove("QUORATE_CONFIG")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        die_with_parent(&mut command);
        let child = command.spawn().map_err(spawn_error)?;
        self.nodes[index].child = Some(child);
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Asks Linux to SIGKILL the child when the thread that spawned it dies,
/// so a demo killed by SIGKILL cannot leave servers running. Callers spawn
/// from the main thread, which lives as long as the process.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only
    // makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// `count` distinct loopback addresses whose ports were free a moment ago:
/// each is bound to port 0 and released only after all are chosen, so the
/// kernel cannot hand out one port twice.
pub fn free_ports(count: usize) -> Result<Vec<SocketAddr>, ClusterError> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ClusterError::Port)?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map_err(ClusterError::Port))
        .collect()
}

/// `count` consecutive loopback addresses from `base`, each checked free
/// now, so a taken port fails before any node starts.
pub fn fixed_ports(base: u16, count: usize) -> Result<Vec<SocketAddr>, ClusterError> {
    let range = ClusterError::PortRange { base, count };
    let count_u16 = u16::try_from(count).map_err(|_| range)?;
    if base == 0 || base.checked_add(count_u16).is_none() {
        return Err(ClusterError::PortRange { base, count });
    }
    (base..base + count_u16)
        .map(|port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            TcpListener::bind(addr)
                .map(|_| addr)
                .map_err(|source| ClusterError::PortTaken { port, source })
        })
        .collect()
}

/// The last `LOG_TAIL_BYTES` of a node's log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let mut text = Vec::new();
    if File::open(path)
        .and_then(|mut file| file.read_to_end(&mut text))
        .is_err()
    {
        return format!("(cannot read {})", path.display());
    }
    let start = text.len().saturating_sub(LOG_TAIL_BYTES);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_loopback_ports() {
        let ports = free_ports(6).expect("ports");
        let mut numbers: Vec<u16> = ports.iter().map(SocketAddr::port).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), 6);
        assert!(ports.iter().all(|addr| addr.ip().is_loopback()));
    }

    #[test]
    fn fixed_ports_are_consecutive_and_checked() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        assert!(matches!(
            fixed_ports(port, 1),
            Err(ClusterError::PortTaken { port: p, .. }) if p == port
        ));
        assert!(matches!(
            fixed_ports(65_534, 6),
            Err(ClusterError::PortRange { .. })
        ));
        drop(taken);
        let ports = fixed_ports(port, 1).expect("free again");
        assert_eq!(ports[0].port(), port);
    }

    #[test]
    fn log_tail_keeps_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let text = format!("{}END", "x".repeat(LOG_TAIL_BYTES));
        std::fs::write(&path, text).expect("write");
        let tail = log_tail(&path);
        assert_eq!(tail.len(), LOG_TAIL_BYTES);
        assert!(tail.ends_with("END"));
        assert!(log_tail(&dir.path().join("missing")).starts_with("(cannot read"));
    }
}
