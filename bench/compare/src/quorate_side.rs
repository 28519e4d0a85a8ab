//! The quorate-core cluster: `RawNode<MemStore>` per member.

use crate::{Cluster, BATCH};
use bytes::Bytes;
use quorate_core::{Config, ConfState, EntryId, HardState, Index, MemStore, Message, NodeId, RawNode, SnapshotMeta};
use std::collections::VecDeque;

pub struct QuorateCluster {
    nodes: Vec<RawNode<MemStore>>,
    queue: VecDeque<Message>,
}

impl QuorateCluster {
    pub fn new() -> Self {
        let ids: Vec<NodeId> = (1..=3).map(NodeId::new).collect();
        let conf = ConfState::with_voters(ids.iter().copied());
        let nodes = ids
            .iter()
            .map(|&id| {
                let mut config = Config::new(id);
                config.inflight_msgs_max = 4096;
                let store = MemStore::new(SnapshotMeta { last: EntryId::default(), conf_state: conf.clone() });
                RawNode::new(config, store, HardState::default(), Index::ZERO).expect("valid config")
            })
            .collect();
        let mut cluster = QuorateCluster { nodes, queue: VecDeque::new() };
        cluster.nodes[0].campaign();
        cluster.settle();
        cluster
    }

    fn settle(&mut self) {
        loop {
            let mut moved = false;
            for node in &mut self.nodes {
                if node.has_ready() {
                    let mut ready = node.ready();
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

    fn compact(&mut self) {
        for node in &mut self.nodes {
            let at = node.applied_index();
            if let Ok(meta) = node.compact(at) {
                node.store_mut().compact(meta);
            }
        }
    }
}

impl Cluster for QuorateCluster {
    fn commit_batch(&mut self, payload: &[u8]) {
        let target = self.nodes[0].last_index().plus(BATCH as u64);
        let data = Bytes::copy_from_slice(payload);
        for _ in 0..BATCH {
            self.nodes[0].propose(data.clone()).expect("leader accepts");
        }
        self.settle();
        assert!(self.nodes[0].commit_index() >= target, "batch did not commit");
        if self.nodes[0].applied_index().get() % 4096 < BATCH as u64 {
            self.compact();
        }
    }
}
