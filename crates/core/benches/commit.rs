//! Committed entries per second through an in-memory cluster of real
//! `RawNode`s: messages are delivered synchronously and storage is a
//! `MemStore`, so this measures the protocol's own cost (no I/O).
//!
//! Each iteration proposes a batch of entries on the leader and delivers
//! messages until the leader has committed them all. A single-voter group
//! runs in the same process as the baseline, so the report can state the
//! cost of replication as a ratio measured side by side.

#[path = "support/mem_cluster.rs"]
mod mem_cluster;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mem_cluster::{MemCluster, BATCH};

fn commit_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in [64usize, 1024] {
        let payload = Bytes::from(vec![7u8; size]);
        for voters in [1u64, 3] {
            let mut cluster = MemCluster::new(voters);
            let id = BenchmarkId::new(format!("{voters}-voter"), format!("{size}B"));
            group.bench_function(id, |b| b.iter(|| cluster.commit_batch(&payload)));
        }
    }
    group.finish();
}

criterion_group!(benches, commit_throughput);
criterion_main!(benches);
