//! The public face of the core: inputs in, a `Ready` batch out.

use crate::bugs::PlantedBug;
use crate::config::Config;
use crate::error::{
    CompactError, ConfChangeError, ProposeError, ReadError, StartError, TransferError,
};
use crate::gateway;
pub use crate::gateway::StepError;
use crate::membership::{ConfChange, ConfState, SnapshotMeta};
use crate::message::Message;
use crate::progress::ProgressState;
use crate::raft::{Raft, ReadState, RoleState};
use crate::read::ReadMode;
use crate::storage::LogStore;
use crate::types::{Entry, EntryId, EntryKind, HardState, Index, NodeId, Role, Term};
use bytes::Bytes;

/// Volatile facts the runtime reacts to: who leads, what we are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SoftState {
    pub role: Role,
    pub leader: Option<NodeId>,
}

/// Everything the runtime must do after some inputs. Handle in this order:
/// send `messages` at once; persist `snapshot`, then `entries` (appending,
/// truncating any suffix they overwrite) and `hard_state` — with an fsync
/// when `must_sync`; then send `persisted_messages`; then hand
/// `committed_entries` to the state machine; then call
/// [`RawNode::advance`].
#[derive(Debug, Default)]
#[must_use = "a Ready must be handled and passed to advance"]
pub struct Ready {
    pub soft_state: Option<SoftState>,
    pub hard_state: Option<HardState>,
    /// A snapshot to install before `entries`.
    pub snapshot: Option<SnapshotMeta>,
    pub entries: Vec<Entry>,
    /// Messages that may leave before anything here is persisted.
    pub messages: Vec<Message>,
    /// Messages that may leave only after this Ready is persisted.
    pub persisted_messages: Vec<Message>,
    pub committed_entries: Vec<Entry>,
    pub read_states: Vec<ReadState>,
    /// Read requests that will never be answered (leadership changed).
    pub dropped_reads: Vec<u64>,
    /// Term, vote, entries or a snapshot changed: fsync before acknowledging.
    pub must_sync: bool,
}

impl Ready {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.soft_state.is_none()
            && self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.persisted_messages.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
            && self.dropped_reads.is_empty()
    }
}

/// What the leader knows of one member's replication.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PeerStatus {
    pub id: NodeId,
    pub match_index: Index,
    pub next_index: Index,
    pub state: ProgressState,
    /// Ticks since this member was last heard from.
    pub last_contact_ticks: u64,
}

/// A snapshot of one member's protocol state, for status pages and tests.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub term: Term,
    pub voted_for: NodeId,
    pub leader: Option<NodeId>,
    pub commit_index: Index,
    pub applied_index: Index,
    pub last_index: Index,
    pub first_index: Index,
    pub conf_state: ConfState,
    /// Present on the leader only.
    pub peers: Vec<PeerStatus>,
    pub transfer_target: Option<NodeId>,
    pub lease_valid: bool,
}

/// One member of one Raft group, driven by the runtime.
pub struct RawNode<S> {
    raft: Raft<S>,
    prev_hard_state: HardState,
    prev_soft_state: SoftState,
    /// A Ready was handed out and not yet advanced.
    ready_outstanding: bool,
}

impl<S: LogStore> RawNode<S> {
    /// Starts a member from its durable state: the `store`'s log and
    /// snapshot, the persisted `hard_state`, and the index the application
    /// has already `applied`. A new group starts from a store whose snapshot
    /// carries the initial configuration at index zero. The configuration in
    /// force is the snapshot's, changed by every committed configuration
    /// entry in the log, whatever `applied` is; reading those entries is
    /// the only way this can fail.
    pub fn new(
        config: Config,
        store: S,
        hard_state: HardState,
        applied: Index,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let mut raft = Raft::new(config, store, hard_state, applied);
        raft.restore_conf_from_log()?;
        let prev_soft_state = SoftState {
            role: Role::Follower,
            leader: None,
        };
        Ok(RawNode {
            prev_hard_state: raft.hard_state(),
            prev_soft_state,
            raft,
            ready_outstanding: false,
        })
    }

    /// Switches on a planted bug (simulator only).
    #[cfg(feature = "planted-bugs")]
    pub fn plant_bug(&mut self, bug: crate::bugs::PlantedBug) {
        self.raft.bugs.insert(bug);
        if bug == crate::bugs::PlantedBug::RestartOldMembership {
            // Forget what `new` took from the log: the snapshot's alone.
            self.raft.conf_history.truncate(1);
            self.raft.conf = self.raft.conf_history[0].1.clone();
        }
    }

