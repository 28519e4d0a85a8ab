//! The raft-rs cluster: `raft::RawNode<MemStorage>` per member, driven the
//! way raft-rs's own examples drive it (Ready, persist, send, advance,
//! LightReady, advance_apply).

use crate::{Cluster, BATCH};
use raft::eraftpb::Message;
use raft::prelude::*;
use raft::storage::MemStorage;
use std::collections::VecDeque;

pub struct RaftRsCluster {
    nodes: Vec<RawNode<MemStorage>>,
    queue: VecDeque<Message>,
    /// Propose the whole batch as one MsgPropose (raft-rs's fastest path)
    /// instead of one `propose` call per entry.
    batched: bool,
}

impl RaftRsCluster {
    pub fn new(batched: bool) -> Self {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let nodes = (1..=3u64)
            .map(|id| {
                let config = raft::Config {
                    id,
                    election_tick: 10,
                    heartbeat_tick: 2,
                    max_size_per_msg: 1 << 20,
                    max_inflight_msgs: 4096,
                    ..Default::default()
                };
                let storage =
                    MemStorage::new_with_conf_state(ConfState::from((vec![1, 2, 3], vec![])));
                RawNode::new(&config, storage, &logger).expect("valid config")
            })
            .collect();
        let mut cluster = RaftRsCluster {
            nodes,
            queue: VecDeque::new(),
            batched,
        };
        cluster.nodes[0].campaign().expect("campaign");
        cluster.settle();
        cluster
    }

    fn settle(&mut self) {
        loop {
            let mut moved = false;
            for node in &mut self.nodes {
                if node.has_ready() {
                    handle_ready(node, &mut self.queue);
                    moved = true;
                }
            }
            while let Some(m) = self.queue.pop_front() {
                let to = m.to as usize - 1;
                self.nodes[to].step(m).expect("step");
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    fn compact(&mut self) {
        for node in &mut self.nodes {
            let applied = node.raft.raft_log.applied;
            let store = node.raft.raft_log.store.clone();
            let _ = store.wl().compact(applied);
        }
    }
}

fn handle_ready(node: &mut RawNode<MemStorage>, queue: &mut VecDeque<Message>) {
    let mut ready = node.ready();
    queue.extend(ready.take_messages());
    let store = node.raft.raft_log.store.clone();
    if !ready.snapshot().is_empty() {
        store
            .wl()
            .apply_snapshot(ready.snapshot().clone())
            .expect("snapshot");
    }
    if !ready.entries().is_empty() {
        store.wl().append(ready.entries()).expect("append");
    }
    if let Some(hs) = ready.hs() {
        store.wl().set_hardstate(hs.clone());
    }
    let _ = ready.take_committed_entries();
    queue.extend(ready.take_persisted_messages());
    let mut light = node.advance(ready);
    if let Some(commit) = light.commit_index() {
        store.wl().mut_hard_state().set_commit(commit);
    }
    queue.extend(light.take_messages());
    let _ = light.take_committed_entries();
    node.advance_apply();
}

impl Cluster for RaftRsCluster {
    fn commit_batch(&mut self, payload: &[u8]) {
        let target = self.nodes[0].raft.raft_log.last_index() + BATCH as u64;
        if self.batched {
            let mut m = Message::default();
            m.set_msg_type(MessageType::MsgPropose);
            m.from = 1;
            for _ in 0..BATCH {
                let mut entry = Entry::default();
                entry.data = payload.to_vec().into();
                m.mut_entries().push(entry);
            }
            self.nodes[0].step(m).expect("leader accepts");
        } else {
            for _ in 0..BATCH {
                self.nodes[0]
                    .propose(vec![], payload.to_vec())
                    .expect("leader accepts");
            }
        }
        self.settle();
        assert!(
            self.nodes[0].raft.raft_log.committed >= target,
            "batch did not commit"
        );
        if self.nodes[0].raft.raft_log.applied % 4096 < BATCH as u64 {
            self.compact();
        }
    }
}
