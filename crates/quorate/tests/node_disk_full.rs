//! A full disk isolates its node and costs nothing else: the node stops
//! acknowledging (it cannot persist), the other two keep the cluster
//! writing, and the node resumes by itself once space is freed — no abort,
//! no restart. The node's data directory is a small tmpfs, so this needs
//! the right to mount one (root on Linux, as in CI).

mod node_support;

use node_support::{add, eventually, id, Cluster, Counter, G1, WAIT};
use quorate::{Consistency, Node, NodeConfig, NodeId};
use std::io::Write;
use std::path::Path;
use std::process::Command;

const SEGMENT_BYTES: u64 = 1 << 20;
const ENTRY_BYTES: usize = 64 << 10;

fn small_segments(config: &mut NodeConfig) {
    config.wal_segment_bytes = SEGMENT_BYTES;
    config.raft.proposal_bytes_max = SEGMENT_BYTES / 4;
}

/// Mounts a tmpfs of `bytes` at `dir`; false where that is not allowed.
fn mount_tmpfs(dir: &Path, bytes: u64) -> bool {
    std::fs::create_dir_all(dir).expect("mount point");
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|status| status.success())
}

/// Fills the file system holding `path` until a write fails.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler");
    let chunk = vec![0xa5u8; 64 << 10];
    while file.write_all(&chunk).is_ok() {}
}

/// A command for the test counter (it adds the first 8 bytes) padded to
/// `ENTRY_BYTES`, so a few entries fill a WAL segment.
fn padded_one() -> Vec<u8> {
    let mut command = add(1).to_vec();
    command.resize(ENTRY_BYTES, 0);
    command
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_isolates_its_node_and_the_cluster_keeps_writing() {
    let mut cluster = Cluster::new(small_segments);
    let full = id(3);
    let full_dir = cluster.dir(full);
    if !mount_tmpfs(&full_dir, 8 * SEGMENT_BYTES) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to mount a tmpfs"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let _unmount = Unmount(&full_dir);
    let voters: Vec<NodeId> = (1..=3).map(id).collect();
    for &node in &voters {
        cluster.start_node(node).await;
        let group = cluster.nodes[&node]
            .create_group(G1, voters.clone(), Counter::default())
            .await
            .expect("group bootstraps");
        cluster.groups.insert((node, G1), group);
    }
    let mut leader = cluster.leader(G1).await;
    if leader == full {
        cluster
            .group(full, G1)
            .transfer_leadership(id(1))
            .await
            .expect("transfer");
        leader = cluster.leader(G1).await;
    }
    assert_ne!(leader, full);
    fill(&full_dir.join("filler"));

    for _ in 0..(4 * SEGMENT_BYTES as usize / ENTRY_BYTES) {
        cluster
            .group(leader, G1)
            .propose(padded_one())
            .await
            .expect("the majority writes");
    }
    let node: &Node = &cluster.nodes[&full];
    eventually("the full node notices", || async { node.disk_full() }).await;
    let written = cluster.group(leader, G1).applied_index();
    assert!(
        cluster.group(full, G1).applied_index() < written,
        "the full node did not acknowledge what it could not persist"
    );
    let total = cluster
        .group(leader, G1)
        .propose(add(1))
        .await
        .expect("still writing");

    std::fs::remove_file(full_dir.join("filler")).expect("free space");
    eventually("the node resumes by itself", || async { !node.disk_full() }).await;
    let commit = cluster.group(leader, G1).applied_index();
    cluster
        .group(full, G1)
        .wait_applied(commit, WAIT)
        .await
        .expect("the node catches up");
    let state = cluster
        .group(full, G1)
        .read(Consistency::Stale, |counter| counter.total)
        .await
        .expect("local read");
    assert_eq!(state, total);
    cluster.shutdown().await;
}