    /// Lets a restarted member vote at once, as if an election timeout had
    /// passed since it started: for tests that build a cluster from logs.
    #[cfg(test)]
    pub(crate) fn expire_restart_lease(&mut self) {
        let election_ticks = u64::from(self.raft.config.election_ticks);
        self.raft.ticks_total = self.raft.ticks_total.max(election_ticks);
    }

    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        self.raft.tick();
        self.check();
    }

    /// Feeds a message from a peer. The gateway (see `gateway.rs`) checks
    /// every field first: a refused message changes nothing and comes back
    /// as a typed reason for the runtime to count and drop.
    pub fn step(&mut self, message: Message) -> Result<(), StepError> {
        if !self.raft.bug(PlantedBug::TrustPeerFields) {
            gateway::admit(&self.raft, &message)?;
        }
        self.raft.step(message);
        self.check();
        Ok(())
    }

    /// Proposes an application command; returns where it will land if it
    /// commits (it may still be overwritten if leadership is lost).
    pub fn propose(&mut self, data: Bytes) -> Result<EntryId, ProposeError> {
        let result = self.raft.propose(EntryKind::Normal, data);
        self.check();
        result
    }

    /// Proposes a membership change.
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<EntryId, ConfChangeError> {
        let result = self.raft.propose_conf_change(change);
        self.check();
        result
    }

    /// Starts a linearizable read identified by `request`.
    pub fn read_index(&mut self, request: u64, mode: ReadMode) -> Result<(), ReadError> {
        let result = self.raft.read_index(request, mode);
        self.check();
        result
    }

    /// Asks the leader to hand leadership to `target`.
    pub fn transfer_leadership(&mut self, target: NodeId) -> Result<(), TransferError> {
        let result = self.raft.transfer_leadership(target);
        self.check();
        result
    }

    /// Starts an election now (as if the election timer fired).
    pub fn campaign(&mut self) {
        self.raft.campaign(crate::election::Campaign::on_timeout(
            self.raft.config.pre_vote,
        ));
        self.check();
    }

    /// Metadata for a snapshot of the state machine at `index` (at most the
    /// applied index). Store it with the snapshot data, then drop entries
    /// through `index` from the `LogStore`.
    pub fn compact(&mut self, index: Index) -> Result<SnapshotMeta, CompactError> {
        self.raft.compaction_meta(index)
    }

    /// The runtime finished (or failed) streaming a snapshot to `peer`.
    pub fn report_snapshot(&mut self, peer: NodeId, delivered: bool) {
        let Some(pr) = self.raft.progress_mut(peer) else {
            return;
        };
        pr.snapshot_reported(delivered);
        self.check();
    }

    /// The transport could not reach `peer`: probe it instead of streaming.
    pub fn report_unreachable(&mut self, peer: NodeId) {
        let Some(pr) = self.raft.progress_mut(peer) else {
            return;
        };
        if pr.state == ProgressState::Replicate {
            pr.become_probe();
        }
    }

    /// True if `ready` would return something to do.
    pub fn has_ready(&self) -> bool {
        if self.ready_outstanding {
            return false;
        }
        let raft = &self.raft;
        raft.broadcast_pending
            || !raft.msgs.is_empty()
            || !raft.msgs_after_persist.is_empty()
            || !raft.log.unstable_entries().is_empty()
            || raft.log.unstable_snapshot().is_some()
            || raft.log.has_next_committed_entries()
            || !raft.read_states.is_empty()
            || !raft.dropped_reads.is_empty()
            || raft.hard_state() != self.prev_hard_state
            || self.soft_state() != self.prev_soft_state
    }

    /// Collects what the runtime must do. Call [`RawNode::advance`] before
    /// the next `ready`.
    pub fn ready(&mut self) -> Ready {
        assert!(!self.ready_outstanding, "ready called before advance");
        let raft = &mut self.raft;
        let committed_entries = raft.take_committed_entries();
        if raft.broadcast_pending {
            raft.broadcast_append();
        }
        let mut ready = Ready {
            committed_entries,
            snapshot: raft.log.unstable_snapshot().cloned(),
            entries: raft.log.unstable_entries().to_vec(),
            messages: std::mem::take(&mut raft.msgs),
            persisted_messages: std::mem::take(&mut raft.msgs_after_persist),
            read_states: std::mem::take(&mut raft.read_states),
            dropped_reads: std::mem::take(&mut raft.dropped_reads),
            ..Ready::default()
        };
        let hard_state = raft.hard_state();
        if hard_state != self.prev_hard_state {
            ready.must_sync = hard_state.current_term != self.prev_hard_state.current_term
                || hard_state.voted_for != self.prev_hard_state.voted_for;
            ready.hard_state = Some(hard_state);
            self.prev_hard_state = hard_state;
        }
        ready.must_sync |= ready.snapshot.is_some() || !ready.entries.is_empty();
        if !ready.must_sync {
            let held = std::mem::take(&mut ready.persisted_messages);
            ready.messages.extend(held);
        }
        let soft_state = self.soft_state();
        if soft_state != self.prev_soft_state {
            ready.soft_state = Some(soft_state);
            self.prev_soft_state = soft_state;
        }
        self.ready_outstanding = true;
        self.check();
        ready
    }

    /// Acknowledges that `ready` was handled: its state is durable, its
    /// messages sent, its committed entries taken by the application.
    pub fn advance(&mut self, ready: Ready) {
        assert!(self.ready_outstanding, "advance without ready");
        self.ready_outstanding = false;
        let raft = &mut self.raft;
        if let Some(meta) = &ready.snapshot {
            raft.log.stable_snapshot(meta);
        }
        raft.log.stable_entries(&ready.entries);
        let (id, stable_last) = (raft.id, raft.log.stable_last_index());
        if let Some(pr) = raft
            .leader_state_mut()
            .and_then(|ls| ls.progress.get_mut(&id))
        {
            // The leader counts itself only once its own entries are durable.
            pr.maybe_update(stable_last);
            if raft.maybe_commit() {
                raft.broadcast_pending = true;
            }
        }
        self.check();
    }

    /// Stops the member and returns its store (a crash or shutdown: whatever
    /// was not persisted is gone).
    pub fn into_store(self) -> S {
        self.raft.log.into_store()
    }

    /// The store, for reads.
    pub fn store(&self) -> &S {
        self.raft.log.store()
    }

    /// The store, for the runtime to append, install and compact.
    pub fn store_mut(&mut self) -> &mut S {
        self.raft.log.store_mut()
    }

    pub fn id(&self) -> NodeId {
        self.raft.id
    }

    pub fn role(&self) -> Role {
        self.raft.role()
    }

    pub fn term(&self) -> Term {
        self.raft.term
    }

    pub fn leader(&self) -> Option<NodeId> {
        (!self.raft.leader.is_none()).then_some(self.raft.leader)
    }

    pub fn commit_index(&self) -> Index {
        self.raft.log.commit_index()
    }

    pub fn applied_index(&self) -> Index {
        self.raft.log.applied_index()
    }

    pub fn last_index(&self) -> Index {
        self.raft.log.last_index()
    }

    /// The term of the entry at `index`, if the log still holds it
    /// (persisted or not).
    pub fn term_at(&self, index: Index) -> Option<Term> {
        self.raft.log.term(index).ok()
    }

    /// The configuration in force (see [`RawNode::new`]).
    pub fn conf_state(&self) -> &ConfState {
        &self.raft.conf
    }

    /// True while this node leads and its lease makes lease reads safe.
    pub fn lease_valid(&self) -> bool {
        let raft = &self.raft;
        raft.config.check_quorum
            && raft
                .leader_state()
                .is_some_and(|ls| ls.lease_valid(raft.ticks_total))
    }

    /// Full status; peers are listed only on the leader.
    pub fn status(&self) -> Status {
        let raft = &self.raft;
        let (peers, transfer_target, lease_valid) = match &raft.role {
            RoleState::Leader(ls) => (
                ls.progress
                    .iter()
                    .map(|(&id, pr)| PeerStatus {
                        id,
                        match_index: pr.match_index,
                        next_index: pr.next_index,
                        state: pr.state,
                        last_contact_ticks: raft.ticks_total.saturating_sub(pr.last_contact_tick),
                    })
                    .collect(),
                ls.transfer.map(|t| t.target),
                self.lease_valid(),
            ),
            _ => (Vec::new(), None, false),
        };
        Status {
            id: raft.id,
            role: raft.role(),
            term: raft.term,
            voted_for: raft.voted_for,
            leader: self.leader(),
            commit_index: raft.log.commit_index(),
            applied_index: raft.log.applied_index(),
            last_index: raft.log.last_index(),
            first_index: raft.log.first_index(),
            conf_state: raft.conf.clone(),
            peers,
            transfer_target,
            lease_valid,
        }
    }

    fn soft_state(&self) -> SoftState {
        SoftState {
            role: self.raft.role(),
            leader: self.leader(),
        }
    }

    fn check(&self) {
        if cfg!(any(debug_assertions, feature = "planted-bugs")) {
            self.raft.check_invariants();
        }
    }
}
