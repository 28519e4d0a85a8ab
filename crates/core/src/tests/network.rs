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
    /// Message kinds (`MessageBody::kind_name`) dropped on every link.
    pub(crate) blocked: BTreeSet<&'static str>,
    pub(crate) applied: BTreeMap<NodeId, Vec<Entry>>,
    pub(crate) reads: BTreeMap<NodeId, Vec<ReadState>>,
    pub(crate) dropped_reads: BTreeMap<NodeId, Vec<u64>>,
    /// The last hard state each node persisted, for restarts.
    pub(crate) hard_states: BTreeMap<NodeId, HardState>,
    /// Every message ever sent, for assertions on traffic.
    pub(crate) sent: Vec<Message>,
    /// When set, Ready handling and deliveries are written here.
    pub(crate) trace: Option<String>,
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
            blocked: BTreeSet::new(),
            applied: BTreeMap::new(),
            reads: BTreeMap::new(),
            dropped_reads: BTreeMap::new(),
            hard_states: BTreeMap::new(),
            sent: Vec::new(),
            trace: None,
        };
        for &id in ids {
            net.add_node(id, conf.clone(), &tune);
        }
        net
    }

    pub(crate) fn add_node(&mut self, id: NodeId, conf: ConfState, tune: impl Fn(&mut Config)) {
        self.add_node_with_log(id, conf, &[], HardState::default(), tune);
    }

    /// Adds (or replaces) member `id` restarting from a durable log that
    /// already holds `entries` and `hard_state`, as after a crash.
    pub(crate) fn add_node_with_log(
        &mut self,
        id: NodeId,
        conf: ConfState,
        entries: &[Entry],
        hard_state: HardState,
        tune: impl Fn(&mut Config),
    ) {
        let mut config = Config::new(id);
        tune(&mut config);
        let mut store = MemStore::new(SnapshotMeta {
            last: EntryId::default(),
            conf_state: conf,
        });
        store.append(entries);
        let node = RawNode::new(config, store, hard_state, Index::ZERO).expect("valid config");
        self.nodes.insert(id, node);
    }

    /// Restarts `id` from what it persisted (its store and last hard
    /// state), with its state machine at `applied`; `tune` sets the new
    /// start's settings (give it a fresh `seed`, as a real restart would).
    /// Messages in flight stay in flight.
    pub(crate) fn restart(&mut self, id: NodeId, applied: Index, tune: impl Fn(&mut Config)) {
        let node = self.nodes.remove(&id).expect("node exists");
        let store = node.into_store();
        let hard_state = self.hard_states.get(&id).copied().unwrap_or_default();
        let mut config = Config::new(id);
        tune(&mut config);
        let node = RawNode::new(config, store, hard_state, applied).expect("restarts");
        self.nodes.insert(id, node);
    }

    /// Lets every restarted member vote at once (see
    /// `RawNode::expire_restart_lease`).
    pub(crate) fn expire_restart_leases(&mut self) {
        for node in self.nodes.values_mut() {
            node.expire_restart_lease();
        }
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
        if let Some(trace) = &mut self.trace {
            trace.push_str(&format!("> {} handles Ready\n", id.get()));
            super::format::ready(trace, &ready);
        }
        if let Some(meta) = &ready.snapshot {
            node.store_mut().apply_snapshot(meta.clone());
        }
        node.store_mut().append(&ready.entries);
        if let Some(hard_state) = ready.hard_state {
            self.hard_states.insert(id, hard_state);
        }
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
        let dropped =
            self.cut.contains(&(m.from, m.to)) || self.blocked.contains(m.body.kind_name());
        if let Some(trace) = &mut self.trace {
            let verdict = if dropped { "drop" } else { "deliver" };
            trace.push_str(&format!("  {verdict}: {}\n", super::format::message(&m)));
        }
        if dropped {
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

    /// Handles Readys and delivers messages one at a time until `done`
    /// holds; panics if the network goes quiet first.
    pub(crate) fn run_until(&mut self, done: impl Fn(&Network) -> bool) {
        for _ in 0..100_000 {
            if done(self) {
                return;
            }
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            let handled = ids.into_iter().any(|id| self.handle_ready(id));
            if !handled && !self.deliver_one() {
                panic!("network went quiet before the condition held");
            }
        }
        panic!("condition never held");
    }

    /// Steps `m` into its recipient, handles the Ready it produces and
    /// returns the messages that Ready sent (they are not queued).
    pub(crate) fn step_collect(&mut self, m: Message) -> Vec<Message> {
        let to = m.to;
        self.node_mut(to).step(m).expect("well-formed message");
        let queued = self.queue.len();
        self.handle_ready(to);
        self.queue.split_off(queued).into()
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

    /// Cuts every link between a member of `a` and a member of `b`.
    pub(crate) fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        for &x in a {
            for &y in b {
                self.cut_link(x, y);
            }
        }
    }

    /// The index `id` was told to read at for `request`, if answered.
    pub(crate) fn read_answer(&self, id: NodeId, request: u64) -> Option<Index> {
        self.reads
            .get(&id)?
            .iter()
            .find(|r| r.request == request)
            .map(|r| r.index)
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

    /// AppendRequests sent so far to `to`.
    pub(crate) fn appends_to(&self, to: NodeId) -> Vec<&AppendRequest> {
        self.sent
            .iter()
            .filter(|m| m.to == to)
            .filter_map(|m| match &m.body {
                MessageBody::AppendRequest(req) => Some(req),
                _ => None,
            })
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

/// A log of normal entries from index 1 with the given terms, each carrying
/// its index as payload.
pub(crate) fn log_with_terms(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .zip(1u64..)
        .map(|(&term, index)| Entry {
            term: Term::new(term),
            index: idx(index),
            kind: EntryKind::Normal,
            data: bytes::Bytes::from(index.to_le_bytes().to_vec()),
        })
        .collect()
}

/// A durable hard state at `term` with no vote, committed through `commit`.
pub(crate) fn hard_state(term: u64, commit: u64) -> HardState {
    HardState {
        current_term: Term::new(term),
        voted_for: NodeId::NONE,
        commit_index: idx(commit),
    }
}

/// A message from `from` to `to` at `term`.
pub(crate) fn msg(from: u64, to: u64, term: u64, body: MessageBody) -> Message {
    Message {
        from: n(from),
        to: n(to),
        term: Term::new(term),
        body,
    }
}
