//! Committed entries per second through an in-memory cluster of real
//! `RawNode`s: messages are delivered synchronously and storage is a
//! `MemStore`, so this measures the protocol's own cost (no I/O).
//!
//! Each iteration proposes a batch of entries on the leader and delivers
//! messages until the leader has committed them all. A single-voter group
//! runs in the same process as the baseline, so the report can state the
//! cost of replication as a ratio measured side by side.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use quorate_core::{
    ConfState, Config, EntryId, HardState, Index, MemStore, Message, NodeId, RawNode, SnapshotMeta,
};
use std::collections::VecDeque;

const BATCH: usize = 64;

struct Cluster {
    nodes: Vec<RawNode<MemStore>>,
    queue: VecDeque<Message>,
}

impl Cluster {
    fn new(size: u64) -> Self {
        let ids: Vec<NodeId> = (1..=size).map(NodeId::new).collect();
        let conf = ConfState::with_voters(ids.iter().copied());
        let nodes = ids
            .iter()
            .map(|&id| {
                let mut config = Config::new(id);
                config.inflight_msgs_max = 4096;
                let store = MemStore::new(SnapshotMeta {
                    last: EntryId::default(),
                    conf_state: conf.clone(),
                });
                RawNode::new(config, store, HardState::default(), Index::ZERO)
                    .expect("valid config")
            })
            .collect();
        let mut cluster = Cluster {
            nodes,
            queue: VecDeque::new(),
        };
        cluster.nodes[0].campaign();
        cluster.settle();
        cluster
    }

    /// Handles every Ready and delivers every message until quiet.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            for node in &mut self.nodes {
                if node.has_ready() {
                    let mut ready = node.ready();
                    if let Some(meta) = ready.snapshot.take() {
                        node.store_mut().apply_snapshot(meta);
                    }
                    node.store_mut().append(&ready.entries);
                    self.queue.extend(ready.messages.drain(..));
                    self.queue.extend(ready.persisted_messages.drain(..));
                    node.advance(ready);
                    moved = true;
                }
            }
            while let Some(m) = self.queue.pop_front() {
                let to = m.to.get() as usize - 1;
                self.nodes[to].step(m).expect("well-formed");
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    fn commit_batch(&mut self, payload: &Bytes) {
        let target = self.nodes[0].last_index().plus(BATCH as u64);
        for _ in 0..BATCH {
            self.nodes[0]
                .propose(payload.clone())
                .expect("leader accepts");
        }
        self.settle();
        assert!(
            self.nodes[0].commit_index() >= target,
            "batch did not commit"
        );
        let applied = self.nodes[0].applied_index();
        if applied.get() > 4096 {
            // Keep memory flat: compact every member's log.
            for node in &mut self.nodes {
                let at = node.applied_index();
                if let Ok(meta) = node.compact(at) {
                    node.store_mut().compact(meta);
                }
            }
        }
    }
}

fn commit_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in [64usize, 1024] {
        let payload = Bytes::from(vec![7u8; size]);
        for voters in [1u64, 3] {
            let mut cluster = Cluster::new(voters);
            let id = BenchmarkId::new(format!("{voters}-voter"), format!("{size}B"));
            group.bench_function(id, |b| b.iter(|| cluster.commit_batch(&payload)));
        }
    }
    group.finish();
}

criterion_group!(benches, commit_throughput);
criterion_main!(benches);
