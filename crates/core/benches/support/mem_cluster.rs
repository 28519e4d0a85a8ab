//! An in-memory cluster of real `RawNode`s over `MemStore`, with messages
//! delivered synchronously: the protocol's own cost, no I/O. Shared by the
//! criterion benchmark (`benches/commit.rs`) and the side-by-side
//! comparison with raft-rs (`bench/compare`).

use bytes::Bytes;
use quorate_core::{
    ConfState, Config, EntryId, HardState, Index, LogStore, MemStore, Message, NodeId, RawNode,
    SnapshotMeta,
};
use std::collections::VecDeque;

/// Entries proposed per `commit_batch`.
pub const BATCH: usize = 64;

/// Entries a member keeps before its log is compacted, so memory stays flat.
const RETAINED_ENTRIES_MAX: u64 = 4096;

pub struct MemCluster {
    nodes: Vec<RawNode<MemStore>>,
    queue: VecDeque<Message>,
}

impl MemCluster {
    /// `voters` members with node 1 elected leader.
    pub fn new(voters: u64) -> Self {
        let ids: Vec<NodeId> = (1..=voters).map(NodeId::new).collect();
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
        let mut cluster = MemCluster {
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

    /// Proposes `BATCH` entries of `payload` on the leader and runs until
    /// the leader has committed them.
    pub fn commit_batch(&mut self, payload: &Bytes) {
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
        for node in &mut self.nodes {
            let held = node.store().first_index().distance_to(node.applied_index());
            if held > RETAINED_ENTRIES_MAX {
                let at = node.applied_index();
                if let Ok(meta) = node.compact(at) {
                    node.store_mut().compact(meta);
                }
            }
        }
    }
}
