//! A deterministic test network: every member is a `RawNode<MemStore>`,
//! messages queue until delivered, and Ready batches are handled exactly as
//! the runtime would (persist, send, apply, advance).

use crate::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub(crate) fn n(id: u64) -> NodeId {
    NodeId::new(id)
}

pub(crate) fn idx(i: u64) -> Index {
    Index::new(i)
}

pub(crate) struct Network {
    pub(crate) nodes: BTreeMap<NodeId, RawNode<MemStore>>,
    pub(crate) queue: VecDeque<Message>,
    /// Links (from, to) that drop every message.
    pub(crate) cut: BTreeSet<(NodeId, NodeId)>,
    pub(crate) applied: BTreeMap<NodeId, Vec<Entry>>,
    pub(crate) reads: BTreeMap<NodeId, Vec<ReadState>>,
    pub(crate) dropped_reads: BTreeMap<NodeId, Vec<u64>>,
    /// Every message ever sent, for assertions on traffic.
    pub(crate) sent: Vec<Message>,
}

impl Network {
    /// `count` voters 1..=count with default settings changed by `tune`.
    pub(crate) fn new(count: u64, tune: impl Fn(&mut Config)) -> Self {
        let voters: Vec<NodeId> = (1..=count).map(n).collect();
        let conf = ConfState::with_voters(voters.iter().copied());
        Self::with_members(&voters, &conf, tune)
    }

    /// Members `ids` all starting from configuration `conf` at index zero.
    pub(crate) fn with_members(
        ids: &[NodeId],
        conf: &ConfState,
        tune: impl Fn(&mut Config),
    ) -> Self {
        let mut net = Network {
            nodes: BTreeMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            applied: BTreeMap::new(),
            reads: BTreeMap::new(),
            dropped_reads: BTreeMap::new(),
            sent: Vec::new(),
        };
        for &id in ids {
            net.add_node(id, conf.clone(), &tune);
        }
        net
    }

    pub(crate) fn add_node(&mut self, id: NodeId, conf: ConfState, tune: impl Fn(&mut Config)) {
        let mut config = Config::new(id);
        tune(&mut config);
        let store = MemStore::new(SnapshotMeta {
            last: EntryId::default(),
            conf_state: conf,
        });
        let node =
            RawNode::new(config, store, HardState::default(), Index::ZERO).expect("valid config");
        self.nodes.insert(id, node);
    }

    pub(crate) fn node(&self, id: NodeId) -> &RawNode<MemStore> {
        &self.nodes[&id]
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut RawNode<MemStore> {
        self.nodes.get_mut(&id).expect("node exists")
    }

    /// Handles one Ready of `id`, if it has one. Returns true if it did.
    pub(crate) fn handle_ready(&mut self, id: NodeId) -> bool {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if !node.has_ready() {
            return false;
        }
        let mut ready = node.ready();
        if let Some(meta) = &ready.snapshot {
            node.store_mut().apply_snapshot(meta.clone());
        }
        node.store_mut().append(&ready.entries);
        let mut outgoing = std::mem::take(&mut ready.messages);
        outgoing.append(&mut ready.persisted_messages);
        self.applied
            .entry(id)
            .or_default()
            .extend(ready.committed_entries.iter().cloned());
        self.reads
            .entry(id)
            .or_default()
            .extend(ready.read_states.iter().copied());
        self.dropped_reads
            .entry(id)
            .or_default()
            .extend(ready.dropped_reads.iter().copied());
        node.advance(ready);
        for m in outgoing {
            self.sent.push(m.clone());
            self.queue.push_back(m);
        }
        true
    }

    /// Delivers one queued message (dropping it if its link is cut).
    pub(crate) fn deliver_one(&mut self) -> bool {
        let Some(m) = self.queue.pop_front() else {
            return false;
        };
        if self.cut.contains(&(m.from, m.to)) {
            return true;
        }
        if let Some(node) = self.nodes.get_mut(&m.to) {
            node.step(m).expect("well-formed message");
        }
        true
    }

    /// Handles Readys and delivers messages until nothing moves.
    pub(crate) fn stabilize(&mut self) {
        for _ in 0..100_000 {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            let mut moved = false;
            for id in ids {
                moved |= self.handle_ready(id);
            }
            while self.deliver_one() {
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("network did not stabilize");
    }

    pub(crate) fn tick(&mut self, id: NodeId, ticks: u32) {
        for _ in 0..ticks {
            self.node_mut(id).tick();
        }
    }

    /// Ticks every node `ticks` times, stabilizing after each tick.
    pub(crate) fn tick_all(&mut self, ticks: u32) {
        for _ in 0..ticks {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.node_mut(id).tick();
            }
            self.stabilize();
        }
    }

    /// Makes `id` campaign and runs the election to completion.
    pub(crate) fn elect(&mut self, id: NodeId) {
        self.node_mut(id).campaign();
        self.stabilize();
        assert_eq!(self.node(id).role(), Role::Leader, "{id} failed to win");
    }

    pub(crate) fn isolate(&mut self, id: NodeId) {
        let others: Vec<NodeId> = self.nodes.keys().copied().filter(|&o| o != id).collect();
        for other in others {
            self.cut.insert((id, other));
            self.cut.insert((other, id));
        }
    }

    pub(crate) fn cut_link(&mut self, a: NodeId, b: NodeId) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    pub(crate) fn heal(&mut self) {
        self.cut.clear();
    }

    pub(crate) fn propose(
        &mut self,
        id: NodeId,
        data: &'static [u8],
    ) -> Result<EntryId, ProposeError> {
        let result = self.node_mut(id).propose(bytes::Bytes::from_static(data));
        self.stabilize();
        result
    }

    /// Payloads applied on `id`, skipping empty no-op entries.
    pub(crate) fn applied_data(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.applied
            .get(&id)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e.kind == EntryKind::Normal && !e.data.is_empty())
                    .map(|e| e.data.to_vec())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn leaders(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, node)| node.role() == Role::Leader)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Messages sent so far of one kind.
    pub(crate) fn sent_kind(&self, kind: &str) -> Vec<&Message> {
        self.sent
            .iter()
            .filter(|m| m.body.kind_name() == kind)
            .collect()
    }
}
