//! Side-by-side commit throughput of quorate-core and raft-rs (tikv/raft),
//! each driving a 3-voter in-memory cluster of its own `RawNode`s with its
//! own in-memory storage: propose a batch of entries on the leader, deliver
//! every message synchronously until the leader has committed the batch.
//! Rounds alternate between the two so both see the same machine state.
//!
//! `cargo run --release --manifest-path bench/compare/Cargo.toml -- [seconds-per-round] [rounds]`

mod quorate_side;
mod raft_rs_side;

use std::time::{Duration, Instant};

const BATCH: usize = quorate_side::BATCH;

/// One implementation's cluster, as the benchmark sees it.
pub trait Cluster {
    /// Proposes `BATCH` entries of `payload` and runs until committed.
    fn commit_batch(&mut self, payload: &[u8]);
}

fn measure(cluster: &mut dyn Cluster, payload: &[u8], budget: Duration) -> (u64, Duration) {
    let start = Instant::now();
    let mut entries = 0u64;
    while start.elapsed() < budget {
        cluster.commit_batch(payload);
        entries += BATCH as u64;
    }
    (entries, start.elapsed())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let budget = Duration::from_secs_f64(seconds);
    println!("| entry | quorate-core entries/s | raft-rs entries/s (propose each) | ratio | raft-rs entries/s (one MsgPropose) | ratio |");
    println!("|---|---|---|---|---|---|");
    for size in [64usize, 1024] {
        let payload = vec![7u8; size];
        let mut quorate = quorate_side::QuorateCluster::new(3);
        let mut raft = raft_rs_side::RaftRsCluster::new(false);
        let mut raft_batched = raft_rs_side::RaftRsCluster::new(true);
        let mut totals = [(0u64, Duration::ZERO); 3];
        for _ in 0..rounds {
            let clusters: [&mut dyn Cluster; 3] = [&mut quorate, &mut raft, &mut raft_batched];
            for (total, cluster) in totals.iter_mut().zip(clusters) {
                let (entries, time) = measure(cluster, &payload, budget);
                total.0 += entries;
                total.1 += time;
            }
        }
        let rate = |(entries, time): (u64, Duration)| entries as f64 / time.as_secs_f64();
        let (q, r, rb) = (rate(totals[0]), rate(totals[1]), rate(totals[2]));
        println!(
            "| {size} B | {:.2} M | {:.2} M | {:.2}× | {:.2} M | {:.2}× |",
            q / 1e6,
            r / 1e6,
            q / r,
            rb / 1e6,
            q / rb
        );
    }
}
